/**
 * RFC 6749 (token endpoint, client authentication, client_credentials) and RFC 8707 (resource
 * indicators), black-box over real HTTP against `keyhole serve`; plus hostile and malformed input on
 * every POST endpoint (/token, /introspect, /revoke). Introspection and revocation semantics live in
 * the rfc7662 / rfc7009 suites; here they appear only as a way to read a token's scope and audience,
 * and as targets for bad input.
 *
 * Checklist items NOT tested here, and why:
 * - O-03, O-04, O-05 (the "TLS is required" parts), B-14: Keyhole terminates no TLS in this version
 *   (docs/architecture.md: TLS is terminated in front of it); the http-issuer warning is tested in
 *   rfc8414-metadata.test.ts (M-01).
 * - O-08 "a public client gets unauthorized_client": Keyhole has no public clients; the config
 *   refuses a client without a secret (rfc8414-metadata.test.ts, configuration errors). What is
 *   tested instead: a client not registered for client_credentials, and a resource, both get
 *   unauthorized_client.
 * - O-11 (refresh_token grant) and X-06 (resource on refresh / authorization_code): not implemented;
 *   `grant_type=refresh_token` is tested to be unsupported_grant_type.
 * - O-12: a resource-server rule (packages/resource-server). O-09 "clients ignore unknown members"
 *   is a client rule.
 * - O-13 is mostly code review (tokens/token-format.ts: 43 base62 characters from the CSPRNG = 256
 *   bits); tested here only as the visible token shape and uniqueness.
 * - private_key_jwt (checklist §8): rfc7523-private-key-jwt.test.ts. Here: an assertion next to
 *   another method is invalid_request, and an unsigned one for a client with a secret is refused.
 *   client_secret_jwt is not supported (HS256 assertions are refused).
 * - X-07 / X-08: multi-tenant audience checks are on the resource-server side; X-08 has no keyword.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, afterEach, before, describe, test } from 'node:test'
import { basicAuthorization } from '@keyhole/protocol'
import { assertError } from './support/assertions.ts'
import {
  BILLING_AUD,
  type Caller,
  encodeForm,
  fixtureConfig,
  get,
  getToken,
  type HttpResult,
  introspect,
  ORDERS,
  ORDERS_AUD,
  OTHER,
  post,
  type RunningServer,
  SHOP,
  startServer,
} from './support/harness.ts'

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

type Form = Record<string, string | readonly string[]>

/** checklist §16: client_secret_basic vector (openid/AppAuth-Android#337). */
const VECTOR_ID = '1PpG/Q 1'
const VECTOR_SECRET = 'z/tZ9VwFZqApmIQ+ZH1I5pLk/uB4ud:X2/8bL+wfFTt1rFw='
const VECTOR_HEADER =
  'Basic MVBwRyUyRlErMTp6JTJGdFo5VndGWnFBcG1JUSUyQlpIMUk1cExrJTJGdUI0dWQlM0FYMiUyRjhiTCUyQndmRlR0MXJGdyUzRA=='
const VECTOR_CLIENT = { id: VECTOR_ID, secret: VECTOR_SECRET, scopes: ['orders:read'] }

const DEFAULT_BODY_LIMIT = 16_384
// RFC 6749 §5.2: error and error_description are limited to %x20-21 / %x23-5B / %x5D-7E.
const ERROR_TEXT = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/

/** The fixture plus the §16 vector client and a client that may not use client_credentials. */
function suiteConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const clients = fixtureConfig().clients as readonly object[]
  return fixtureConfig({
    clients: [
      ...clients,
      VECTOR_CLIENT,
      { id: 'no-grant', secret: 'no-grant-secret', grantTypes: [], scopes: ['orders:read'] },
    ],
    ...overrides,
  })
}

/** `Basic base64(id ":" secret)` without form-encoding (the raw form many clients send, P-09). */
function rawBasic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')}`
}

function basicOf(bytes: string | Uint8Array): string {
  return `Basic ${Buffer.from(bytes).toString('base64')}`
}

/** Assert an RFC 6749 §5.2 error answer and return its body. */
function expectError(res: HttpResult, status: number, error: string): Record<string, unknown> {
  const body = assertError(res, status, error)
  assert.match(String(body.error), ERROR_TEXT)
  if (body.error_description !== undefined) {
    assert.equal(typeof body.error_description, 'string')
    assert.match(body.error_description as string, ERROR_TEXT)
  }
  assert.equal(body.access_token, undefined)
  return body
}

function expectInvalidClient(res: HttpResult): void {
  expectError(res, 401, 'invalid_client')
  const challenge = res.headers.get('www-authenticate') ?? ''
  assert.match(challenge, /^Basic realm="[^"]*"/, `WWW-Authenticate: ${challenge}`)
}

interface TokenBody {
  access_token: string
  token_type: string
  expires_in: number
  scope: string
  refresh_token?: string
}

function tokenRequest(server: RunningServer, form: Form, caller: Caller = SHOP) {
  return post(`${server.issuer}/token`, {
    basic: caller,
    form: { grant_type: 'client_credentials', ...form },
  })
}

function expectToken(res: HttpResult): TokenBody {
  assert.equal(res.status, 200, res.text)
  return res.json<TokenBody>()
}

function scopesOf(value: unknown): string[] {
  return String(value).split(' ').sort()
}

/** What the token's own client sees: its scope and audience in full. */
async function inspect(server: RunningServer, token: string, caller: Caller = SHOP) {
  const res = await introspect(server, token, caller)
  assert.equal(res.status, 200, res.text)
  return res.json<{ active: boolean; scope?: string; aud?: string[] }>()
}

/** A normal request must still work after each hostile one. */
async function assertServing(server: RunningServer): Promise<void> {
  const res = await tokenRequest(server, {})
  assert.equal(res.status, 200, `the server stopped serving: ${res.status} ${res.text}`)
}

// --- raw HTTP: exact bytes, repeated headers, no Content-Length, broken framing -----------------

interface RawRequest {
  readonly method?: string
  readonly path: string
  readonly headers?: readonly (readonly [string, string])[]
  readonly body?: string | Uint8Array
  /** Send the body with Transfer-Encoding: chunked in chunks of this size, without Content-Length. */
  readonly chunkSize?: number
}

function buildRequest(server: RunningServer, r: RawRequest): Buffer {
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body)
  const lines = [
    `${r.method ?? 'POST'} ${r.path} HTTP/1.1`,
    `Host: ${new URL(server.url).host}`,
    'Connection: close',
  ]
  for (const [name, value] of r.headers ?? []) lines.push(`${name}: ${value}`)
  let payload: Buffer = body
  if (r.chunkSize !== undefined) {
    lines.push('Transfer-Encoding: chunked')
    const parts: Buffer[] = []
    for (let i = 0; i < body.length; i += r.chunkSize) {
      const chunk = body.subarray(i, i + r.chunkSize)
      parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'))
    }
    parts.push(Buffer.from('0\r\n\r\n'))
    payload = Buffer.concat(parts)
  } else {
    lines.push(`Content-Length: ${body.length}`)
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload])
}

/** Whether `raw` holds a whole answer framed by Content-Length or chunked encoding. */
function isComplete(raw: Buffer): boolean {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) return false
  const head = raw.subarray(0, end).toString('latin1')
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)
  if (length !== null) return raw.length >= end + 4 + Number(length[1])
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    const body = raw.subarray(end + 4)
    return body.subarray(0, 5).toString() === '0\r\n\r\n' || body.includes('\r\n0\r\n\r\n')
  }
  return false
}

function parseResponse(raw: Buffer): HttpResult {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) throw new Error(`no HTTP answer (got ${raw.length} bytes)`)
  const [statusLine = '', ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  if (status === null) throw new Error(`bad status line: ${statusLine}`)
  const headers = new Headers()
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  let body = raw.subarray(end + 4)
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = []
    let at = 0
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at)
      const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16)
      if (!(size > 0)) break
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
      at = lineEnd + 2 + size + 2
    }
    body = Buffer.concat(parts)
  } else if (headers.has('content-length')) {
    body = body.subarray(0, Number(headers.get('content-length')))
  }
  const text = body.toString('utf8')
  return { status: Number(status[1]), headers, text, json: <T>() => JSON.parse(text) as T }
}

/** Write `data` on a fresh connection and read the answer until the server closes it. */
function rawExchange(
  server: RunningServer,
  data: string | Uint8Array,
  options: { readonly halfClose?: boolean } = {},
): Promise<HttpResult> {
  const { hostname, port } = new URL(server.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error('the server neither answered nor closed the connection within 5 s'))
    }, 5_000)
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      try {
        resolve(parseResponse(Buffer.concat(chunks)))
      } catch (err) {
        reject(err)
      }
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      // Keep-alive answers (e.g. Node's own 400 for a missing Host) end when they are complete.
      if (isComplete(Buffer.concat(chunks))) finish()
    })
    // A reset after the answer (the server closing while we still write) is fine; 'close' follows.
    socket.on('error', () => {})
    socket.on('close', finish)
    socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)
    if (options.halfClose === true) socket.end()
  })
}

function raw(server: RunningServer, request: RawRequest): Promise<HttpResult> {
  return rawExchange(server, buildRequest(server, request))
}

// --- the three POST endpoints, each with a request it answers 200 ------------------------------

interface PostEndpoint {
  readonly path: '/token' | '/introspect' | '/revoke'
  readonly caller: Caller
  readonly form: Record<string, string>
  /** A parameter that must not repeat. */
  readonly single: string
  /** The parameter a huge value goes into (an unknown one at /token: it is ignored). */
  readonly bulky: string
}

const POST_ENDPOINTS: readonly PostEndpoint[] = [
  {
    path: '/token',
    caller: SHOP,
    form: { grant_type: 'client_credentials' },
    single: 'grant_type',
    bulky: 'padding',
  },
  {
    path: '/introspect',
    caller: ORDERS,
    form: { token: 'kh_at_unknown' },
    single: 'token',
    bulky: 'token',
  },
  {
    path: '/revoke',
    caller: SHOP,
    form: { token: 'kh_at_unknown' },
    single: 'token',
    bulky: 'token',
  },
]

/** A valid form for `ep` whose encoded length is exactly `bytes`. */
function formOfLength(ep: PostEndpoint, bytes: number): string {
  const rest = Object.entries(ep.form).filter(([name]) => name !== ep.bulky)
  const head = encodeForm(Object.fromEntries(rest))
  const prefix = `${head === '' ? '' : `${head}&`}${ep.bulky}=${ep.form[ep.bulky] ?? ''}`
  const body = prefix + 'A'.repeat(bytes - prefix.length)
  assert.equal(Buffer.byteLength(body), bytes)
  return body
}

function postTo(server: RunningServer, ep: PostEndpoint, body: string | Uint8Array) {
  return post(`${server.issuer}${ep.path}`, { basic: ep.caller, body })
}

// ---------------------------------------------------------------------------------------------
// token endpoint, client authentication, client_credentials, resource indicators
// ---------------------------------------------------------------------------------------------

// One server for the first three groups; the throttling group has its own.
let server: RunningServer
before(async () => {
  server = await startServer(
    suiteConfig({
      // Many tests fail authentication on purpose; throttling is tested on its own server below.
      throttle: {
        failedAuth: { limit: 100_000, windowSeconds: 1 },
        inactiveIntrospection: { limit: 100_000, windowSeconds: 1 },
      },
    }),
  )
})
after(() => server.stop())

describe('RFC 6749 / RFC 8707 token endpoint and client authentication', () => {
  // --- client_secret_basic --------------------------------------------------------------------

  test('O-02 P-09 client_secret_basic accepts the §16 vector: form-encoded id and secret, split on the first ":"', async () => {
    const res = await post(`${server.issuer}/token`, {
      headers: { authorization: VECTOR_HEADER },
      form: { grant_type: 'client_credentials' },
    })
    const body = expectToken(res)
    assert.equal(body.scope, 'orders:read')
    // The token belongs to the client whose id has a space and whose secret has ":" "+" "/" "=".
    const seen = await inspect(server, body.access_token, [VECTOR_ID, VECTOR_SECRET])
    assert.equal(seen.active, true)
  })

  test('O-02 the @keyhole/protocol encoder used by the harness produces exactly the §16 header', () => {
    assert.equal(basicAuthorization(VECTOR_ID, VECTOR_SECRET), VECTOR_HEADER)
  })

  test('O-02 Q-06 client_secret_basic with raw (not form-encoded) values is tolerated by default', async () => {
    const res = await post(`${server.issuer}/token`, {
      headers: { authorization: rawBasic(VECTOR_ID, VECTOR_SECRET) },
      form: { grant_type: 'client_credentials' },
    })
    expectToken(res)
  })

  test('O-02 the Basic scheme name is case-insensitive (RFC 9110 §11.1)', async () => {
    const header = VECTOR_HEADER.replace(/^Basic/, 'bAsIc')
    const res = await post(`${server.issuer}/token`, {
      headers: { authorization: header },
      form: { grant_type: 'client_credentials' },
    })
    expectToken(res)
  })

  test('O-02 O-10 a wrong secret over Basic gets 401 invalid_client with a Basic challenge', async () => {
    expectInvalidClient(await tokenRequest(server, {}, ['shop', 'not-the-secret']))
    // The §16 client with its secret decoded wrongly ("+" left as is, ":" split in the wrong place).
    const wrongSplit = basicOf(`${VECTOR_ID}:z/tZ9VwFZqApmIQ+ZH1I5pLk/uB4ud`)
    expectInvalidClient(
      await post(`${server.issuer}/token`, {
        headers: { authorization: wrongSplit },
        form: { grant_type: 'client_credentials' },
      }),
    )
  })

  test('O-10 an unknown client and a wrong secret get the same answer (no client enumeration)', async () => {
    const unknown = await tokenRequest(server, {}, ['nobody', 'shop-secret'])
    const wrong = await tokenRequest(server, {}, ['shop', 'nobody'])
    expectInvalidClient(unknown)
    expectInvalidClient(wrong)
    assert.equal(unknown.text, wrong.text)
    assert.equal(unknown.headers.get('www-authenticate'), wrong.headers.get('www-authenticate'))
  })

  test('O-02 a client_id in the body that names another client than the Basic header gets invalid_client', async () => {
    const mismatch = await tokenRequest(server, { client_id: 'other' }, SHOP)
    expectInvalidClient(mismatch)
    // The same client_id as the header is fine.
    expectToken(await tokenRequest(server, { client_id: 'shop' }, SHOP))
  })

  // --- client_secret_post ---------------------------------------------------------------------

  test('O-03 client_secret_post (client_id + client_secret in the body) is accepted', async () => {
    const res = await post(`${server.issuer}/token`, {
      form: { grant_type: 'client_credentials', client_id: 'shop', client_secret: 'shop-secret' },
    })
    expectToken(res)
    const vector = await post(`${server.issuer}/token`, {
      form: {
        grant_type: 'client_credentials',
        client_id: VECTOR_ID,
        client_secret: VECTOR_SECRET,
      },
    })
    expectToken(vector)
  })

  test('O-03 O-10 a wrong client_secret in the body gets 401 invalid_client', async () => {
    const res = await post(`${server.issuer}/token`, {
      form: { grant_type: 'client_credentials', client_id: 'shop', client_secret: 'wrong' },
    })
    expectInvalidClient(res)
    const noId = await post(`${server.issuer}/token`, {
      form: { grant_type: 'client_credentials', client_secret: 'shop-secret' },
    })
    expectInvalidClient(noId)
  })

  test('O-03 client credentials in the query string get 400 invalid_request and are not accepted as authentication', async () => {
    const res = await post(`${server.issuer}/token?client_id=shop&client_secret=shop-secret`, {
      form: { grant_type: 'client_credentials' },
    })
    expectError(res, 400, 'invalid_request')
    // Even alongside valid Basic credentials.
    const withBasic = await post(`${server.issuer}/token?client_secret=shop-secret`, {
      basic: SHOP,
      form: { grant_type: 'client_credentials' },
    })
    expectError(withBasic, 400, 'invalid_request')
  })

  // --- one method per request -----------------------------------------------------------------

  test('O-01 Basic and client_secret in the body together get 400 invalid_request', async () => {
    const res = await tokenRequest(server, { client_id: 'shop', client_secret: 'shop-secret' })
    expectError(res, 400, 'invalid_request')
  })

  test('O-01 a client assertion next to Basic or client_secret_post gets 400 invalid_request', async () => {
    const assertion = {
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJzaG9wIn0.',
    }
    expectError(await tokenRequest(server, assertion), 400, 'invalid_request')
    const withPost = await post(`${server.issuer}/token`, {
      form: {
        grant_type: 'client_credentials',
        client_id: 'shop',
        client_secret: 'shop-secret',
        ...assertion,
      },
    })
    expectError(withPost, 400, 'invalid_request')
  })

  test('O-01 an unsigned client assertion for a client with a secret gets 401 invalid_client', async () => {
    const res = await post(`${server.issuer}/token`, {
      form: {
        grant_type: 'client_credentials',
        client_id: 'shop',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJzaG9wIn0.',
      },
    })
    expectInvalidClient(res)
  })

  test('O-05 O-01 an empty client_secret counts as omitted, so Basic plus "client_secret=" is one method', async () => {
    expectToken(await tokenRequest(server, { client_secret: '' }))
  })

  // --- authentication is required -------------------------------------------------------------

  test('O-06 O-08 a request without client authentication gets 401 invalid_client', async () => {
    const res = await post(`${server.issuer}/token`, { form: { grant_type: 'client_credentials' } })
    expectInvalidClient(res)
    const idOnly = await post(`${server.issuer}/token`, {
      form: { grant_type: 'client_credentials', client_id: 'shop' },
    })
    expectInvalidClient(idOnly)
  })

  test('O-06 a Bearer token is not client authentication at the token endpoint: 401 invalid_client', async () => {
    const token = await getToken(server)
    const res = await post(`${server.issuer}/token`, {
      headers: { authorization: `Bearer ${token}` },
      form: { grant_type: 'client_credentials' },
    })
    expectInvalidClient(res)
  })

  test('J-02 a resource’s credentials at the token endpoint get 400 unauthorized_client', async () => {
    expectError(await tokenRequest(server, {}, ORDERS), 400, 'unauthorized_client')
  })

  test('O-08 a client not registered for client_credentials gets 400 unauthorized_client', async () => {
    expectError(
      await tokenRequest(server, {}, ['no-grant', 'no-grant-secret']),
      400,
      'unauthorized_client',
    )
  })

  // --- grant_type -----------------------------------------------------------------------------

  test('O-10 a missing grant_type gets 400 invalid_request', async () => {
    const res = await post(`${server.issuer}/token`, { basic: SHOP, form: {} })
    expectError(res, 400, 'invalid_request')
  })

  test('O-05 O-10 an empty grant_type counts as omitted: 400 invalid_request', async () => {
    const res = await post(`${server.issuer}/token`, { basic: SHOP, form: { grant_type: '' } })
    expectError(res, 400, 'invalid_request')
  })

  test('O-10 O-11 grant types other than client_credentials get 400 unsupported_grant_type', async () => {
    for (const grantType of [
      'refresh_token',
      'authorization_code',
      'password',
      'urn:ietf:params:oauth:grant-type:jwt-bearer',
      'CLIENT_CREDENTIALS',
      'client_credentials ',
    ]) {
      const res = await post(`${server.issuer}/token`, {
        basic: SHOP,
        form: { grant_type: grantType, refresh_token: 'kh_rt_x', code: 'x' },
      })
      expectError(res, 400, 'unsupported_grant_type')
    }
  })

  // --- the success response -------------------------------------------------------------------

  test('O-09 O-08 success is 200 JSON with access_token, token_type Bearer, expires_in and scope, and no refresh_token', async () => {
    const res = await tokenRequest(server, {})
    assert.equal(res.status, 200, res.text)
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/)
    const body = res.json<TokenBody>()
    assert.equal(typeof body.access_token, 'string')
    assert.match(body.access_token, /^kh_at_/)
    assert.equal(body.token_type.toLowerCase(), 'bearer')
    assert.equal(body.expires_in, 300) // the fixture's accessTokenTtl for "shop"
    assert.equal(typeof body.scope, 'string')
    assert.equal('refresh_token' in body, false)
  })

  test('O-09 token responses carry Cache-Control: no-store and Pragma: no-cache', async () => {
    const res = await tokenRequest(server, {})
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('pragma'), 'no-cache')
    const error = await tokenRequest(server, { scope: 'nope' })
    assert.equal(error.status, 400)
    assert.equal(error.headers.get('cache-control'), 'no-store')
    assert.equal(error.headers.get('pragma'), 'no-cache')
  })

  test('O-09 expires_in is the client’s configured lifetime (default 600 s)', async () => {
    assert.equal(expectToken(await tokenRequest(server, {}, OTHER)).expires_in, 600)
    assert.equal(
      expectToken(await tokenRequest(server, {}, ['short', 'short-secret'])).expires_in,
      1,
    )
  })

  test('O-13 access tokens are kh_at_ plus 49 base62 characters and never repeat', async () => {
    const tokens = new Set<string>()
    for (let i = 0; i < 20; i++) {
      const token = await getToken(server)
      assert.match(token, /^kh_at_[0-9A-Za-z]{49}$/)
      tokens.add(token)
    }
    assert.equal(tokens.size, 20)
  })

  // --- scope ----------------------------------------------------------------------------------

  test('O-07 without scope the client gets every scope it is allowed, and the response says so', async () => {
    const body = expectToken(await tokenRequest(server, {}))
    assert.deepEqual(scopesOf(body.scope), ['billing:read', 'orders:read', 'orders:write'])
    const seen = await inspect(server, body.access_token)
    assert.deepEqual(scopesOf(seen.scope), ['billing:read', 'orders:read', 'orders:write'])
  })

  test('O-07 O-05 an empty scope parameter counts as omitted: the default scope is granted', async () => {
    const body = expectToken(await tokenRequest(server, { scope: '' }, OTHER))
    assert.equal(body.scope, 'orders:read')
  })

  test('O-07 a requested scope is granted exactly, and a repeated scope-token once', async () => {
    const body = expectToken(await tokenRequest(server, { scope: 'orders:read' }))
    assert.equal(body.scope, 'orders:read')
    const seen = await inspect(server, body.access_token)
    assert.equal(seen.scope, 'orders:read')
    const twice = expectToken(await tokenRequest(server, { scope: 'orders:read orders:read' }))
    assert.equal(twice.scope, 'orders:read')
  })

  test('O-07 a scope the client is not allowed, or that no resource owns, gets 400 invalid_scope', async () => {
    expectError(await tokenRequest(server, { scope: 'orders:write' }, OTHER), 400, 'invalid_scope')
    expectError(await tokenRequest(server, { scope: 'billing:read' }, OTHER), 400, 'invalid_scope')
    expectError(await tokenRequest(server, { scope: 'nope:read' }), 400, 'invalid_scope')
    // Scope values are case-sensitive (RFC 6749 §3.3).
    expectError(await tokenRequest(server, { scope: 'ORDERS:READ' }), 400, 'invalid_scope')
    // One bad scope spoils the request; nothing is granted partially.
    expectError(
      await tokenRequest(server, { scope: 'orders:read nope:read' }),
      400,
      'invalid_scope',
    )
  })

  test('O-07 a scope outside the RFC 6749 §3.3 syntax gets 400 invalid_scope', async () => {
    for (const scope of [
      'orders:"read"',
      'orders\\read',
      'ordérs:read',
      'orders:read\x00',
      '   ',
    ]) {
      expectError(await tokenRequest(server, { scope }), 400, 'invalid_scope')
    }
  })

  test('O-05 a repeated scope parameter gets 400 invalid_request', async () => {
    const res = await tokenRequest(server, { scope: ['orders:read', 'billing:read'] })
    expectError(res, 400, 'invalid_request')
  })

  test('O-05 unknown parameters are ignored', async () => {
    const body = expectToken(
      await tokenRequest(server, { foo: 'bar', audience: 'https://elsewhere', nonce: '1' }),
    )
    assert.match(body.access_token, /^kh_at_/)
  })

  test('O-05 the token endpoint accepts POST only: other methods get 405 with Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const res = await raw(server, { method, path: '/token', body: '' })
      expectError(res, 405, 'invalid_request')
      assert.equal(res.headers.get('allow'), 'POST')
    }
  })

  test('O-05 the published token endpoint is an absolute URL without a fragment that answers POST', async () => {
    const res = await get(`${server.url}/.well-known/oauth-authorization-server`)
    const endpoint = String(res.json().token_endpoint)
    const url = new URL(endpoint)
    assert.equal(url.hash, '')
    assert.equal(endpoint.includes('#'), false)
    const token = await post(endpoint, { basic: SHOP, form: { grant_type: 'client_credentials' } })
    expectToken(token)
  })

  // --- RFC 8707 resource indicators -----------------------------------------------------------

  test('X-01 X-04 a resource that is not an absolute URI, or has a fragment, gets 400 invalid_target', async () => {
    for (const resource of [
      'orders',
      'orders.example.test',
      '/orders',
      '//orders.example.test',
      `${ORDERS_AUD}#f`,
      `${ORDERS_AUD}#`,
      `${ORDERS_AUD}/ x`,
    ]) {
      expectError(await tokenRequest(server, { resource }), 400, 'invalid_target')
    }
  })

  test('X-04 P-19 an unknown resource gets 400 invalid_target; registered URIs match exactly', async () => {
    for (const resource of [
      'https://unknown.example.test',
      `${ORDERS_AUD}/`,
      'https://ORDERS.example.test',
      `${ORDERS_AUD}?tenant=a`,
    ]) {
      expectError(await tokenRequest(server, { resource }), 400, 'invalid_target')
    }
  })

  test('X-03 with resource=R the token’s audience is exactly R and its scope is narrowed to R’s scopes', async () => {
    const body = expectToken(await tokenRequest(server, { resource: ORDERS_AUD }))
    assert.deepEqual(scopesOf(body.scope), ['orders:read', 'orders:write'])
    const seen = await inspect(server, body.access_token)
    assert.deepEqual(seen.aud, [ORDERS_AUD])
    // The other resource does not see it as active.
    const billing = await introspect(server, body.access_token, ['billing', 'billing-secret'])
    assert.deepEqual(billing.json(), { active: false })
  })

  test('X-02 X-03 several resource parameters give a token for all of them', async () => {
    const body = expectToken(await tokenRequest(server, { resource: [ORDERS_AUD, BILLING_AUD] }))
    assert.deepEqual(scopesOf(body.scope), ['billing:read', 'orders:read', 'orders:write'])
    const seen = await inspect(server, body.access_token)
    assert.deepEqual([...(seen.aud ?? [])].sort(), [BILLING_AUD, ORDERS_AUD])
    // The same resource twice is one audience.
    const twice = expectToken(await tokenRequest(server, { resource: [ORDERS_AUD, ORDERS_AUD] }))
    assert.deepEqual((await inspect(server, twice.access_token)).aud, [ORDERS_AUD])
  })

  test('X-05 without resource the audience is the resources that own the granted scopes', async () => {
    const narrow = expectToken(await tokenRequest(server, { scope: 'billing:read' }))
    assert.deepEqual((await inspect(server, narrow.access_token)).aud, [BILLING_AUD])
    const wide = expectToken(await tokenRequest(server, {}))
    assert.deepEqual([...((await inspect(server, wide.access_token)).aud ?? [])].sort(), [
      BILLING_AUD,
      ORDERS_AUD,
    ])
  })

  test('X-05 O-05 an empty resource parameter counts as omitted', async () => {
    const body = expectToken(await tokenRequest(server, { resource: '', scope: 'orders:read' }))
    assert.deepEqual((await inspect(server, body.access_token)).aud, [ORDERS_AUD])
  })

  test('X-04 a scope not served by the requested resource gets 400 invalid_target', async () => {
    const res = await tokenRequest(server, { resource: ORDERS_AUD, scope: 'billing:read' })
    expectError(res, 400, 'invalid_target')
  })

  test('X-04 a requested resource for which no scope is granted gets 400 invalid_target', async () => {
    // Two resources, but the scope only belongs to one of them.
    const res = await tokenRequest(server, {
      resource: [ORDERS_AUD, BILLING_AUD],
      scope: 'orders:read',
    })
    expectError(res, 400, 'invalid_target')
    // A client with no scope at the requested resource.
    expectError(await tokenRequest(server, { resource: BILLING_AUD }, OTHER), 400, 'invalid_target')
  })

  test('X-03 X-04 scope and resource that agree give a token for that audience and scope', async () => {
    const body = expectToken(
      await tokenRequest(server, { resource: BILLING_AUD, scope: 'billing:read' }),
    )
    assert.equal(body.scope, 'billing:read')
    assert.deepEqual((await inspect(server, body.access_token)).aud, [BILLING_AUD])
  })
})

// ---------------------------------------------------------------------------------------------
// hostile and malformed input on every POST endpoint
// ---------------------------------------------------------------------------------------------

describe('bad input on /token, /introspect and /revoke', () => {
  const auth = (ep: PostEndpoint): readonly [string, string] => [
    'Authorization',
    rawBasic(ep.caller[0], ep.caller[1]),
  ]
  const formType = ['Content-Type', 'application/x-www-form-urlencoded'] as const
  // After every hostile request, a normal one must still be served.
  afterEach(() => assertServing(server))

  for (const ep of POST_ENDPOINTS) {
    test(`${ep.path}: the baseline request used below is answered 200`, async () => {
      const res = await post(`${server.issuer}${ep.path}`, { basic: ep.caller, form: ep.form })
      assert.equal(res.status, 200, res.text)
      const viaRaw = await raw(server, {
        path: ep.path,
        headers: [auth(ep), formType],
        body: encodeForm(ep.form),
      })
      assert.equal(viaRaw.status, 200, viaRaw.text)
    })

    test(`${ep.path}: a body one byte over the 16384-byte default limit gets 413 invalid_request`, async () => {
      const res = await postTo(server, ep, formOfLength(ep, DEFAULT_BODY_LIMIT + 1))
      expectError(res, 413, 'invalid_request')
    })

    test(`${ep.path}: an oversized chunked body without Content-Length gets 413 invalid_request`, async () => {
      const res = await raw(server, {
        path: ep.path,
        headers: [auth(ep), formType],
        body: formOfLength(ep, DEFAULT_BODY_LIMIT * 3),
        chunkSize: 4_000,
      })
      expectError(res, 413, 'invalid_request')
    })

    test(`${ep.path}: a body of exactly 16384 bytes (a huge value) is read normally`, async () => {
      const res = await postTo(server, ep, formOfLength(ep, DEFAULT_BODY_LIMIT))
      assert.equal(res.status, 200, res.text)
      if (ep.path === '/introspect') assert.deepEqual(res.json(), { active: false })
      if (ep.path === '/token') assert.match(String(res.json().access_token), /^kh_at_/)
      // The same body, chunked and without Content-Length.
      const chunked = await raw(server, {
        path: ep.path,
        headers: [auth(ep), formType],
        body: formOfLength(ep, DEFAULT_BODY_LIMIT),
        chunkSize: 1_000,
      })
      assert.equal(chunked.status, 200, chunked.text)
    })

    test(`${ep.path}: a JSON, text/plain or multipart body gets 400 invalid_request`, async () => {
      const url = `${server.issuer}${ep.path}`
      const json = await post(url, {
        basic: ep.caller,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ep.form),
      })
      expectError(json, 400, 'invalid_request')
      const text = await post(url, {
        basic: ep.caller,
        headers: { 'content-type': 'text/plain' },
        body: encodeForm(ep.form),
      })
      expectError(text, 400, 'invalid_request')
      const multipart = new FormData()
      for (const [name, value] of Object.entries(ep.form)) multipart.append(name, value)
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: rawBasic(ep.caller[0], ep.caller[1]) },
        body: multipart,
      })
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
      assert.equal(res.status, 400)
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_request')
    })

    test(`${ep.path}: a missing, repeated or non-UTF-8 Content-Type gets 400 invalid_request`, async () => {
      const body = encodeForm(ep.form)
      const none = await raw(server, { path: ep.path, headers: [auth(ep)], body })
      expectError(none, 400, 'invalid_request')
      const twice = await raw(server, {
        path: ep.path,
        headers: [auth(ep), formType, formType],
        body,
      })
      expectError(twice, 400, 'invalid_request')
      const latin1 = await raw(server, {
        path: ep.path,
        headers: [
          auth(ep),
          ['Content-Type', 'application/x-www-form-urlencoded; charset=ISO-8859-1'],
        ],
        body,
      })
      expectError(latin1, 400, 'invalid_request')
      // Media types are case-insensitive, and charset=UTF-8 is fine, quoted or not (RFC 9110 §5.6.6).
      for (const type of [
        'Application/X-WWW-Form-URLEncoded; charset=UTF-8',
        'application/x-www-form-urlencoded;charset="utf-8"',
      ]) {
        const ok = await raw(server, {
          path: ep.path,
          headers: [auth(ep), ['Content-Type', type]],
          body,
        })
        assert.equal(ok.status, 200, `${type}: ${ok.text}`)
      }
    })

    test(`${ep.path}: invalid UTF-8 (raw 0xFF, %FF, overlong, surrogate) gets 400 invalid_request`, async () => {
      const head = Buffer.from(`${encodeForm(ep.form)}&${ep.single === 'token' ? 'x' : 'scope'}=`)
      const bodies: (string | Uint8Array)[] = [
        Buffer.concat([head, Buffer.from([0xff])]),
        Buffer.concat([head, Buffer.from([0xc3, 0x28])]),
        Buffer.concat([Buffer.from([0xfe]), Buffer.from(`=1&${encodeForm(ep.form)}`)]),
        `${encodeForm(ep.form)}&x=%FF`,
        `${encodeForm(ep.form)}&x=%C0%AF`,
        `${encodeForm(ep.form)}&x=%ED%A0%80`,
        `${encodeForm(ep.form)}&%FF=1`,
      ]
      for (const body of bodies) expectError(await postTo(server, ep, body), 400, 'invalid_request')
    })

    test(`${ep.path}: malformed percent-escapes (%zz, %2, trailing %) get 400 invalid_request`, async () => {
      const base = encodeForm(ep.form)
      for (const body of [`${base}&x=%zz`, `${base}&x=%2`, `${base}&x=abc%`, `${base}&x%zz=1`]) {
        expectError(await postTo(server, ep, body), 400, 'invalid_request')
      }
    })

    test(`${ep.path}: O-05 a repeated parameter gets 400 invalid_request`, async () => {
      const value = ep.form[ep.single] ?? ''
      const same = `${encodeForm(ep.form)}&${ep.single}=${encodeURIComponent(value)}`
      expectError(await postTo(server, ep, same), 400, 'invalid_request')
      const different = `${encodeForm(ep.form)}&${ep.single}=other`
      expectError(await postTo(server, ep, different), 400, 'invalid_request')
      // The same name percent-encoded differently is the same parameter.
      const disguised = `${encodeForm(ep.form)}&${ep.single.replace('_', '%5F').replace('t', '%74')}=other`
      expectError(await postTo(server, ep, disguised), 400, 'invalid_request')
      // Credentials repeated in the body too.
      const secrets = `${encodeForm(ep.form)}&client_id=shop&client_id=shop&client_secret=shop-secret`
      expectError(
        await post(`${server.issuer}${ep.path}`, { body: secrets }),
        400,
        'invalid_request',
      )
    })

    test(`${ep.path}: O-05 an empty value counts as omitted`, async () => {
      const res = await post(`${server.issuer}${ep.path}`, {
        basic: ep.caller,
        body: `${ep.single}=&${encodeForm(Object.fromEntries(Object.entries(ep.form).filter(([n]) => n !== ep.single)))}`,
      })
      // grant_type / token is required: omitted is invalid_request.
      expectError(res, 400, 'invalid_request')
      // Empty unknown parameters and stray separators change nothing.
      const padded = await postTo(server, ep, `&&foo=&${encodeForm(ep.form)}&&bar=&`)
      assert.equal(padded.status, 200, padded.text)
    })

    test(`${ep.path}: NUL and control characters in values are refused or inactive, never a 500`, async () => {
      const controls = ['%00', '%01%1F%7F', '\x01\x1f\x7f', 'kh_at_%00%0D%0A']
      for (const c of controls) {
        if (ep.path === '/token') {
          const res = await postTo(server, ep, `grant_type=client_credentials${c}`)
          expectError(res, 400, 'unsupported_grant_type')
          const scope = await postTo(server, ep, `grant_type=client_credentials&scope=${c}`)
          expectError(scope, 400, 'invalid_scope')
        } else {
          const res = await postTo(server, ep, `token=${c}`)
          assert.equal(res.status, 200, res.text)
          if (ep.path === '/introspect') assert.deepEqual(res.json(), { active: false })
        }
      }
      // A NUL in a parameter name that is then repeated: the error text stays within §5.2's charset.
      const named = await postTo(server, ep, `${encodeForm(ep.form)}&a%00%22b=1&a%00%22b=2`)
      const body = expectError(named, 400, 'invalid_request')
      assert.equal(String(body.error_description).includes('\x00'), false)
      // A NUL in client credentials is just a wrong credential.
      const nulId = await post(`${server.issuer}${ep.path}`, {
        form: { ...ep.form, client_id: 'shop\x00', client_secret: 'shop-secret' },
      })
      expectInvalidClient(nulId)
    })

    test(`${ep.path}: two Authorization headers get 400 invalid_request`, async () => {
      const res = await raw(server, {
        path: ep.path,
        headers: [auth(ep), auth(ep), formType],
        body: encodeForm(ep.form),
      })
      expectError(res, 400, 'invalid_request')
      const mixed = await raw(server, {
        path: ep.path,
        headers: [auth(ep), ['Authorization', 'Bearer kh_at_x'], formType],
        body: encodeForm(ep.form),
      })
      expectError(mixed, 400, 'invalid_request')
    })

    test(`${ep.path}: malformed Basic credentials get 401 invalid_client with a Basic challenge`, async () => {
      const headers = [
        'Basic',
        'Basic ',
        'Basic !!!!',
        'Basic YWJj', // "abc": no colon
        'Basic YWJjOmRlZg=', // bad padding
        'Basic YWJjOmRlZg===',
        basicOf(':shop-secret'), // empty id
        basicOf('shop:'), // empty secret
        basicOf(Buffer.from([0xff, 0x3a, 0xfe])), // not UTF-8
        `Basic ${'QUFB'.repeat(2_000)}`, // long, no colon
        `Basic ${Buffer.from(`shop:shop-secret`).toString('base64')} extra`,
        'Basicc2hvcDpzaG9wLXNlY3JldA==',
      ]
      for (const authorization of headers) {
        const res = await post(`${server.issuer}${ep.path}`, {
          headers: { authorization },
          form: ep.form,
        })
        expectInvalidClient(res)
      }
    })

    test(`${ep.path}: O-03 credentials or tokens in the query string get 400 invalid_request`, async () => {
      for (const query of [
        'client_secret=shop-secret',
        'token=kh_at_x',
        'access_token=kh_at_x',
        'refresh_token=kh_rt_x',
        'client_assertion=x',
        'a=1&client%5Fsecret=x',
      ]) {
        const res = await post(`${server.issuer}${ep.path}?${query}`, {
          basic: ep.caller,
          form: ep.form,
        })
        expectError(res, 400, 'invalid_request')
      }
      // A harmless query parameter is ignored.
      const harmless = await post(`${server.issuer}${ep.path}?trace=1`, {
        basic: ep.caller,
        form: ep.form,
      })
      assert.equal(harmless.status, 200, harmless.text)
    })

    test(`${ep.path}: GET, HEAD, PUT and DELETE get 405 with Allow: POST`, async () => {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const res = await raw(server, { method, path: `${ep.path}?token=kh_at_x`, body: '' })
        expectError(res, 405, 'invalid_request')
        assert.equal(res.headers.get('allow'), 'POST')
      }
      const head = await fetch(`${server.issuer}${ep.path}`, { method: 'HEAD' })
      assert.equal(head.status, 405)
      assert.equal(head.headers.get('allow'), 'POST')
    })
  }

  test('unknown paths get 404 with a JSON error', async () => {
    for (const path of [
      '/',
      '/nope',
      '/token/',
      '/Token',
      '/introspect/x',
      '/../token',
      '/%2e%2e/token',
    ]) {
      const res = await raw(server, {
        path,
        headers: [formType],
        body: 'grant_type=client_credentials',
      })
      expectError(res, 404, 'invalid_request')
    }
    const viaGet = await get(`${server.url}/nope?client_secret=x`)
    expectError(viaGet, 404, 'invalid_request')
  })

  test('malformed HTTP on a raw socket gets 400 and the server keeps serving', async () => {
    const host = new URL(server.url).host
    const requests = [
      'GARBAGE\r\n\r\n',
      'POST /token HTTP/9.9\r\n\r\n',
      `BREW /token HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
      'POST /token HTTP/1.1\r\n\r\n', // no Host header
      `POST /token HTTP/1.1\r\nHost: ${host}\r\nContent-Length: abc\r\n\r\n`,
      `POST /token HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
      `POST /token HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST /token HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
      `POST /token HTTP/1.1\r\nHost: ${host}\r\nBad Header: x\r\n\r\n`,
      `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Basic a\x00b\r\n\r\n`,
    ]
    for (const request of requests) {
      const res = await rawExchange(server, request)
      assert.equal(res.status, 400, JSON.stringify(request.slice(0, 60)))
      await assertServing(server)
    }
    // RFC 6585 §5: headers over node's limit are 431, not a generic 400.
    const huge = `POST /token HTTP/1.1\r\nHost: ${host}\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`
    assert.equal((await rawExchange(server, huge)).status, 431)
    await assertServing(server)
  })

  test('a body cut short by the client is dropped quietly: no error log, and the server keeps serving', async () => {
    const request = buildRequest(server, {
      path: '/token',
      headers: [auth(POST_ENDPOINTS[0] as PostEndpoint), formType],
      body: 'grant_type=client_credentials',
    })
    // Claim more bytes than are sent, then half-close.
    const cut = Buffer.from(
      request.toString('latin1').replace(/Content-Length: \d+/, 'Content-Length: 500'),
      'latin1',
    )
    const res = await rawExchange(server, cut, { halfClose: true }).catch(() => undefined)
    if (res !== undefined) assert.equal(res.status, 400)
    await assertServing(server)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.doesNotMatch(server.output(), /"level":"error"/)
  })

  test('no request in this suite was answered 500 or logged as an unexpected error', async () => {
    await assertServing(server)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const lines = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; status?: number; level?: string })
    const requests = lines.filter((line) => line.msg === 'request')
    assert.ok(requests.length > 100, 'request logging is on in the fixture')
    assert.deepEqual(
      requests.filter((line) => (line.status ?? 0) >= 500),
      [],
    )
    assert.deepEqual(
      lines.filter((line) => line.level === 'error'),
      [],
    )
  })
})

// ---------------------------------------------------------------------------------------------
// secrets and tokens stay out of logs and error text
// ---------------------------------------------------------------------------------------------

describe('secrets and tokens never reach logs or error text', () => {
  test('BCP-04 O-03 tokens, right and wrong secrets, and query strings appear in no log line and no error body', async () => {
    const token = await getToken(server)
    const toRevoke = await getToken(server)
    const wrongSecret = 'wrong-secret-7f3a9c2e'
    const querySecret = 'query-secret-5d1e88b0'
    const dupSecret = 'dup-secret-0c4b21'
    const jsonSecret = 'json-secret-9e7d4f'
    const sensitive = [
      token,
      toRevoke,
      wrongSecret,
      querySecret,
      dupSecret,
      jsonSecret,
      'shop-secret',
      'orders-secret',
      VECTOR_SECRET,
      encodeURIComponent(VECTOR_SECRET),
      Buffer.from(`shop:${wrongSecret}`).toString('base64'),
    ]
    const issuer = server.issuer
    const answers: HttpResult[] = [
      await introspect(server, token),
      await introspect(server, token, SHOP),
      await post(`${issuer}/revoke`, { basic: SHOP, form: { token: toRevoke } }),
      await post(`${issuer}/token`, {
        headers: { authorization: VECTOR_HEADER },
        form: { grant_type: 'client_credentials' },
      }),
      await tokenRequest(server, {}, ['shop', wrongSecret]),
      await post(`${issuer}/token`, {
        form: { grant_type: 'client_credentials', client_id: 'shop', client_secret: wrongSecret },
      }),
      await post(`${issuer}/token?client_id=shop&client_secret=${querySecret}`, {
        form: { grant_type: 'client_credentials' },
      }),
      await post(`${issuer}/introspect?token=${token}`, { basic: ORDERS, form: { token } }),
      await get(`${issuer}/introspect?token=${token}&client_secret=${querySecret}`),
      await get(`${server.url}/nope?client_secret=${querySecret}`),
      await post(`${issuer}/token`, {
        body: `grant_type=client_credentials&client_id=shop&client_secret=${dupSecret}&client_secret=${dupSecret}`,
      }),
      await post(`${issuer}/introspect`, { basic: ORDERS, body: `token=${token}&token=${token}` }),
      await post(`${issuer}/introspect`, {
        basic: ORDERS,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, client_secret: jsonSecret }),
      }),
      await post(`${issuer}/introspect`, {
        basic: ORDERS,
        body: `token=${token}&pad=${'A'.repeat(DEFAULT_BODY_LIMIT)}`,
      }),
      await post(`${issuer}/introspect`, {
        basic: ORDERS,
        body: Buffer.concat([Buffer.from(`token=${token}&x=`), Buffer.from([0xff])]),
      }),
      await post(`${issuer}/introspect`, { basic: ORDERS, body: `token=${token}&x=%zz` }),
      await post(`${issuer}/introspect`, {
        headers: { authorization: `Basic ${wrongSecret}` },
        form: { token },
      }),
      await post(`${issuer}/introspect`, {
        headers: { authorization: `Bearer ${token}` },
        form: { token },
      }),
      await post(`${issuer}/token`, {
        basic: SHOP,
        form: { grant_type: 'client_credentials', scope: `${wrongSecret}"` },
      }),
      await post(`${issuer}/token`, {
        basic: SHOP,
        form: { grant_type: 'client_credentials', resource: `https://x/#${wrongSecret}` },
      }),
      await post(`${issuer}/token`, { basic: SHOP, form: { grant_type: wrongSecret } }),
    ]
    for (const res of answers) {
      assert.ok(res.status < 500, res.text)
      for (const secret of sensitive) {
        assert.equal(res.text.includes(secret), false, `an answer echoes a secret: ${res.text}`)
      }
    }

    await new Promise((resolve) => setTimeout(resolve, 200))
    const output = server.output()
    // The requests were logged (so the check below could fail)...
    assert.match(output, /"msg":"request"/)
    assert.match(output, /"path":"\/introspect"/)
    // ...but without any secret, token or query string.
    for (const secret of sensitive) {
      assert.equal(output.includes(secret), false, `the log contains ${secret.slice(0, 12)}...`)
    }
    for (const line of output.split('\n').filter((l) => l.includes('"msg":"request"'))) {
      const entry = JSON.parse(line) as { path: string }
      assert.equal(entry.path.includes('?'), false, line)
    }
    assert.doesNotMatch(output, /client_secret=|token=kh_/)
  })
})

// ---------------------------------------------------------------------------------------------
// configured limits: throttling, strict Basic decoding, body size
// ---------------------------------------------------------------------------------------------

describe('configured limits: body size, strict Basic decoding, failed-authentication throttling', () => {
  let server: RunningServer
  before(async () => {
    server = await startServer(
      suiteConfig({
        throttle: { failedAuth: { limit: 3, windowSeconds: 60 } },
        clientAuthentication: { tolerateRawBasic: false },
        limits: { bodyBytes: 2_048 },
      }),
    )
  })
  after(() => server.stop())

  // These first tests authenticate correctly (no failures counted) except where noted.

  test('limits.bodyBytes sets the body limit: 2049 bytes get 413, 2048 bytes are read', async () => {
    const ep = POST_ENDPOINTS[1] as PostEndpoint
    expectError(await postTo(server, ep, formOfLength(ep, 2_049)), 413, 'invalid_request')
    const ok = await postTo(server, ep, formOfLength(ep, 2_048))
    assert.equal(ok.status, 200, ok.text)
    assert.deepEqual(ok.json(), { active: false })
  })

  test('O-02 Q-06 with tolerateRawBasic off, the form-encoded §16 header works and the raw form is refused', async () => {
    const encoded = await post(`${server.issuer}/token`, {
      headers: { authorization: VECTOR_HEADER },
      form: { grant_type: 'client_credentials' },
    })
    expectToken(encoded)
    // One failed authentication (counted by the throttle test below).
    const rawForm = await post(`${server.issuer}/token`, {
      headers: { authorization: rawBasic(VECTOR_ID, VECTOR_SECRET) },
      form: { grant_type: 'client_credentials' },
    })
    expectInvalidClient(rawForm)
  })

  test('O-04 repeated wrong secrets lead to 429 temporarily_unavailable with Retry-After; then a correct secret never seen from that source is refused too, credentials that passed before are not', async () => {
    const statuses: number[] = []
    let throttled: HttpResult | undefined
    for (let i = 0; i < 6 && throttled === undefined; i++) {
      const res = await tokenRequest(server, {}, ['shop', `wrong-${i}`])
      statuses.push(res.status)
      if (res.status === 429) throttled = res
      else expectInvalidClient(res)
    }
    assert.ok(throttled !== undefined, `never throttled: ${statuses.join(' ')}`)
    // limit 3: at most 3 failures (one came from the previous test) before the 429.
    assert.ok(statuses.length <= 4, statuses.join(' '))
    expectError(throttled, 429, 'temporarily_unavailable')
    const retryAfter = Number(throttled.headers.get('retry-after'))
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `${retryAfter}`)

    // The right secret, by either method, from the same source, never seen to pass here: refused
    // while throttled, so that a throttled guesser cannot tell a right guess from a wrong one.
    expectError(await tokenRequest(server, {}, SHOP), 429, 'temporarily_unavailable')
    const viaPost = await post(`${server.issuer}/token`, {
      form: { grant_type: 'client_credentials', client_id: 'shop', client_secret: 'shop-secret' },
    })
    expectError(viaPost, 429, 'temporarily_unavailable')
    // Other clients from the same source, at other endpoints, too (the source address is throttled).
    const revocation = await post(`${server.issuer}/revoke`, { basic: OTHER, form: { token: 'x' } })
    expectError(revocation, 429, 'temporarily_unavailable')
    // Credentials that passed here before (orders, in the body-limit test) are no guesses: wrong
    // secrets from an address every caller shares (a proxy) do not lock them out.
    const known = await introspect(server, 'kh_at_x', ORDERS)
    assert.equal(known.status, 200, known.text)
    assert.deepEqual(known.json(), { active: false })
    // Unauthenticated endpoints are not affected.
    const metadata = await get(`${server.url}/.well-known/oauth-authorization-server`)
    assert.equal(metadata.status, 200)
  })
})

describe('O-04 behind a trusted reverse proxy: throttles count per forwarded client', () => {
  let proxied: RunningServer
  let direct: RunningServer
  before(async () => {
    const throttle = { failedAuth: { limit: 3, windowSeconds: 60 } }
    ;[proxied, direct] = await Promise.all([
      startServer(suiteConfig({ throttle, trustedProxies: ['127.0.0.1'] })),
      startServer(suiteConfig({ throttle })),
    ])
  })
  after(() => Promise.all([proxied.stop(), direct.stop()]))

  const from = (server: RunningServer, forwardedFor: string, caller: Caller) =>
    post(`${server.issuer}/token`, {
      basic: caller,
      headers: { 'x-forwarded-for': forwardedFor },
      form: { grant_type: 'client_credentials' },
    })

  test('O-04 one client guessing behind the proxy is throttled; another client behind the same proxy is not', async () => {
    for (let i = 0; i < 3; i++) {
      expectInvalidClient(await from(proxied, '203.0.113.7', ['shop', `wrong-${i}`]))
    }
    expectError(
      await from(proxied, '203.0.113.7', ['shop', 'wrong-3']),
      429,
      'temporarily_unavailable',
    )
    // the guesser's address waits even with a right secret it has not been seen to use
    expectError(await from(proxied, '203.0.113.7', OTHER), 429, 'temporarily_unavailable')
    // another client, never seen before, through the same proxy connection address
    expectToken(await from(proxied, '198.51.100.20', OTHER))
    // what a client prepends to X-Forwarded-For is not its address: the proxy's last hop is
    expectError(
      await from(proxied, '198.51.100.20, 203.0.113.7', ['shop', 'wrong-4']),
      429,
      'temporarily_unavailable',
    )
  })

  test('O-04 without trustedProxies, X-Forwarded-For is ignored: changing it does not escape the throttle', async () => {
    for (let i = 0; i < 3; i++) {
      expectInvalidClient(await from(direct, `203.0.113.${i}`, ['shop', `wrong-${i}`]))
    }
    expectError(
      await from(direct, '203.0.113.99', ['shop', 'wrong-3']),
      429,
      'temporarily_unavailable',
    )
    expectError(await from(direct, '198.51.100.20', OTHER), 429, 'temporarily_unavailable')
  })
})
