/**
 * RFC 9449 DPoP proofs at the token endpoint (§4.2, §4.3, §5, §11.1): a client that sends a
 * valid proof gets a token bound to the proof's public key (`cnf.jkt`, §6).
 *
 * In order of cost, so that the signature is checked only once everything else holds, and the
 * store is written only for a proof whose signature verified (token.ts runs them, after the
 * client has authenticated):
 *   readDpopProof       one DPoP header, size, JWS framing, header (typ, alg, a public jwk),
 *                       claims (jti, htm, htu, iat): no key needed
 *   verifyDpopProof     the signature by the header's own jwk (jose), then its RFC 7638 thumbprint
 *   dpopProofIdKey      what the store remembers of the jti while the proof could be accepted
 *
 * Nonces (§8, `use_dpop_nonce`) are not offered: freshness rests on `iat` and the single-use jti.
 */
import { hash } from 'node:crypto'
import { normalizeHtu, type OAuthError, oauthError } from '@keyhole/protocol'
import { calculateJwkThumbprint, compactVerify, EmbeddedJWK, type JWK } from 'jose'
import type { EpochSeconds } from '../brand.ts'
import { fail, ok, type Result } from '../result.ts'
import { ASYMMETRIC_ALGORITHMS, compactParts, jsonObject } from './compact-jws.ts'

/**
 * RFC 9449 §4.2, §4.3 step 5, RFC 8725 §3.1–3.2: asymmetric signature algorithms only, matched
 * case-sensitively; never `none` or a MAC. Published as `dpop_signing_alg_values_supported`.
 */
export const DPOP_ALGORITHMS: readonly string[] = ASYMMETRIC_ALGORITHMS
/** Larger than any proof (an RS512 one with a 4096-bit `jwk` is under 1.5 KB). */
export const MAX_DPOP_PROOF_LENGTH = 8192
/** RFC 9449 §11.1: a proof is accepted this long after its `iat`, and its jti kept as long. */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60
/** §11.1 allows an `iat` slightly in the future (clock skew); as for client assertions. */
export const DPOP_CLOCK_SKEW_SECONDS = 30
/** §11.1: very long jti values are refused (only a hash is stored anyway). */
const MAX_JTI_LENGTH = 256
/** RFC 7517 / RFC 7518 §6: members only a private or symmetric key has (§4.3 step 7). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv']
/** §4.2: `dpop+jwt`; media types are case-insensitive and may drop `application/` (RFC 7515 §4.1.9). */
const DPOP_TYPES: ReadonlySet<string> = new Set(['dpop+jwt', 'application/dpop+jwt'])
const VERIFY_OPTIONS = { algorithms: [...DPOP_ALGORITHMS] }

/** A proof whose framing, header and claims hold; its signature is not checked yet. */
export interface DpopProof {
  /** The compact JWS, as received: it goes to the signature check and nowhere else. */
  readonly jws: string
  readonly jwk: Readonly<Record<string, unknown>>
  readonly jti: string
  readonly iat: number
}

/** RFC 9449 §5: a bad proof is `invalid_dpop_proof` (400, RFC 6749 §5.2). Fixed texts only. */
export function dpopProofError(description: string): OAuthError {
  return oauthError('invalid_dpop_proof', description)
}

function refused(description: string): Result<DpopProof> {
  return fail(dpopProofError(description))
}

/**
 * RFC 9449 §4.3 steps 1–5, 7–9 and 11: everything that needs no key. `values` is every DPoP
 * header of the request, `method` its method, `htu` the URL the server publishes for the endpoint
 * (normalized: normalizeHtu), `now` the server's time.
 */
export function readDpopProof(
  values: readonly string[],
  method: string,
  htu: string,
  now: EpochSeconds,
): Result<DpopProof> {
  // Step 1: not more than one DPoP header. A proxy that joined two put a comma in, which no
  // compact JWS holds (the framing check below refuses it).
  if (values.length !== 1) return refused('exactly one DPoP header is allowed')
  const jws = (values[0] as string).trim()
  if (jws.length > MAX_DPOP_PROOF_LENGTH) return refused('the DPoP proof is too large')
  // Step 2: one well-formed JWT: three non-empty parts (an unsigned JWT or a JWE stops here).
  const parts = compactParts(jws)
  if (parts === undefined) return refused('the DPoP proof is not a signed JWT')
  const [head, body] = parts
  const header = jsonObject(head)
  const claims = jsonObject(body)
  if (header === undefined || claims === undefined) {
    return refused('the DPoP proof is not a signed JWT')
  }

  // Step 4: explicit typing (RFC 8725 §3.11): no other kind of JWT passes for a proof.
  const { typ, alg, jwk, crit, b64 } = header
  if (typeof typ !== 'string' || !DPOP_TYPES.has(typ.toLowerCase())) {
    return refused('the DPoP proof typ must be dpop+jwt')
  }
  // Step 5: an allow-listed asymmetric algorithm; no extension that changes what is signed.
  if (typeof alg !== 'string' || !DPOP_ALGORITHMS.includes(alg)) {
    return refused('the DPoP proof alg is not supported')
  }
  if (crit !== undefined || b64 !== undefined)
    return refused('the DPoP proof header is not supported')
  // Step 7: the jwk is a public key (the signature check below also insists).
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    return refused('the DPoP proof has no jwk')
  }
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(jwk, member)) return refused('the DPoP proof jwk must be a public key')
  }

  // Step 3: the required claims.
  const { jti, htm, htu: claimedHtu, iat } = claims
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
    return refused('the DPoP proof jti is missing or too long')
  }
  if (typeof htm !== 'string') return refused('the DPoP proof has no htm')
  if (typeof claimedHtu !== 'string') return refused('the DPoP proof has no htu')
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return refused('the DPoP proof has no iat')
  // Step 8: the method (case-sensitive, RFC 9110 §9.1).
  if (htm !== method) return refused('the DPoP proof htm does not match the request method')
  // Step 9: the endpoint's URL as published, never the Host header (which the client chooses
  // as freely as the proof); query and fragment ignored, both sides normalized (RFC 3986
  // §6.2.2, §6.2.3).
  if (normalizeHtu(claimedHtu) !== htu) {
    return refused('the DPoP proof htu does not match the token endpoint')
  }
  // Step 11 / §11.1: created recently; a little in the future is clock skew.
  if (iat < now - DPOP_PROOF_MAX_AGE_SECONDS) return refused('the DPoP proof is too old')
  if (iat > now + DPOP_CLOCK_SKEW_SECONDS) return refused('the DPoP proof iat is in the future')
  return ok({ jws, jwk: jwk as Record<string, unknown>, jti, iat })
}

/**
 * RFC 9449 §4.3 step 6: the signature verifies with the header's own `jwk`, under the
 * allow-list (jose refuses a jwk that does not fit the alg, a private key, and RSA under 2048
 * bits). Then §6.1: the key's RFC 7638 SHA-256 thumbprint, the token's `cnf.jkt`.
 */
export async function verifyDpopProof(proof: DpopProof): Promise<string | undefined> {
  try {
    await compactVerify(proof.jws, EmbeddedJWK, VERIFY_OPTIONS)
    return await calculateJwkThumbprint(proof.jwk as JWK, 'sha256')
  } catch {
    return undefined
  }
}

/**
 * The store's key for a used proof (§11.1: jti per target URI): the endpoint, the key and the
 * jti, hashed, in a namespace of its own (client assertions use `jti\n…`). Per key, so that one
 * client's jti values can never block another's.
 */
export function dpopProofIdKey(htu: string, jkt: string, jti: string): string {
  return hash('sha256', `dpop\n${htu}\n${jkt}${jti}`, 'base64url')
}

/** Until when a used jti is remembered: while the proof could still be accepted. */
export function dpopProofIdExpiry(proof: DpopProof): EpochSeconds {
  return (Math.ceil(proof.iat) + DPOP_PROOF_MAX_AGE_SECONDS) as EpochSeconds
}
