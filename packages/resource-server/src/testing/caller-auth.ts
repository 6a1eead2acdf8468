/**
 * Client authentication of introspection callers at the test authorization server: RFC 6749
 * §2.3.1 client_secret_basic (form-decoded after base64, raw values tolerated) and
 * client_secret_post, and RFC 7523 private_key_jwt verified against a registered public JWK.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { decodeJwt, decodeProtectedHeader, importJWK, type JWK, jwtVerify } from 'jose'

/** An introspection caller registered at the test authorization server. */
export interface TestClient {
  readonly clientId: string
  /** Accepted with client_secret_basic and client_secret_post. */
  readonly clientSecret?: string
  /** The public key of a private_key_jwt caller. */
  readonly publicJwk?: JWK
}

export type CallerAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'

export type CallerAuthentication =
  | { readonly ok: true; readonly clientId: string; readonly method: CallerAuthMethod }
  | {
      readonly ok: false
      readonly status: 400 | 401
      readonly error: 'invalid_request' | 'invalid_client'
      /** Basic was tried: RFC 6749 §5.2 requires a WWW-Authenticate answer. */
      readonly basic: boolean
    }

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const ASSERTION_ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']

const sameSecret = (a: string, b: string) =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())

/** RFC 6749 Appendix B: `+` is a space, then percent-decoding. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}

export function createCallerAuthenticator(
  clients: readonly TestClient[],
  audiences: readonly string[],
): (headers: IncomingHttpHeaders, form: URLSearchParams) => Promise<CallerAuthentication> {
  const byId = new Map(clients.map((c) => [c.clientId, c]))
  const seenJti = new Set<string>()

  function secretMatches(clientId: string, secret: string): boolean {
    const client = byId.get(clientId)
    return client?.clientSecret !== undefined && sameSecret(client.clientSecret, secret)
  }

  async function assertionCaller(
    assertion: string,
    claimedId: string | null,
  ): Promise<string | undefined> {
    let iss: unknown
    let alg: unknown
    try {
      iss = decodeJwt(assertion).iss
      alg = decodeProtectedHeader(assertion).alg
    } catch {
      return undefined
    }
    // The registered key is read for the assertion's algorithm when the key does not name one
    // (keys exported by node or jose do not): every algorithm the metadata advertises works.
    if (typeof alg !== 'string' || !ASSERTION_ALGS.includes(alg)) return undefined
    if (typeof iss !== 'string' || (claimedId !== null && claimedId !== iss)) return undefined
    const jwk = byId.get(iss)?.publicJwk
    if (jwk === undefined) return undefined
    try {
      const key = await importJWK(jwk, jwk.alg ?? alg)
      // RFC 7523 §3: iss = sub = client_id, aud names this server, exp required, jti single-use.
      const { payload } = await jwtVerify(assertion, key, {
        issuer: iss,
        subject: iss,
        audience: [...audiences],
        algorithms: ASSERTION_ALGS,
        requiredClaims: ['exp', 'jti'],
      })
      const jti = `${iss}\0${String(payload.jti)}`
      if (seenJti.has(jti)) return undefined
      seenJti.add(jti)
      return iss
    } catch {
      return undefined
    }
  }

  return async (headers, form) => {
    const authorization = headers.authorization
    const basic = typeof authorization === 'string' && /^basic /i.test(authorization)
    const secret = form.get('client_secret')
    const assertion = form.get('client_assertion')
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    if ([basic, secret !== null, assertion !== null].filter(Boolean).length > 1) {
      return { ok: false, status: 400, error: 'invalid_request', basic }
    }
    const refused = { ok: false, status: 401, error: 'invalid_client', basic } as const
    if (basic) {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon === -1) return refused
      const rawId = decoded.slice(0, colon)
      const rawSecret = decoded.slice(colon + 1)
      const id = formDecode(rawId)
      const pass = formDecode(rawSecret)
      if (id !== undefined && pass !== undefined && secretMatches(id, pass)) {
        return { ok: true, clientId: id, method: 'client_secret_basic' }
      }
      // Checklist Q-06: many clients skip the form-encoding (pitfall P-09).
      if (secretMatches(rawId, rawSecret))
        return { ok: true, clientId: rawId, method: 'client_secret_basic' }
      return refused
    }
    if (secret !== null) {
      const id = form.get('client_id')
      if (id !== null && secretMatches(id, secret))
        return { ok: true, clientId: id, method: 'client_secret_post' }
      return refused
    }
    if (assertion !== null) {
      if (form.get('client_assertion_type') !== ASSERTION_TYPE) return refused
      const id = await assertionCaller(assertion, form.get('client_id'))
      return id === undefined ? refused : { ok: true, clientId: id, method: 'private_key_jwt' }
    }
    return refused
  }
}
