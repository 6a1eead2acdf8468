/**
 * RFC 8414 authorization server metadata, black-box over real HTTP against `keyhole serve`: the
 * document, its location for issuers with and without a path, feature flags that remove an endpoint
 * from both the routes and the document, and configuration errors reported by the bin.
 *
 * Checklist items NOT tested here, and why:
 * - M-01 "issuer is an https URL", M-18 (TLS), R-02 (https revocation_endpoint): Keyhole terminates
 *   no TLS in this version (docs/architecture.md). Tested instead: no query or fragment in the
 *   issuer, the config refusing them, and the warning an http issuer produces.
 * - M-03 jwks_uri and J-14 (RFC 9701 signing algorithms): rfc9701-jwt-introspection.test.ts, which
 *   fetches the key set and verifies answers with it.
 * - M-04 response_types_supported: documented deviation Q-10 (no authorization endpoint yet, and
 *   §3.2 forbids an empty array); the test asserts that it is absent.
 * - M-10, M-11, M-16, and the consumer's side of M-13 and M-15: rules for metadata consumers (the
 *   resource-server library). The publishing side of M-13 (served to GET) and M-15 (identical
 *   issuer) is tested.
 * - M-17: Keyhole publishes no OpenID Connect discovery document, so there is nothing that could
 *   disagree; the test asserts that /.well-known/openid-configuration is not served.
 * - The *_auth_signing_alg_values_supported members of M-06, M-07, M-08 (private_key_jwt) are
 *   checked here as published; that each method works at each endpoint is
 *   rfc7523-private-key-jwt.test.ts (it needs a principal with keys).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { AuthorizationServerMetadata } from '@keyhole/protocol'
import {
  fixtureConfig,
  get,
  getToken,
  type HttpResult,
  introspect,
  KEYHOLE_BIN,
  post,
  type RunningServer,
  revoke,
  startServer,
} from './support/harness.ts'

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const WELL_KNOWN = '/.well-known/oauth-authorization-server'
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt']
/** RFC 8725 §3.2: what private_key_jwt assertions may be signed with; never none, never HS*. */
const ASYMMETRIC_ALG = /^(ES(256|384|512)|PS(256|384|512)|RS(256|384|512)|EdDSA|Ed25519)$/

function assertAsymmetricAlgs(value: unknown, name: string): void {
  assert.ok(Array.isArray(value) && value.length > 0, `${name} is missing`)
  for (const alg of value as unknown[]) assert.match(String(alg), ASYMMETRIC_ALG, name)
}
const JWT_METHODS = ['private_key_jwt', 'client_secret_jwt']
const FIXTURE_SCOPES = ['billing:read', 'orders:read', 'orders:write']

type Metadata = AuthorizationServerMetadata & Record<string, unknown>

/** Free loopback ports, all held open together so that they are distinct. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer())
  const ports = await Promise.all(
    servers.map(
      (s) =>
        new Promise<number>((resolve, reject) => {
          s.once('error', reject)
          s.listen(0, '127.0.0.1', () => {
            const address = s.address()
            if (address === null || typeof address === 'string') reject(new Error('no port'))
            else resolve(address.port)
          })
        }),
    ),
  )
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** The metadata document at `url`, checked for RFC 8414 §3.2 (200 application/json). */
async function fetchMetadata(url: string): Promise<Metadata> {
  const res = await get(url)
  assert.equal(res.status, 200, `${url}: ${res.status} ${res.text}`)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/)
  return res.json<Metadata>()
}

function wellKnownOf(issuer: string): string {
  // RFC 8414 §3: remove a trailing "/", then insert the well-known string between host and path.
  const url = new URL(issuer.replace(/\/$/, ''))
  const path = url.pathname === '/' ? '' : url.pathname
  return `${url.origin}${WELL_KNOWN}${path}`
}

/** RFC 8414 §2 / §3.2 rules every document must follow, whatever the configuration. */
function lintMetadata(doc: Metadata, issuer: string): void {
  // M-15: identical to the issuer the URL was built from.
  assert.equal(doc.issuer, issuer)
  // M-01: no query, no fragment.
  const url = new URL(doc.issuer)
  assert.equal(url.search, '')
  assert.equal(url.hash, '')
  assert.equal(doc.issuer.includes('?') || doc.issuer.includes('#'), false)
  // M-14: claims with zero elements are omitted; nothing is null.
  for (const [name, value] of Object.entries(doc)) {
    assert.notEqual(value, null, `${name} is null`)
    if (Array.isArray(value)) assert.ok(value.length > 0, `${name} is an empty array`)
  }
  // Endpoints are absolute URLs under the issuer, without fragment (RFC 6749 §3.1, §3.2).
  const base = issuer.replace(/\/$/, '')
  for (const name of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
    const endpoint = doc[name]
    if (endpoint === undefined) continue
    assert.equal(typeof endpoint, 'string', name)
    const parsed = new URL(endpoint as string)
    assert.equal(parsed.hash, '', name)
    assert.equal(parsed.search, '', name)
    assert.ok(
      (endpoint as string).startsWith(`${base}/`),
      `${name} ${endpoint} is not under ${base}`,
    )
  }
  // M-06, M-07, M-08: JWT methods need their alg list; "none" never appears.
  for (const prefix of ['token_endpoint', 'revocation_endpoint', 'introspection_endpoint']) {
    const methods = doc[`${prefix}_auth_methods_supported`]
    if (methods === undefined) continue
    assert.ok(Array.isArray(methods), `${prefix}_auth_methods_supported is not an array`)
    assert.equal((methods as unknown[]).includes('none'), false)
    const algs = doc[`${prefix}_auth_signing_alg_values_supported`]
    if ((methods as string[]).some((m) => JWT_METHODS.includes(m))) {
      assert.ok(Array.isArray(algs), `${prefix}_auth_signing_alg_values_supported is missing`)
      assert.equal((algs as string[]).includes('none'), false)
    }
  }
}

function sorted(value: unknown): string[] {
  assert.ok(Array.isArray(value), `${JSON.stringify(value)} is not an array`)
  return [...(value as string[])].sort()
}

/** A process run of `keyhole serve` that is expected to refuse its config. */
interface Refusal {
  readonly code: number | null
  readonly stderr: string
  readonly stdout: string
}

async function serveExpectingRefusal(config: string | Record<string, unknown>): Promise<Refusal> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-config-'))
  const file = join(dir, 'keyhole.json')
  writeFileSync(
    file,
    typeof config === 'string' ? config : JSON.stringify({ storage: 'sqlite:./k.db', ...config }),
  )
  try {
    return await new Promise<Refusal>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [KEYHOLE_BIN, 'serve', '--config', file, '--port', '0'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8')
      })
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8')
      })
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`keyhole serve accepted the config and kept running:\n${stdout}`))
      }, 20_000)
      // 'close', not 'exit': only then has everything the child wrote to its pipes been read.
      child.once('close', (code) => {
        clearTimeout(timer)
        resolve({ code, stderr, stdout })
      })
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function assertRefused(refusal: Refusal, ...patterns: RegExp[]): void {
  assert.notEqual(refusal.code, 0, 'the process exited 0')
  assert.notEqual(refusal.code, null)
  assert.doesNotMatch(refusal.stdout, /"msg":"listening"/)
  for (const pattern of patterns) assert.match(refusal.stderr, pattern)
}

// ---------------------------------------------------------------------------------------------
// servers: default issuer, issuer with a path, trailing-slash issuer without revocation,
// no introspection and no scopes
// ---------------------------------------------------------------------------------------------

let plain: RunningServer
let tenant: RunningServer
let slashNoRevocation: RunningServer
let noIntrospection: RunningServer
let tenantIssuer: string
let slashIssuer: string

before(async () => {
  const [tenantPort, slashPort] = await freePorts(2)
  tenantIssuer = `http://127.0.0.1:${tenantPort}/tenant-a`
  slashIssuer = `http://127.0.0.1:${slashPort}/tenant-b/`
  ;[plain, tenant, slashNoRevocation, noIntrospection] = await Promise.all([
    startServer(),
    startServer(fixtureConfig({ issuer: tenantIssuer }), { args: ['--port', String(tenantPort)] }),
    startServer(
      fixtureConfig({ issuer: slashIssuer, features: { revocation: { enabled: false } } }),
      { args: ['--port', String(slashPort)] },
    ),
    startServer(
      fixtureConfig({
        features: { introspection: false },
        resources: [
          { id: 'bare', audience: 'https://bare.example.test', secret: 'bare-secret', scopes: [] },
        ],
        clients: [{ id: 'solo', secret: 'solo-secret' }],
      }),
    ),
  ])
})

after(async () => {
  await Promise.all(
    [plain, tenant, slashNoRevocation, noIntrospection]
      .filter((s) => s !== undefined)
      .map((s) => s.stop()),
  )
})

// ---------------------------------------------------------------------------------------------
// the document of a server with a default (path-less) issuer
// ---------------------------------------------------------------------------------------------

describe('RFC 8414 metadata document', () => {
  test('M-14 GET /.well-known/oauth-authorization-server answers 200 application/json', async () => {
    const res = await get(`${plain.url}${WELL_KNOWN}`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/)
    assert.equal(typeof res.json(), 'object')
  })

  test('M-15 M-01 issuer is identical to the server’s issuer and has no query or fragment', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.equal(doc.issuer, plain.issuer)
    // Without an issuer in the config, it is the listening URL.
    assert.equal(doc.issuer, plain.url)
    lintMetadata(doc, plain.issuer)
  })

  test('M-14 no member is an empty array or null', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    for (const [name, value] of Object.entries(doc)) {
      assert.notEqual(value, null, name)
      if (Array.isArray(value)) assert.notEqual(value.length, 0, name)
    }
  })

  test('M-02 token_endpoint is published and issues tokens', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.equal(doc.token_endpoint, `${plain.issuer}/token`)
    const res = await post(String(doc.token_endpoint), {
      basic: ['shop', 'shop-secret'],
      form: { grant_type: 'client_credentials' },
    })
    assert.equal(res.status, 200, res.text)
  })

  test('M-05 grant_types_supported lists exactly client_credentials (omitting it would mean authorization_code and implicit)', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.deepEqual(doc.grant_types_supported, ['client_credentials'])
  })

  test('M-04 Q-10 documented deviation: response_types_supported is omitted, as there is no authorization endpoint', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.equal('response_types_supported' in doc, false)
    assert.equal('authorization_endpoint' in doc, false)
    // Consistent with that: no grant type that needs the authorization endpoint.
    assert.equal(sorted(doc.grant_types_supported).includes('authorization_code'), false)
  })

  test('M-06 token_endpoint_auth_methods_supported is client_secret_basic, client_secret_post and private_key_jwt, without none, with asymmetric signing algorithms', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.deepEqual(sorted(doc.token_endpoint_auth_methods_supported), AUTH_METHODS)
    assertAsymmetricAlgs(
      doc.token_endpoint_auth_signing_alg_values_supported,
      'token_endpoint_auth_signing_alg_values_supported',
    )
  })

  test('M-07 revocation_endpoint and its auth methods are published, and the endpoint revokes', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.equal(doc.revocation_endpoint, `${plain.issuer}/revoke`)
    assert.deepEqual(sorted(doc.revocation_endpoint_auth_methods_supported), AUTH_METHODS)
    assertAsymmetricAlgs(
      doc.revocation_endpoint_auth_signing_alg_values_supported,
      'revocation_endpoint_auth_signing_alg_values_supported',
    )
    const token = await getToken(plain)
    const res = await post(String(doc.revocation_endpoint), {
      basic: ['shop', 'shop-secret'],
      form: { token },
    })
    assert.equal(res.status, 200, res.text)
    assert.deepEqual((await introspect(plain, token)).json(), { active: false })
  })

  test('M-08 introspection_endpoint and its auth methods (no default exists) are published, and the endpoint introspects', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.equal(doc.introspection_endpoint, `${plain.issuer}/introspect`)
    assert.deepEqual(sorted(doc.introspection_endpoint_auth_methods_supported), AUTH_METHODS)
    assertAsymmetricAlgs(
      doc.introspection_endpoint_auth_signing_alg_values_supported,
      'introspection_endpoint_auth_signing_alg_values_supported',
    )
    const token = await getToken(plain)
    const res = await post(String(doc.introspection_endpoint), {
      basic: ['orders', 'orders-secret'],
      form: { token },
    })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.json().active, true)
  })

  test('M-06 M-07 M-08 every published auth method works at the endpoint it is published for', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    const token = await getToken(plain, ['other', 'other-secret'])
    const cases: [string, string, Record<string, string>, readonly [string, string]][] = [
      [
        'token_endpoint',
        'token_endpoint_auth_methods_supported',
        { grant_type: 'client_credentials' },
        ['shop', 'shop-secret'],
      ],
      [
        'introspection_endpoint',
        'introspection_endpoint_auth_methods_supported',
        { token },
        ['orders', 'orders-secret'],
      ],
      [
        'revocation_endpoint',
        'revocation_endpoint_auth_methods_supported',
        { token: 'kh_at_x' },
        ['other', 'other-secret'],
      ],
    ]
    for (const [endpoint, methodsName, form, [id, secret]] of cases) {
      for (const method of doc[methodsName] as string[]) {
        let res: HttpResult
        if (method === 'client_secret_basic') {
          res = await post(String(doc[endpoint]), { basic: [id, secret], form })
        } else if (method === 'client_secret_post') {
          res = await post(String(doc[endpoint]), {
            form: { ...form, client_id: id, client_secret: secret },
          })
        } else if (method === 'private_key_jwt') {
          // Needs a principal with keys: rfc7523-private-key-jwt.test.ts, at all three endpoints.
          continue
        } else {
          assert.fail(`${methodsName} lists ${method}, which this test does not know`)
        }
        assert.equal(res.status, 200, `${method} at ${endpoint}: ${res.status} ${res.text}`)
      }
    }
  })

  test('M-09 scopes_supported lists every resource’s scopes', async () => {
    const doc = await fetchMetadata(`${plain.url}${WELL_KNOWN}`)
    assert.deepEqual(sorted(doc.scopes_supported), FIXTURE_SCOPES)
  })

  test('M-13 the document is served to GET (and HEAD) only; other methods get 405 with Allow: GET', async () => {
    const head = await fetch(`${plain.url}${WELL_KNOWN}`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(await head.text(), '')
    const res = await post(`${plain.url}${WELL_KNOWN}`, { form: {} })
    assert.equal(res.status, 405)
    assert.equal(res.headers.get('allow'), 'GET')
    assert.equal(res.json().error, 'invalid_request')
  })

  test('M-14 the document may be cached (it is public and carries no secret)', async () => {
    const res = await get(`${plain.url}${WELL_KNOWN}`)
    assert.match(res.headers.get('cache-control') ?? '', /max-age=\d+/)
    assert.doesNotMatch(res.headers.get('cache-control') ?? '', /no-store/)
  })

  test('M-17 no OpenID Connect discovery document is published, so none can disagree', async () => {
    const res = await get(`${plain.url}/.well-known/openid-configuration`)
    assert.equal(res.status, 404)
  })
})

// ---------------------------------------------------------------------------------------------
// issuers with a path
// ---------------------------------------------------------------------------------------------

describe('RFC 8414 §3 issuers with a path', () => {
  test('M-12 M-15 for issuer …/tenant-a the document is at /.well-known/oauth-authorization-server/tenant-a with the identical issuer', async () => {
    assert.equal(tenant.issuer, tenantIssuer)
    const url = `${tenant.url}${WELL_KNOWN}/tenant-a`
    assert.equal(wellKnownOf(tenantIssuer), url)
    const doc = await fetchMetadata(url)
    assert.equal(doc.issuer, tenantIssuer)
    lintMetadata(doc, tenantIssuer)
  })

  test('M-12 P-11 the well-known string is inserted, not appended, and the host root is not this issuer', async () => {
    for (const path of [`/tenant-a${WELL_KNOWN}`, WELL_KNOWN, `${WELL_KNOWN}/tenant-b`]) {
      const res = await get(`${tenant.url}${path}`)
      assert.equal(res.status, 404, `${path}: ${res.status}`)
    }
  })

  test('M-02 M-07 M-08 the endpoints live under the issuer’s path and work there', async () => {
    const doc = await fetchMetadata(`${tenant.url}${WELL_KNOWN}/tenant-a`)
    assert.equal(doc.token_endpoint, `${tenantIssuer}/token`)
    assert.equal(doc.introspection_endpoint, `${tenantIssuer}/introspect`)
    assert.equal(doc.revocation_endpoint, `${tenantIssuer}/revoke`)
    const token = await getToken(tenant)
    const seen = await introspect(tenant, token)
    assert.equal(seen.json().active, true)
    assert.equal(seen.json().iss, tenantIssuer)
    assert.equal((await revoke(tenant, token)).status, 200)
    assert.deepEqual((await introspect(tenant, token)).json(), { active: false })
  })

  test('M-12 outside the issuer’s path there are no endpoints', async () => {
    for (const path of ['/token', '/introspect', '/revoke']) {
      const res = await post(`${tenant.url}${path}`, {
        basic: ['shop', 'shop-secret'],
        form: { grant_type: 'client_credentials', token: 'x' },
      })
      assert.equal(res.status, 404, `${path}: ${res.status}`)
    }
  })

  test('M-01 an http issuer is accepted for development but logged as a warning', () => {
    assert.match(tenant.output(), /"level":"warn","msg":"issuer: plain http[^"]*"/)
    // The default server has no configured issuer and so no such warning.
    assert.doesNotMatch(plain.output(), /issuer: plain http/)
  })

  test('M-12 M-15 P-11 an issuer with a trailing "/" keeps it in the document, and the "/" is removed before insertion', async () => {
    assert.equal(slashNoRevocation.issuer, slashIssuer)
    const url = `${slashNoRevocation.url}${WELL_KNOWN}/tenant-b`
    assert.equal(wellKnownOf(slashIssuer), url)
    const doc = await fetchMetadata(url)
    assert.equal(doc.issuer, slashIssuer)
    lintMetadata(doc, slashIssuer)
    // Endpoints are joined without a double slash, and they work.
    assert.equal(doc.token_endpoint, `${slashIssuer}token`)
    const res = await post(String(doc.token_endpoint), {
      basic: ['shop', 'shop-secret'],
      form: { grant_type: 'client_credentials' },
    })
    assert.equal(res.status, 200, res.text)
  })
})

// ---------------------------------------------------------------------------------------------
// feature flags drive routes and metadata together
// ---------------------------------------------------------------------------------------------

describe('feature flags remove an endpoint from the routes and the document together', () => {
  test('M-07 with revocation disabled, revocation_endpoint is not published and the route answers 404', async () => {
    const doc = await fetchMetadata(`${slashNoRevocation.url}${WELL_KNOWN}/tenant-b`)
    assert.equal('revocation_endpoint' in doc, false)
    assert.equal('revocation_endpoint_auth_methods_supported' in doc, false)
    // (The harness helpers append "/token" to the issuer, which doubles this issuer's "/".)
    const issued = await post(`${slashIssuer}token`, {
      basic: ['shop', 'shop-secret'],
      form: { grant_type: 'client_credentials' },
    })
    const token = issued.json<{ access_token: string }>().access_token
    const res = await post(`${slashIssuer}revoke`, {
      basic: ['shop', 'shop-secret'],
      form: { token },
    })
    assert.equal(res.status, 404)
    assert.equal(res.json().error, 'invalid_request')
    // Introspection is untouched: published, and the token was not revoked.
    assert.equal(doc.introspection_endpoint, `${slashIssuer}introspect`)
    const seen = await post(String(doc.introspection_endpoint), {
      basic: ['orders', 'orders-secret'],
      form: { token },
    })
    assert.equal(seen.json().active, true)
  })

  test('M-08 with introspection disabled, introspection_endpoint is not published and the route answers 404', async () => {
    const doc = await fetchMetadata(`${noIntrospection.url}${WELL_KNOWN}`)
    assert.equal('introspection_endpoint' in doc, false)
    assert.equal('introspection_endpoint_auth_methods_supported' in doc, false)
    lintMetadata(doc, noIntrospection.issuer)
    const res = await post(`${noIntrospection.issuer}/introspect`, {
      basic: ['bare', 'bare-secret'],
      form: { token: 'kh_at_x' },
    })
    assert.equal(res.status, 404)
    // Revocation is untouched: published and working.
    assert.equal(doc.revocation_endpoint, `${noIntrospection.issuer}/revoke`)
    const revoked = await post(String(doc.revocation_endpoint), {
      basic: ['solo', 'solo-secret'],
      form: { token: 'kh_at_x' },
    })
    assert.equal(revoked.status, 200, revoked.text)
  })

  test('M-14 M-09 with no scope registered, scopes_supported is omitted rather than empty', async () => {
    const doc = await fetchMetadata(`${noIntrospection.url}${WELL_KNOWN}`)
    assert.equal('scopes_supported' in doc, false)
    // The default server, for contrast, lists its scopes.
    assert.ok('scopes_supported' in (await fetchMetadata(`${plain.url}${WELL_KNOWN}`)))
  })
})

// ---------------------------------------------------------------------------------------------
// configuration errors: `keyhole serve` refuses to start and names the option
// ---------------------------------------------------------------------------------------------

describe('configuration errors name the option path and stop the server', {
  concurrency: true,
}, () => {
  const resources = fixtureConfig().resources
  const clients = fixtureConfig().clients as Record<string, unknown>[]

  test('M-01 an issuer with a query or a fragment is refused', async () => {
    assertRefused(
      await serveExpectingRefusal({ resources, clients, issuer: 'https://as.example.test/?x=1' }),
      /issuer: must not have a query or fragment/,
    )
    assertRefused(
      await serveExpectingRefusal({ resources, clients, issuer: 'https://as.example.test/t#f' }),
      /issuer: must not have a query or fragment/,
    )
  })

  test('M-01 an issuer that is not an http(s) URL is refused', async () => {
    assertRefused(
      await serveExpectingRefusal({ issuer: 'as.example.test' }),
      /issuer: must be an absolute URL/,
    )
    assertRefused(
      await serveExpectingRefusal({ issuer: 'ftp://as.example.test' }),
      /issuer: must be an https URL/,
    )
  })

  test('O-07 a client scope that no resource owns is refused, naming clients[0].scopes[0]', async () => {
    const refusal = await serveExpectingRefusal({
      resources,
      clients: [{ id: 'shop', secret: 'shop-secret', scopes: ['nope:read'] }],
    })
    assertRefused(refusal, /clients\[0\]\.scopes\[0\]: "nope:read" is not a scope of any resource/)
  })

  test('O-07 a scope outside the RFC 6749 §3.3 syntax is refused, naming resources[0].scopes[1]', async () => {
    const refusal = await serveExpectingRefusal({
      resources: [
        { id: 'r', audience: 'https://r.example.test', secret: 's', scopes: ['ok', 'not ok'] },
      ],
    })
    assertRefused(refusal, /resources\[0\]\.scopes\[1\]/)
  })

  test('X-01 a resource audience with a fragment is refused, naming resources[1].audience', async () => {
    const refusal = await serveExpectingRefusal({
      resources: [
        { id: 'a', audience: 'https://a.example.test', secret: 's', scopes: [] },
        { id: 'b', audience: 'https://b.example.test#frag', secret: 's', scopes: [] },
      ],
    })
    assertRefused(refusal, /resources\[1\]\.audience: must be an absolute URI without a fragment/)
  })

  test('O-08 a client without a secret (a public client) is refused', async () => {
    assertRefused(
      await serveExpectingRefusal({
        resources,
        clients: [{ id: 'public', scopes: ['orders:read'] }],
      }),
      /clients\[0\]: give exactly one of secret, secretHash or jwks/,
    )
  })

  test('O-08 a grant type other than client_credentials is refused, naming clients[0].grantTypes[0]', async () => {
    assertRefused(
      await serveExpectingRefusal({
        resources,
        clients: [{ id: 'c', secret: 's', grantTypes: ['refresh_token'] }],
      }),
      /clients\[0\]\.grantTypes\[0\]/,
    )
  })

  test('client ids: duplicates and leading spaces are refused, inner spaces (RFC 6749 A.1 VSCHAR) are not', async () => {
    assertRefused(
      await serveExpectingRefusal({
        resources,
        clients: [...clients, { id: 'shop', secret: 's' }],
      }),
      /clients\[3\]\.id: "shop" is already used by clients\[0\]/,
    )
    assertRefused(
      await serveExpectingRefusal({ resources, clients: [{ id: ' shop', secret: 's' }] }),
      /clients\[0\]\.id: /,
    )
    // A valid id with a space, next to an error elsewhere: only the error is reported.
    const refusal = await serveExpectingRefusal({
      resources,
      clients: [{ id: 'a b', secret: 's' }],
      limits: { bodyBytes: 10 },
    })
    assertRefused(refusal, /limits\.bodyBytes/)
    assert.doesNotMatch(refusal.stderr, /clients\[0\]/)
  })

  test('limits, throttle and features options are checked, naming their paths', async () => {
    assertRefused(
      await serveExpectingRefusal({ limits: { bodyBytes: 100 } }),
      /limits\.bodyBytes: /,
    )
    assertRefused(
      await serveExpectingRefusal({ throttle: { failedAuth: { limit: 0, windowSeconds: 60 } } }),
      /throttle\.failedAuth\.limit: /,
    )
    assertRefused(
      await serveExpectingRefusal({ features: { revocation: { enabled: 'no' } } }),
      /features\.revocation\.enabled: /,
    )
    assertRefused(await serveExpectingRefusal({ tokenTtl: 5 }), /tokenTtl: /)
  })

  test('every problem is reported at once', async () => {
    const refusal = await serveExpectingRefusal({
      issuer: 'https://as.example.test/#x',
      resources,
      clients: [
        { id: 'shop', secret: 's', scopes: ['nope'] },
        { id: 'orders', secret: 's' },
      ],
    })
    assertRefused(
      refusal,
      /issuer: /,
      /clients\[0\]\.scopes\[0\]: /,
      /clients\[1\]\.id: "orders" is already used by resources\[0\]/,
    )
  })

  test('BCP-04 configuration errors never print a secret, even a malformed one or one in broken JSON', async () => {
    const secret = 'leaky-secret-3b9f1c'
    const broken = await serveExpectingRefusal(`{"clients":[{"id":"x","secret":"${secret}"`)
    assertRefused(broken, /not valid JSON/)
    assert.equal(broken.stderr.includes(secret), false, broken.stderr)
    const numeric = await serveExpectingRefusal({ clients: [{ id: 'x', secret: 918273645 }] })
    assertRefused(numeric, /clients\[0\]\.secret: /)
    assert.equal(numeric.stderr.includes('918273645'), false, numeric.stderr)
    const hash = await serveExpectingRefusal({
      clients: [{ id: 'x', secretHash: [secret] }],
    })
    assertRefused(hash, /clients\[0\]\.secretHash: /)
    assert.equal(hash.stderr.includes(secret), false, hash.stderr)
  })
})
