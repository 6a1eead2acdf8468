/**
 * `@keyhole/resource-server/testing`: a throwaway OAuth authorization server for your own tests.
 *
 * It listens on 127.0.0.1 (a free port), speaks real HTTP, and serves what a resource server
 * needs: RFC 8414 metadata, a JWKS (one generated ES256 or RS256 key), and RFC 7662 introspection
 * with client authentication of registered callers (client_secret_basic, form-decoded as RFC 6749
 * §2.3.1 says; client_secret_post; private_key_jwt against a registered public JWK), plus RFC 9701
 * signed answers when the request asks with `Accept: application/token-introspection+jwt`.
 * Tokens are minted in process, no token endpoint involved. It also serves Keyhole revocation
 * events (`/revocation-events`, advertised as `keyhole_revocation_events_endpoint`): `revoke()`
 * pushes a `revoked` event to every open stream, so a verifier created with
 * `revocationEvents: true` drops the token from its cache at once.
 *
 * ```ts
 * import { startTestAuthorizationServer } from '@keyhole/resource-server/testing'
 *
 * const as = await startTestAuthorizationServer()
 * const verifier = createTokenVerifier({
 *   issuer: as.issuer,
 *   audience: as.audience,
 *   credentials: as.credentials,
 * })
 * const token = as.issueToken({ scope: 'orders:read' })
 * // ... send `Authorization: Bearer ${token}` to your API and assert ...
 * as.revoke(token)          // introspection now says {"active":false}
 * as.setMode('down')        // an outage: your API should answer 503 with Retry-After
 * assert.equal(as.introspectionCount, 1)
 * await as.close()
 * ```
 *
 * It answers truthfully about every token it issued, to every registered caller: it does not
 * narrow answers per caller, so that your API's own audience, issuer and scope checks are what a
 * test exercises. Members given in `extra` are sent verbatim (even `null` or wrong types), which
 * is how an AS's quirks are reproduced; `respondWith()` forces any answer at all.
 */

import { hash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { JWK } from 'jose'
import { certificateThumbprint } from '../mtls.ts'
import { type CallerAuthMethod, createCallerAuthenticator, type TestClient } from './caller-auth.ts'
import { createSigningKey, newId, type SigningAlg } from './signing.ts'

export { certificateThumbprint } from '../mtls.ts'
export type { CallerAuthMethod, TestClient } from './caller-auth.ts'
export type { SigningAlg } from './signing.ts'

/**
 * How the introspection endpoint behaves.
 * - `normal`: honest answers.
 * - `down`: every connection to the server (metadata and JWKS included) is destroyed as soon as a
 *   request arrives, as if the AS were unreachable; such requests are not counted.
 * - `error`: introspection answers 500 `{"error":"server_error"}`.
 * - `garbage`: introspection answers 200 `application/json` that is not JSON.
 * - `html`: introspection answers 200 `text/html` (a login page, pitfall P-06).
 * - `slow`: introspection answers normally after `slowMs` (default 10 s), past any sane timeout.
 * - `active-string`: the normal members, but `active` is the string `"true"` / `"false"` (P-02).
 */
export type TestServerMode =
  | 'normal'
  | 'down'
  | 'error'
  | 'garbage'
  | 'html'
  | 'slow'
  | 'active-string'

export interface TestAuthorizationServerOptions {
  /**
   * Registered introspection callers. Default: one client `test-rs` with a random secret,
   * exposed as `credentials`.
   */
  readonly clients?: readonly TestClient[]
  /** The default `aud` of issued tokens. Default `https://api.example.test`. */
  readonly audience?: string
  /** Algorithm of the signing key (JWKS, `issueJwt`, RFC 9701 answers). Default ES256. */
  readonly alg?: SigningAlg
  /** A path for the issuer identifier, e.g. `/tenant-a` (RFC 8414 §3 inserts the well-known segment before it). */
  readonly issuerPath?: string
  /** How long `slow` mode waits, milliseconds. Default 10000. */
  readonly slowMs?: number
  /**
   * Members added to (or replacing) the RFC 8414 metadata document, or a function of the default
   * document returning the one to serve (e.g. `(d) => ({ ...d, issuer: `${d.issuer}/` })`).
   */
  readonly metadata?:
    | Readonly<Record<string, unknown>>
    | ((defaults: Readonly<Record<string, unknown>>) => Readonly<Record<string, unknown>>)
  /**
   * The `heartbeat` of revocation event streams, seconds: announced in `ready`, and how often
   * `heartbeat` events (with the stream's position) are sent. Default 15. Small values test a subscriber's idle timeout.
   */
  readonly revocationHeartbeatSeconds?: number
}

export interface IssueTokenOptions {
  /** Space-separated scopes. Default: no `scope` member. */
  readonly scope?: string
  /** Default: the server's `audience`. `null` leaves `aud` out. */
  readonly aud?: string | readonly string[] | null
  readonly sub?: string
  /** Default `test-client`. */
  readonly clientId?: string
  /** Lifetime, seconds. Default 3600. `null`: no `exp`, never expires. */
  readonly expiresIn?: number | null
  /** Confirmation (RFC 7800), e.g. `{ jkt }` for a DPoP-bound token. */
  readonly cnf?: Readonly<Record<string, unknown>>
  /**
   * Bind the token to this client certificate (RFC 8705 §3), PEM text or DER bytes: adds
   * `"x5t#S256"` to `cnf`. For a JWT: `issueJwt({ cnf: { 'x5t#S256': certificateThumbprint(pem) } })`.
   */
  readonly certificate?: string | Uint8Array
  /** Default `Bearer` (`DPoP` when `cnf.jkt` is given). `null` leaves `token_type` out. */
  readonly tokenType?: string | null
  /**
   * Members sent verbatim, last, overriding the computed ones (`extra: { exp: '1700000000' }`).
   * Whether the server says active still follows `expiresIn` and `revoke()`.
   */
  readonly extra?: Readonly<Record<string, unknown>>
}

export interface ForcedAnswer {
  /** Default 200. */
  readonly status?: number
  /** Default `application/json`. */
  readonly contentType?: string
  readonly headers?: Readonly<Record<string, string>>
}

/** What the last introspection request carried (the token itself is not kept). */
export interface IntrospectionRequestInfo {
  /** The authenticated caller, when authentication succeeded. */
  readonly clientId: string | undefined
  readonly authMethod: CallerAuthMethod | undefined
  readonly accept: string | undefined
  readonly contentType: string | undefined
}

/** What the last accepted revocation events subscription carried. */
export interface RevocationSubscriptionInfo {
  readonly clientId: string
  readonly authMethod: CallerAuthMethod
  readonly accept: string | undefined
  /** The `last_event_id` form parameter, if sent. */
  readonly lastEventId: string | undefined
}

export interface TestAuthorizationServer {
  /** The issuer identifier, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly issuer: string
  readonly introspectionEndpoint: string
  readonly jwksUri: string
  /** The default audience of issued tokens. */
  readonly audience: string
  /** The first registered client that has a secret: pass it as `credentials` to the verifier. */
  readonly credentials: { readonly clientId: string; readonly clientSecret: string }
  /** The public JWKS. */
  readonly jwks: { readonly keys: readonly JWK[] }
  /** Introspection requests received (in every mode but `down`). */
  readonly introspectionCount: number
  readonly lastIntrospection: IntrospectionRequestInfo | undefined
  /** The Keyhole revocation events endpoint (also in the metadata). */
  readonly revocationEventsEndpoint: string
  /** Revocation event streams open now. */
  readonly revocationStreams: number
  /** Revocation event subscriptions accepted since the start (`reset()` leaves it alone). */
  readonly revocationSubscriptionCount: number
  readonly lastRevocationSubscription: RevocationSubscriptionInfo | undefined
  /** Mint an opaque access token the introspection endpoint knows about. */
  issueToken(options?: IssueTokenOptions): string
  /**
   * Mint an RFC 9068 JWT access token (`typ: at+jwt`) signed with the server's key. Defaults:
   * iss, aud (the server's audience), sub, client_id, iat, exp (+1 h), jti; `claims` override
   * them and `header` overrides the JOSE header. Introspection knows it too.
   */
  issueJwt(
    claims?: Readonly<Record<string, unknown>>,
    header?: Readonly<Record<string, unknown>>,
  ): string
  /** Sign any payload with the server's key (to craft answers that are wrong in one way). */
  sign(payload: unknown, header?: Readonly<Record<string, unknown>>): string
  /**
   * Introspection says `{"active":false}` from now on, and, the first time, a `revoked` event
   * (its base64url SHA-256) goes to every open revocation event stream and is kept for replay.
   * Streams are not narrowed by audience, as introspection answers are not. Returns whether the
   * token was known.
   */
  revoke(token: string): boolean
  /** End every open revocation event stream, as a server that drops connections would. */
  endRevocationStreams(): void
  /**
   * Forget every kept revocation event and take a new stream position, as a restarted server:
   * open streams end, and a subscriber that reconnects with its old `last_event_id` gets `reset`.
   */
  restartRevocationEvents(): void
  setMode(mode: TestServerMode): void
  /**
   * Answer every introspection request with `body` (a string is sent raw, anything else as JSON),
   * before authentication and whatever the Accept header; `undefined` stops it.
   */
  respondWith(body: unknown, init?: ForcedAnswer): void
  /** Back to `normal` mode, no forced answer, count at zero. */
  reset(): void
  close(): Promise<void>
}

interface TokenRecord {
  readonly members: Readonly<Record<string, unknown>>
  /** Epoch seconds; undefined: never. */
  readonly expiresAt: number | undefined
  revoked: boolean
}

const JWT_ANSWER = 'application/token-introspection+jwt'
/** Revocation events kept for replay (`last_event_id`); older ids get `reset`. */
const RETAINED_EVENTS = 1000
const nowSeconds = () => Math.floor(Date.now() / 1000)

function wantsJwt(accept: string | undefined): boolean {
  return (accept ?? '')
    .split(',')
    .some((range) => range.split(';')[0]?.trim().toLowerCase() === JWT_ANSWER)
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  contentType: string,
  headers: Readonly<Record<string, string>> = {},
) {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(body)
}

const json = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
) => send(res, status, JSON.stringify(body), 'application/json', headers)

/** Start a test authorization server on 127.0.0.1 and a free port. */
export async function startTestAuthorizationServer(
  options: TestAuthorizationServerOptions = {},
): Promise<TestAuthorizationServer> {
  const clients = options.clients ?? [
    { clientId: 'test-rs', clientSecret: randomBytes(24).toString('base64url') },
  ]
  const withSecret = clients.find((c) => c.clientSecret !== undefined)
  const audience = options.audience ?? 'https://api.example.test'
  const issuerPath = (options.issuerPath ?? '').replace(/\/$/, '')
  const slowMs = options.slowMs ?? 10_000
  const key = createSigningKey(options.alg ?? 'ES256')
  const tokens = new Map<string, TokenRecord>()
  const sockets = new Set<Socket>()
  const waits = new Set<{ timer: NodeJS.Timeout; done: () => void }>()

  let mode: TestServerMode = 'normal'
  let forced: { body: string; init: ForcedAnswer } | undefined
  let count = 0
  let last: IntrospectionRequestInfo | undefined
  const heartbeatSeconds = options.revocationHeartbeatSeconds ?? 15
  const streams = new Set<ServerResponse>()
  // Ids are `<boot id>.<sequence>`, as @keyhole/server's: a new boot id is a restart.
  let bootId = randomBytes(6).toString('base64url')
  let sequence = 0
  let retained: { readonly sequence: number; readonly frame: string }[] = []
  let heartbeats: NodeJS.Timeout | undefined
  let subscriptionCount = 0
  let lastSubscription: RevocationSubscriptionInfo | undefined

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'server_error' })
      else res.destroy()
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`
  const issuer = `${origin}${issuerPath}`
  const introspectionEndpoint = `${issuer}/introspect`
  const jwksUri = `${issuer}/jwks`
  const revocationEventsEndpoint = `${issuer}/revocation-events`
  const metadataPath = `/.well-known/oauth-authorization-server${issuerPath}`
  const authenticate = createCallerAuthenticator(clients, [issuer, introspectionEndpoint])

  const defaults = {
    issuer,
    introspection_endpoint: introspectionEndpoint,
    jwks_uri: jwksUri,
    introspection_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
    ],
    introspection_endpoint_auth_signing_alg_values_supported: [
      'RS256',
      'PS256',
      'ES256',
      'ES384',
      'EdDSA',
    ],
    introspection_signing_alg_values_supported: [key.alg],
    keyhole_revocation_events_endpoint: revocationEventsEndpoint,
  }
  const metadata =
    typeof options.metadata === 'function'
      ? options.metadata(defaults)
      : { ...defaults, ...options.metadata }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wait = {
        timer: setTimeout(() => {
          waits.delete(wait)
          resolve()
        }, ms),
        done: resolve,
      }
      waits.add(wait)
    })
  }

  function answerFor(token: string | null): Record<string, unknown> {
    const record = token === null ? undefined : tokens.get(token)
    if (
      record === undefined ||
      record.revoked ||
      (record.expiresAt !== undefined && record.expiresAt <= nowSeconds())
    ) {
      return { active: false }
    }
    return { active: true, ...record.members }
  }

  async function introspect(req: IncomingMessage, res: ServerResponse) {
    count++
    const body = await readBody(req)
    const form = new URLSearchParams(body)
    const accept = req.headers.accept
    last = {
      clientId: undefined,
      authMethod: undefined,
      accept,
      contentType: req.headers['content-type'],
    }
    if (mode === 'slow') {
      await sleep(slowMs)
      if (res.destroyed) return
    }
    if (forced !== undefined) {
      const { status = 200, contentType = 'application/json', headers = {} } = forced.init
      return send(res, status, forced.body, contentType, headers)
    }
    switch (mode) {
      case 'error':
        return json(res, 500, { error: 'server_error' })
      case 'garbage':
        return send(res, 200, '{"active": tru', 'application/json')
      case 'html':
        return send(
          res,
          200,
          '<!doctype html><html><body><form action="/login">Sign in</form></body></html>',
          'text/html; charset=utf-8',
        )
      default:
        break
    }
    if (req.method !== 'POST')
      return json(res, 405, { error: 'invalid_request' }, { allow: 'POST' })
    const caller = await authenticate(req.headers, form)
    if (!caller.ok) return refuseCaller(res, caller)
    last = { ...last, clientId: caller.clientId, authMethod: caller.method }
    const token = form.get('token')
    if (token === null || token === '') {
      return json(res, 400, { error: 'invalid_request', error_description: 'token is required' })
    }
    const answer = answerFor(token)
    if (mode === 'active-string') answer.active = String(answer.active)
    if (wantsJwt(accept)) {
      // RFC 9701 §5: iss, aud (the caller), iat and the members inside token_introspection.
      const jwt = key.sign(
        { iss: issuer, aud: caller.clientId, iat: nowSeconds(), token_introspection: answer },
        { typ: 'token-introspection+jwt' },
      )
      return send(res, 200, jwt, JWT_ANSWER)
    }
    return json(res, 200, answer)
  }

  /** The retained frames after `lastEventId`, or `reset` when they cannot be told. */
  function replayAfter(lastEventId: string): string {
    const dot = lastEventId.lastIndexOf('.')
    const seen = Number(lastEventId.slice(dot + 1))
    const oldest = retained[0]?.sequence ?? sequence + 1
    if (
      dot === -1 ||
      lastEventId.slice(0, dot) !== bootId ||
      !/^\d+$/.test(lastEventId.slice(dot + 1)) ||
      seen > sequence ||
      seen < oldest - 1
    ) {
      return 'event: reset\ndata: {}\n\n'
    }
    return retained
      .filter((event) => event.sequence > seen)
      .map((event) => event.frame)
      .join('')
  }

  /** RFC 6749 §5.2: a failed client authentication, with a Basic challenge when Basic was used. */
  function refuseCaller(
    res: ServerResponse,
    caller: { readonly status: number; readonly error: string; readonly basic: boolean },
  ) {
    json(
      res,
      caller.status,
      { error: caller.error },
      caller.basic ? { 'www-authenticate': `Basic realm="${issuer}"` } : {},
    )
  }

  async function subscribe(req: IncomingMessage, res: ServerResponse) {
    if (req.method !== 'POST')
      return json(res, 405, { error: 'invalid_request' }, { allow: 'POST' })
    const form = new URLSearchParams(await readBody(req))
    const caller = await authenticate(req.headers, form)
    if (!caller.ok) return refuseCaller(res, caller)
    // The subscriber may have gone while it was authenticated: nothing would remove its stream.
    if (res.destroyed || req.socket.destroyed) return
    const lastEventId = form.get('last_event_id') ?? undefined
    subscriptionCount++
    lastSubscription = {
      clientId: caller.clientId,
      authMethod: caller.method,
      accept: req.headers.accept,
      lastEventId,
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    const replay = lastEventId === undefined ? '' : replayAfter(lastEventId)
    const ready = `event: ready\nid: ${bootId}.${sequence}\ndata: ${JSON.stringify({ heartbeat: heartbeatSeconds })}\n\n`
    res.write(replay + ready)
    streams.add(res)
    res.once('close', () => streams.delete(res))
    heartbeats ??= setInterval(() => {
      // With the position, as @keyhole/server's: a quiet subscriber resumes from here.
      const frame = `event: heartbeat\nid: ${bootId}.${sequence}\ndata: {}\n\n`
      for (const stream of streams) stream.write(frame)
    }, heartbeatSeconds * 1000).unref()
  }

  function endStreams() {
    for (const stream of streams) stream.end()
    streams.clear()
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    if (mode === 'down') {
      req.socket.destroy()
      return
    }
    const path = new URL(req.url ?? '/', origin).pathname
    if (path === metadataPath && req.method === 'GET') return json(res, 200, metadata)
    if (path === `${issuerPath}/jwks` && req.method === 'GET') {
      return send(res, 200, JSON.stringify({ keys: [key.publicJwk] }), 'application/jwk-set+json')
    }
    if (path === `${issuerPath}/introspect`) return introspect(req, res)
    if (path === `${issuerPath}/revocation-events`) return subscribe(req, res)
    return json(res, 404, { error: 'not_found' })
  }

  function remember(
    token: string,
    members: Record<string, unknown>,
    expiresAt: number | undefined,
  ) {
    tokens.set(token, { members, expiresAt, revoked: false })
    return token
  }

  return {
    issuer,
    introspectionEndpoint,
    jwksUri,
    audience,
    credentials: {
      clientId: withSecret?.clientId ?? '',
      clientSecret: withSecret?.clientSecret ?? '',
    },
    jwks: { keys: [key.publicJwk] },
    get introspectionCount() {
      return count
    },
    get lastIntrospection() {
      return last
    },
    revocationEventsEndpoint,
    get revocationStreams() {
      return streams.size
    },
    get revocationSubscriptionCount() {
      return subscriptionCount
    },
    get lastRevocationSubscription() {
      return lastSubscription
    },

    issueToken(o = {}) {
      const iat = nowSeconds()
      const expiresIn = o.expiresIn === undefined ? 3600 : o.expiresIn
      const exp = expiresIn === null ? undefined : iat + expiresIn
      const aud = o.aud === undefined ? audience : o.aud
      const cnf =
        o.certificate === undefined
          ? o.cnf
          : { ...o.cnf, 'x5t#S256': certificateThumbprint(o.certificate) }
      const tokenType =
        o.tokenType === undefined ? (typeof cnf?.jkt === 'string' ? 'DPoP' : 'Bearer') : o.tokenType
      const members: Record<string, unknown> = {
        iss: issuer,
        client_id: o.clientId ?? 'test-client',
        iat,
        jti: newId(),
        ...(exp === undefined ? {} : { exp }),
        ...(aud === null ? {} : { aud }),
        ...(o.scope === undefined ? {} : { scope: o.scope }),
        ...(o.sub === undefined ? {} : { sub: o.sub }),
        ...(tokenType === null ? {} : { token_type: tokenType }),
        ...(cnf === undefined ? {} : { cnf }),
        ...o.extra,
      }
      return remember(`kt_${randomBytes(24).toString('base64url')}`, members, exp)
    },

    issueJwt(claims = {}, header = {}) {
      const iat = nowSeconds()
      const payload: Record<string, unknown> = {
        iss: issuer,
        aud: audience,
        sub: 'test-subject',
        client_id: 'test-client',
        iat,
        exp: iat + 3600,
        jti: newId(),
        ...claims,
      }
      const jwt = key.sign(payload, { typ: 'at+jwt', ...header })
      const exp = typeof payload.exp === 'number' ? payload.exp : undefined
      return remember(jwt, { ...payload, token_type: 'Bearer' }, exp)
    },

    sign: (payload, header) => key.sign(payload, header),

    revoke(token) {
      const record = tokens.get(token)
      if (record === undefined) return false
      if (record.revoked) return true
      record.revoked = true
      sequence++
      const data = {
        token_hashes: [hash('sha256', token, 'base64url')],
        revoked_at: Date.now(),
      }
      const frame = `event: revoked\nid: ${bootId}.${sequence}\ndata: ${JSON.stringify(data)}\n\n`
      retained.push({ sequence, frame })
      if (retained.length > RETAINED_EVENTS) retained.shift()
      for (const stream of streams) stream.write(frame)
      return true
    },

    endRevocationStreams: endStreams,

    restartRevocationEvents() {
      bootId = randomBytes(6).toString('base64url')
      sequence = 0
      retained = []
      endStreams()
    },

    setMode(next) {
      mode = next
    },

    respondWith(body, init = {}) {
      forced =
        body === undefined
          ? undefined
          : { body: typeof body === 'string' ? body : JSON.stringify(body), init }
    },

    reset() {
      mode = 'normal'
      forced = undefined
      count = 0
      last = undefined
    },

    async close() {
      clearInterval(heartbeats)
      endStreams()
      for (const wait of waits) {
        clearTimeout(wait.timer)
        wait.done()
      }
      waits.clear()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      await closed
    },
  }
}
