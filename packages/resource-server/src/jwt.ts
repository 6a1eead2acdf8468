/**
 * Local validation of JWT access tokens (RFC 9068 §4, RFC 8725).
 *
 * CONTRACT (implemented by the JWT work item): typ `at+jwt`/`application/at+jwt` (case-insensitive;
 * `allow-jwt` mode also JWT or none), alg allow-list (never none/HS*), signature with the issuer's
 * JWKS (from metadata jwks_uri unless configured; cached; cooldown on unknown kid; jku/x5u ignored),
 * iss exact, aud contains the audience, exp/nbf with skew, required claims iss exp aud sub client_id
 * iat jti, an RFC 9701 introspection JWT (typ token-introspection+jwt) is rejected.
 * Returns the TokenInfo shape normalizeIntrospection produces (scope claim string or array).
 * Throws AsUnavailableError when the JWKS cannot be fetched.
 */
import type { AuthorizationServerMetadata } from '@keyhole/protocol'
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type ProtectedHeaderParameters,
} from 'jose'
import { type AsHttpClient, AsUnavailableError } from './http-client.ts'
import { normalizeIntrospection, type TokenInfo } from './normalize.ts'
import type { JwtOptions } from './options.ts'

export interface JwtValidatorConfig {
  readonly issuer: string
  readonly audience: string
  readonly http: AsHttpClient
  readonly metadata: (deadline: number) => Promise<AuthorizationServerMetadata>
  readonly jwksUri?: string | undefined
  readonly options: JwtOptions
  readonly clockSkew: number
  /** JWKS cache timing, milliseconds (tests shorten it; the verifier uses the defaults). */
  readonly jwksCache?: JwksCacheTiming | undefined
}

export interface JwksCacheTiming {
  /** Keys older than this are refetched before use. Default 10 minutes. */
  readonly refreshMs?: number
  /** At most one fetch per this interval on an unknown `kid` or after a failed refresh. Default 30 s. */
  readonly cooldownMs?: number
  /** When a refresh fails, keys up to this old keep being used. Default 1 hour. */
  readonly maxStaleMs?: number
}

export type JwtOutcome =
  | { readonly ok: true; readonly info: TokenInfo }
  | { readonly ok: false; readonly reason: string }

export interface JwtValidator {
  validate(token: string, deadline: number): Promise<JwtOutcome>
}

/**
 * RFC 8725 §3.1-3.2: the asymmetric JWS algorithms a verifier may be configured with. `none` and
 * HS* are never accepted: with a published JWKS, an HMAC "secret" would be a public key (S-01).
 */
export const ASYMMETRIC_JWS_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
])

/** Checks a configured allow-list once, at construction: a bad one is a programming error. */
export function allowedAlgorithms(
  configured: readonly string[] | undefined,
  fallback: readonly string[],
  where: string,
): string[] {
  const list = [...(configured ?? fallback)]
  if (list.length === 0) throw new TypeError(`${where}: the algorithm allow-list is empty`)
  for (const alg of list) {
    if (!ASYMMETRIC_JWS_ALGORITHMS.has(alg)) {
      throw new TypeError(`${where}: "${alg}" is not an allowed asymmetric JWS algorithm`)
    }
  }
  return list
}

/** Three base64url segments whose header is a JSON object with `alg`: a JWS compact serialization. */
export function looksLikeJwt(token: string): boolean {
  const parts = token.split('.')
  if (parts.length !== 3) return false
  try {
    const header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as unknown
    return typeof header === 'object' && header !== null && 'alg' in header
  } catch {
    return false
  }
}

/** The `iss` claim of a JWT, read WITHOUT verification: only to pick which issuer verifies it. */
export function unverifiedIssuer(token: string): string | undefined {
  try {
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as unknown
    const iss = (payload as { iss?: unknown } | null)?.iss
    return typeof iss === 'string' ? iss : undefined
  } catch {
    return undefined
  }
}

const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const
// RFC 9068 §2.2 / checklist A-03.
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']
const KNOWN_CLAIMS = new Set([...REQUIRED_CLAIMS, 'nbf'])

/**
 * RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, and `application/` may be
 * left out. Returns the full lower-case media type.
 */
function mediaType(typ: string): string {
  const lower = typ.toLowerCase()
  return lower.includes('/') ? lower : `application/${lower}`
}

const invalid = (reason: string): JwtOutcome => ({ ok: false, reason })

/**
 * What picks a key from the JWKS: `alg` and `kid` only. `jku`, `x5u`, `x5c` and `jwk` in a token
 * header are never read, let alone followed (RFC 8725 §3.10, checklist S-09).
 */
interface KeySelector {
  readonly alg: string
  readonly kid?: string
}

interface KeySet {
  readonly resolve: ReturnType<typeof createLocalJWKSet>
  readonly fetchedAt: number
}

/**
 * The issuer's JWKS, fetched through the verifier's undici client (so the request deadline,
 * retries, response size cap and connection pool all apply) and held as a jose local key set.
 *
 * Why not jose's createRemoteJWKSet: it fetches with global fetch (no deadline shared with the
 * request, none of the pool limits), needs the URL when created (ours may come from discovery),
 * reports failures as its own errors (we need AsUnavailableError → 503), and drops the keys when
 * a refresh fails. This cache gives the same guarantees plus stale-if-error:
 * - fresh for `refreshMs`; then refetched before use;
 * - one fetch at a time (single flight): concurrent callers share it;
 * - an unknown `kid` refetches at most once per `cooldownMs` (key rotation works, random kids do
 *   not hammer the AS);
 * - a failed refresh keeps the previous keys for up to `maxStaleMs` (and waits `cooldownMs`
 *   before trying again), so a JWKS outage does not turn every request into a 503.
 */
function createJwksCache(config: JwtValidatorConfig) {
  const refreshMs = config.jwksCache?.refreshMs ?? 600_000
  const cooldownMs = config.jwksCache?.cooldownMs ?? 30_000
  const maxStaleMs = config.jwksCache?.maxStaleMs ?? 3_600_000
  let current: KeySet | undefined
  let pending: Promise<KeySet> | undefined
  /** When the last fetch started (unknown-kid cooldown) and when one last failed (refresh backoff). */
  let lastAttempt = Number.NEGATIVE_INFINITY
  let lastFailure = Number.NEGATIVE_INFINITY

  async function jwksUrl(deadline: number): Promise<URL> {
    // RFC 9068 §4 / RFC 8414 §2: the keys come from the issuer's own metadata (RFC 8725 §3.8).
    const uri = config.jwksUri ?? (await config.metadata(deadline)).jwks_uri
    if (typeof uri !== 'string') throw new AsUnavailableError('the metadata has no jwks_uri')
    try {
      return new URL(uri)
    } catch {
      throw new AsUnavailableError('the jwks_uri is not a URL')
    }
  }

  async function download(deadline: number): Promise<KeySet> {
    const url = await jwksUrl(deadline)
    const res = await config.http.request(
      url,
      { method: 'GET', headers: { accept: 'application/jwk-set+json, application/json' } },
      deadline,
    )
    if (res.status !== 200) throw new AsUnavailableError(`the JWKS request answered ${res.status}`)
    let doc: unknown
    try {
      doc = JSON.parse(res.body.toString('utf8'))
    } catch {
      throw new AsUnavailableError('the JWKS is not JSON')
    }
    let resolve: KeySet['resolve']
    try {
      resolve = createLocalJWKSet(doc as JSONWebKeySet)
    } catch {
      throw new AsUnavailableError('the JWKS is malformed')
    }
    current = { resolve, fetchedAt: Date.now() }
    return current
  }

  function fetchKeys(deadline: number): Promise<KeySet> {
    if (pending === undefined) {
      lastAttempt = Date.now()
      pending = download(deadline)
        .catch((err: unknown) => {
          lastFailure = Date.now()
          throw err
        })
        .finally(() => {
          pending = undefined
        })
    }
    return pending
  }

  async function keySet(deadline: number): Promise<KeySet> {
    const now = Date.now()
    if (current !== undefined && now - current.fetchedAt < refreshMs) return current
    if (pending !== undefined) return pending.catch((err: unknown) => staleOr(err))
    const stale = current !== undefined && now - current.fetchedAt < maxStaleMs
    // A refresh failed a moment ago: keep the old keys instead of asking again on every request.
    if (stale && current !== undefined && now - lastFailure < cooldownMs) return current
    return fetchKeys(deadline).catch((err: unknown) => staleOr(err))
  }

  function staleOr(err: unknown): KeySet {
    if (
      err instanceof AsUnavailableError &&
      current !== undefined &&
      Date.now() - current.fetchedAt < maxStaleMs
    ) {
      return current
    }
    throw err
  }

  /** Only alg and kid select a key (both already checked to be strings). */
  async function candidates(set: KeySet, selector: KeySelector) {
    try {
      return [await set.resolve({ ...selector })]
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey) throw err
      // The AS published a key that cannot be imported: its fault, not the token's.
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) {
        throw new AsUnavailableError('the JWKS holds an unusable key')
      }
      // No kid and several keys fit: try each (jose's documented pattern).
      const keys = []
      for await (const key of err) keys.push(key)
      return keys
    }
  }

  return {
    async keysFor(selector: KeySelector, deadline: number) {
      const set = await keySet(deadline)
      try {
        return await candidates(set, selector)
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
        // Unknown kid: maybe the AS rotated its keys. Join a fetch in flight, or start one if
        // the cooldown allows; otherwise the token is simply not signed by a key we know.
        if (pending === undefined && Date.now() - lastAttempt < cooldownMs) throw err
        return candidates(await (pending ?? fetchKeys(deadline)), selector)
      }
    },
  }
}

export function createJwtValidator(config: JwtValidatorConfig): JwtValidator {
  // RFC 8725 §3.1 / RFC 9068 §4: an explicit allow-list; RS256 is in the default (§2.1).
  const algorithms = allowedAlgorithms(
    config.options.algorithms,
    DEFAULT_ALGORITHMS,
    'options.jwt.algorithms',
  )
  const allowJwtTyp = config.options.typ === 'allow-jwt'
  const jwks = createJwksCache(config)

  function checkHeader(header: ProtectedHeaderParameters): string | undefined {
    // RFC 9068 §4 step 1 / RFC 8725 §3.11-3.12 (checklist A-08, S-10, S-11, J-15, P-12).
    const typ = header.typ
    if (typ !== undefined && typeof typ !== 'string') return 'the token type (typ) is malformed'
    const type = typ === undefined ? undefined : mediaType(typ)
    if (type === 'application/token-introspection+jwt') {
      // RFC 9701 §8.1: a signed introspection response is not an access token.
      return 'an introspection response is not an access token'
    }
    const accepted =
      type === 'application/at+jwt' ||
      (allowJwtTyp && (type === undefined || type === 'application/jwt'))
    if (!accepted) return 'the token type (typ) is not at+jwt'
    // RFC 8725 §3.1: the header's alg must be on the allow-list, compared case-sensitively.
    if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
      return 'the signing algorithm is not allowed'
    }
    if (header.kid !== undefined && typeof header.kid !== 'string') {
      return 'the key id (kid) is malformed'
    }
    return undefined
  }

  async function verifyWithKeys(token: string, selector: KeySelector, deadline: number) {
    const keys = await jwks.keysFor(selector, deadline)
    let lastError: unknown = new errors.JWSSignatureVerificationFailed()
    for (const key of keys) {
      try {
        return await jwtVerify(token, key, {
          algorithms,
          // RFC 9068 §4: iss exactly, aud contains ours, exp (and nbf) with a small leeway.
          issuer: config.issuer,
          audience: config.audience,
          clockTolerance: config.clockSkew,
          requiredClaims: REQUIRED_CLAIMS,
        })
      } catch (err) {
        lastError = err
        if (!(err instanceof errors.JWSSignatureVerificationFailed)) break
      }
    }
    throw lastError
  }

  return {
    async validate(token, deadline) {
      // RFC 8725 §3.3 / S-12: only a compact JWS; a JWE (five parts) is not what we verify here.
      if (token.split('.').length !== 3) return invalid('the token is not a signed JWT')
      let header: ProtectedHeaderParameters
      try {
        header = decodeProtectedHeader(token)
      } catch {
        return invalid('the token header is malformed')
      }
      const headerProblem = checkHeader(header)
      if (headerProblem !== undefined) return invalid(headerProblem)

      let payload: JWTPayload
      try {
        const selector: KeySelector = {
          alg: header.alg as string,
          ...(typeof header.kid === 'string' ? { kid: header.kid } : {}),
        }
        payload = (await verifyWithKeys(token, selector, deadline)).payload
      } catch (err) {
        if (err instanceof AsUnavailableError) throw err
        return invalid(reasonOf(err))
      }

      // RFC 9701 §8.1 / RFC 8725 §3.12: an introspection response never passes as an access token.
      if ('token_introspection' in payload) {
        return invalid('an introspection response is not an access token')
      }
      // RFC 9449 §6.1: `cnf.jkt` makes it a DPoP-bound token; the verifier then demands the proof.
      const cnf = payload.cnf
      const jkt =
        typeof cnf === 'object' && cnf !== null ? (cnf as { jkt?: unknown }).jkt : undefined
      const normalized = normalizeIntrospection({
        ...payload,
        active: true,
        token_type: typeof jkt === 'string' ? 'DPoP' : 'Bearer',
      })
      if (!normalized.ok) return invalid(normalized.reason)
      const info = normalized.value
      if (!info.active) return invalid('the token is not active')
      // RFC 9068 §2.2: present is not enough, the identifiers must be non-empty strings.
      if (info.sub === undefined) return invalid('the "sub" claim is missing')
      if (info.clientId === undefined) return invalid('the "client_id" claim is missing')
      if (info.jti === undefined) return invalid('the "jti" claim is missing')
      if (info.iat === undefined) return invalid('the "iat" claim is missing')
      if (info.exp === undefined) return invalid('the "exp" claim is missing')
      return { ok: true, info: { ...info, claims: payload } }
    },
  }
}

/** A short fixed text for a jose failure: never the token, never attacker-chosen text. */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired'
  if (err instanceof errors.JWTClaimValidationFailed) {
    const claim = KNOWN_CLAIMS.has(err.claim) ? err.claim : undefined
    if (err.reason === 'missing' && claim !== undefined) return `the "${claim}" claim is missing`
    if (claim === 'iss') return 'the token was issued by another issuer'
    if (claim === 'aud') return 'the token is not meant for this audience'
    if (claim === 'nbf') return 'the token is not valid yet'
    return claim === undefined ? 'a claim is invalid' : `the "${claim}" claim is invalid`
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature is invalid'
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key of the issuer matches the token'
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the signing algorithm is not allowed'
  return 'the token is malformed'
}
