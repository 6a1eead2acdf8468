/**
 * The public keys a client or resource registers for private_key_jwt (RFC 7523 §2.2, RFC 7517),
 * checked once, when the config is read: public, asymmetric, strong enough, and each bound to
 * exactly one signing algorithm (RFC 8725 §3.1), so that nothing about a key is decided by the
 * assertion that names it. Problems name the option path and never quote a value.
 */
import { createPublicKey } from 'node:crypto'
import type { PublicJwk, PublicJwkSet } from '../store/store.ts'
import { ASYMMETRIC_ALGORITHMS } from '../tokens/compact-jws.ts'

/**
 * RFC 8725 §3.1–3.2: the only algorithms an assertion may use. Asymmetric only: never `none`,
 * never HS* (a client secret would then be the key, and a public key could be taken for one).
 * Published as `*_endpoint_auth_signing_alg_values_supported` (RFC 8414 §2).
 */
export const ASSERTION_ALGORITHMS: readonly string[] = ASYMMETRIC_ALGORITHMS

const RSA_ALGORITHMS: ReadonlySet<string> = new Set([
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
])
/** The one ECDSA algorithm of each curve (RFC 7518 §3.4). */
const CURVE_ALGORITHM: Readonly<Record<string, string>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
}
/** RFC 7518 §3.3: RSA keys of 2048 bits or more. */
const MIN_RSA_BITS = 2048
/** Members that only a private or a symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv']

/**
 * `EdDSA` with an Ed25519 key is the algorithm RFC 9864 names `Ed25519` (oauth4webapi sends the
 * new name, most libraries the old): one algorithm, two names. Keys are stored with `Ed25519`.
 */
export function canonicalAlgorithm(alg: string): string {
  return alg === 'EdDSA' ? 'Ed25519' : alg
}

/** The algorithm `jwk` is for, or a problem (never quoting a value). */
function algorithmOf(jwk: Readonly<Record<string, unknown>>): string | { problem: string } {
  const { kty, crv, alg } = jwk
  if (alg !== undefined && (typeof alg !== 'string' || !ASSERTION_ALGORITHMS.includes(alg))) {
    return { problem: `alg must be one of ${ASSERTION_ALGORITHMS.join(', ')}` }
  }
  if (kty === 'RSA') {
    if (alg === undefined) {
      // An RSA key signs with six algorithms; RFC 8725 §3.1 wants each key used with one.
      return { problem: 'needs alg (the one the client signs with: RS256, PS256, ...)' }
    }
    return RSA_ALGORITHMS.has(alg) ? alg : { problem: 'alg does not fit an RSA key' }
  }
  if (kty === 'EC') {
    const fit = typeof crv === 'string' ? CURVE_ALGORITHM[crv] : undefined
    if (fit === undefined) return { problem: 'crv must be P-256, P-384 or P-521' }
    if (alg !== undefined && alg !== fit) return { problem: `alg does not fit the curve (${fit})` }
    return fit
  }
  if (kty === 'OKP') {
    if (crv !== 'Ed25519') return { problem: 'crv must be Ed25519' }
    if (alg !== undefined && canonicalAlgorithm(alg) !== 'Ed25519') {
      return { problem: 'alg does not fit an Ed25519 key (EdDSA or Ed25519)' }
    }
    return 'Ed25519'
  }
  return { problem: 'kty must be RSA, EC or OKP (a public key of an asymmetric pair)' }
}

/**
 * Check the keys of one `jwks` option and keep what verification needs: the public members, the
 * key id, and the one algorithm. `path` is the option path (`clients[0].jwks`); problems are
 * added to `problems`.
 */
export function readClientJwks(
  keys: readonly Readonly<Record<string, unknown>>[],
  path: string,
  problems: string[],
): PublicJwkSet {
  const out: PublicJwk[] = []
  const kids = new Set<string>()
  keys.forEach((jwk, i) => {
    const at = `${path}.keys[${i}]`
    if (jwk.kty === 'oct' || 'k' in jwk) {
      problems.push(`${at}: is a symmetric key; private_key_jwt needs the public key of a pair`)
      return
    }
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
      problems.push(`${at}: holds private key material ("d"); register the public key only`)
      return
    }
    const alg = algorithmOf(jwk)
    if (typeof alg !== 'string') {
      problems.push(`${at}: ${alg.problem}`)
      return
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') {
      problems.push(`${at}.use: must be "sig" when present`)
      return
    }
    if (
      jwk.key_ops !== undefined &&
      (!Array.isArray(jwk.key_ops) || !(jwk.key_ops as unknown[]).includes('verify'))
    ) {
      problems.push(`${at}.key_ops: must include "verify" when present`)
      return
    }
    const { kid } = jwk
    if (kid !== undefined) {
      if (typeof kid !== 'string' || kid === '' || kid.length > 255) {
        problems.push(`${at}.kid: must be a string of 1 to 255 characters`)
        return
      }
      if (kids.has(kid)) {
        problems.push(`${at}.kid: is used by another key of this set`)
        return
      }
      kids.add(kid)
    }
    const key: Record<string, string> = { kty: jwk.kty as string }
    for (const member of ['crv', 'x', 'y', 'n', 'e']) {
      const value = jwk[member]
      if (value !== undefined) key[member] = value as string
    }
    try {
      const imported = createPublicKey({ key, format: 'jwk' })
      const bits = imported.asymmetricKeyDetails?.modulusLength
      if (jwk.kty === 'RSA' && (bits === undefined || bits < MIN_RSA_BITS)) {
        problems.push(`${at}: an RSA key needs at least ${MIN_RSA_BITS} bits (RFC 7518 §3.3)`)
        return
      }
    } catch {
      // The error text may quote key members: say only that it is not a key.
      problems.push(`${at}: is not a valid public key`)
      return
    }
    out.push(
      Object.freeze({
        ...(key as { kty: PublicJwk['kty'] }),
        alg,
        ...(typeof kid === 'string' ? { kid } : {}),
      }),
    )
  })
  return Object.freeze({ keys: Object.freeze(out) })
}
