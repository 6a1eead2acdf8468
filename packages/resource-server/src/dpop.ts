/**
 * RFC 9449 DPoP proof checks at a resource server (checklist D-03..D-11).
 *
 * CONTRACT (implemented by the DPoP work item): exactly one DPoP header with one JWT; typ dpop+jwt;
 * asymmetric allow-listed alg; signature by the header jwk (no private members); htm = method;
 * htu = request URI without query/fragment (normalized, RFC 3986 §6.2.2-3); iat within
 * maxAgeSeconds; jti not replayed within the window (bounded store of jti hashes); ath =
 * b64url(SHA-256(token)); JWK thumbprint (RFC 7638) = cnf.jkt.
 */
import { createHash } from 'node:crypto'
import { normalizeHtu } from '@keyhole/protocol'
import {
  calculateJwkThumbprint,
  compactVerify,
  decodeProtectedHeader,
  EmbeddedJWK,
  type JWK,
  type ProtectedHeaderParameters,
} from 'jose'
import { LRUCache } from 'lru-cache'
import { allowedAlgorithms } from './jwt.ts'
import type { DpopOptions } from './options.ts'
import { headerValues, type RequestLike } from './request.ts'

export type DpopOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false
      readonly error: 'invalid_dpop_proof' | 'invalid_token'
      readonly description: string
    }
  /** The shared replay store did not answer: whether the proof is fresh is unknown (fail closed). */
  | { readonly ok: false; readonly error: 'temporarily_unavailable'; readonly description: string }

/**
 * Where used proofs are remembered across the processes of an API (RFC 9449 §11.1), so that a
 * proof accepted by one instance is refused by every other. `createRedisReplayStore` in
 * `@keyhole/resource-server/redis` is one; any store with an atomic "set if absent" will do.
 */
export interface DpopReplayStore {
  /**
   * Remember `key` for `ttlMs` milliseconds, atomically: true when it was not known yet (the
   * proof's first use anywhere), false when it was.
   */
  remember(key: string, ttlMs: number): Promise<boolean>
}

export interface DpopVerifier {
  /** The algorithms to advertise in `WWW-Authenticate: DPoP algs="..."`. */
  readonly algorithms: readonly string[]
  verify(req: RequestLike, token: string, jkt: string): Promise<DpopOutcome>
}

const DEFAULT_ALGORITHMS = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const
/** Larger than any proof with an RSA-4096 `jwk`; parsing stops here. */
const MAX_PROOF_LENGTH = 8192
/** RFC 9449 §11.1: very long `jti` values are refused (only their hash is stored anyway). */
const MAX_JTI_LENGTH = 256
/** Distinct proofs remembered for replay detection; the oldest go first when full. */
const REPLAY_CACHE_SIZE = 100_000
/** RFC 7517 / RFC 7518 §6: members that only a private (or symmetric) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv']
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:/

/** RFC 9449 §4.3 step 9: one normalization for `htu`, shared with the authorization server. */
export { normalizeHtu }

const proofError = (description: string): DpopOutcome => ({
  ok: false,
  error: 'invalid_dpop_proof',
  description,
})

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url')

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(ASCII(access token))). */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url')
}

/** RFC 7638 JWK SHA-256 thumbprint: the `jkt` of RFC 9449 §6.1. */
export function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256')
}

function originOf(value: string, where: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new TypeError(`${where} must be an absolute http(s) URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`${where} must be an absolute http(s) URL`)
  }
  return url.origin
}

export function createDpopVerifier(options: DpopOptions, audience: string): DpopVerifier {
  // RFC 9449 §4.3 step 5 / RFC 8725 §3.1: asymmetric, allow-listed, never `none`.
  const algorithms = allowedAlgorithms(
    options.algorithms,
    DEFAULT_ALGORITHMS,
    'options.dpop.algorithms',
  )
  const maxAge = options.maxAgeSeconds ?? 60
  if (!Number.isFinite(maxAge) || maxAge <= 0) {
    throw new TypeError('options.dpop.maxAgeSeconds must be a positive number')
  }
  const configuredOrigin =
    options.origin === undefined ? undefined : originOf(options.origin, 'options.dpop.origin')
  let audienceOrigin: string | undefined
  try {
    audienceOrigin = originOf(audience, 'audience')
  } catch {
    audienceOrigin = undefined
  }
  // RFC 9449 §11.1: jti hashes per target URI, kept for as long as the proof could be accepted.
  const seen = new LRUCache<string, true>({ max: REPLAY_CACHE_SIZE, ttl: 2 * maxAge * 1000 })
  const shared = options.replayStore
  const sharedTimeoutMs = options.replayStoreTimeoutMs ?? 100
  if (!Number.isFinite(sharedTimeoutMs) || sharedTimeoutMs <= 0) {
    throw new TypeError('options.dpop.replayStoreTimeoutMs must be a positive number')
  }

  /** The shared store's word on `key`: first use, replay, or no answer in time. */
  async function firstUseEverywhere(key: string, ttlMs: number): Promise<boolean | undefined> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), sharedTimeoutMs)
    })
    try {
      return await Promise.race([(shared as DpopReplayStore).remember(key, ttlMs), late])
    } catch {
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * The URI the client addressed. The configured origin wins (behind proxies the request line
   * does not know it); then an absolute request target; then the audience's origin. The Host
   * header is never used: it is as client-chosen as the proof, so it would prove nothing.
   */
  function requestUri(target: string): string | undefined {
    let pathAndQuery: string
    if (ABSOLUTE_URI.test(target)) {
      let url: URL
      try {
        url = new URL(target)
      } catch {
        return undefined
      }
      if (configuredOrigin === undefined) return normalizeHtu(url)
      pathAndQuery = url.pathname + url.search
    } else if (target.startsWith('/')) {
      pathAndQuery = target
    } else {
      return undefined
    }
    const origin = configuredOrigin ?? audienceOrigin
    // Concatenation, not `new URL(target, base)`: a target of `//host/x` must stay a path.
    return origin === undefined ? undefined : normalizeHtu(origin + pathAndQuery)
  }

  return {
    algorithms,

    async verify(req, token, jkt) {
      // RFC 9449 §4.3 step 1 / §7.1 (checklist D-04, D-05): exactly one DPoP header. Node and
      // WHATWG Headers join repeats with ", "; a compact JWS never holds a comma.
      const values = headerValues(req.headers, 'DPoP')
      if (values.length === 0) return proofError('a DPoP proof is required')
      const raw = values[0] ?? ''
      if (values.length > 1 || raw.includes(',')) return proofError('more than one DPoP header')
      const proof = raw.trim()
      if (proof.length > MAX_PROOF_LENGTH) return proofError('the DPoP proof is too large')
      // Step 2: one well-formed JWT (compact JWS).
      if (!COMPACT_JWS.test(proof)) return proofError('the DPoP proof is not a JWT')

      let header: ProtectedHeaderParameters
      try {
        header = decodeProtectedHeader(proof)
      } catch {
        return proofError('the DPoP proof header is malformed')
      }
      // Step 4: typ dpop+jwt (media type: case-insensitive, `application/` optional; RFC 7515 §4.1.9).
      const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined
      if (typ !== 'dpop+jwt' && typ !== 'application/dpop+jwt') {
        return proofError('the DPoP proof type (typ) is not dpop+jwt')
      }
      // Step 5: asymmetric allow-listed alg, case-sensitive.
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
        return proofError('the DPoP proof algorithm is not allowed')
      }
      // Step 7: the jwk is a public key.
      const jwk: unknown = header.jwk
      if (!isRecord(jwk)) return proofError('the DPoP proof has no jwk')
      if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
        return proofError('the DPoP proof jwk is not a public key')
      }

      // Step 6: the signature verifies with that key, under the allow-list.
      let claims: unknown
      try {
        const verified = await compactVerify(proof, EmbeddedJWK, { algorithms })
        claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(verified.payload))
      } catch {
        return proofError('the DPoP proof signature is invalid')
      }
      if (!isRecord(claims)) return proofError('the DPoP proof claims are malformed')

      // Step 3: the required claims (and `ath` at a resource server, §7 / D-06).
      const { jti, htm, htu, iat, ath } = claims
      if (typeof jti !== 'string' || jti === '') return proofError('the DPoP proof has no jti')
      if (jti.length > MAX_JTI_LENGTH) return proofError('the DPoP proof jti is too long')
      if (typeof htm !== 'string') return proofError('the DPoP proof has no htm')
      if (typeof htu !== 'string') return proofError('the DPoP proof has no htu')
      if (typeof iat !== 'number' || !Number.isFinite(iat)) {
        return proofError('the DPoP proof has no iat')
      }
      if (typeof ath !== 'string') return proofError('the DPoP proof has no ath')

      // Step 8: htm is the request method (method names are case-sensitive, RFC 9110 §9.1).
      if (htm !== req.method) return proofError('the DPoP proof htm does not match the method')
      // Step 9: htu is the request URI without query and fragment, both sides normalized.
      const expected = requestUri(req.url)
      if (expected === undefined) return proofError('the request URI cannot be determined')
      const presented = normalizeHtu(htu)
      if (presented !== expected) return proofError('the DPoP proof htu does not match the URI')
      // Step 11 / §11.1: created recently; a little in the future is tolerated the same way.
      const now = Date.now() / 1000
      if (iat < now - maxAge) return proofError('the DPoP proof is too old')
      if (iat > now + maxAge) return proofError('the DPoP proof is issued in the future')
      // Step 12 (§7.1): ath binds the proof to this access token.
      if (ath !== accessTokenHash(token)) {
        return proofError('the DPoP proof ath does not match the access token')
      }
      // §7.1 / §6.1 (checklist D-03): the proof key is the key the token is bound to.
      let thumbprint: string
      try {
        thumbprint = await jwkThumbprint(jwk as JWK)
      } catch {
        return proofError('the DPoP proof jwk is malformed')
      }
      if (thumbprint !== jkt) {
        return { ok: false, error: 'invalid_token', description: 'the DPoP key does not match' }
      }

      // §11.1 (checklist D-11): one use per proof. Checked and recorded with no await in between,
      // so two concurrent requests with the same proof cannot both pass.
      const key = sha256(`${expected}\0${jti}`)
      if (seen.has(key)) return proofError('the DPoP proof was already used')
      const remainingMs = Math.max(1000, Math.ceil((iat + maxAge - now) * 1000) + 1000)
      seen.set(key, true, { ttl: remainingMs })
      if (shared === undefined) return { ok: true }
      // Then every other instance of the API: the store's atomic set-if-absent decides. A store
      // that cannot answer leaves the proof unchecked, which is not accepted (fail closed).
      const first = await firstUseEverywhere(key, remainingMs)
      if (first === undefined) {
        return {
          ok: false,
          error: 'temporarily_unavailable',
          description: 'the DPoP replay check cannot be made; retry later',
        }
      }
      return first ? { ok: true } : proofError('the DPoP proof was already used')
    },
  }
}
