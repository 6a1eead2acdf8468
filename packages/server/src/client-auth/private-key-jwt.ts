/**
 * private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OIDC Core §9), verified as RFC 8725 asks:
 * the client signs a short-lived JWT about itself with its private key, and Keyhole checks it
 * against the public keys registered in the principal's `jwks` (client-jwks.ts), never against a
 * key the assertion names or carries (RFC 8725 §3.10: `jku`, `x5u`, `jwk` and `x5c` are ignored).
 *
 * In order of cost, so that the signature (tens of µs) is checked only once everything else holds
 * and the store is written only for an assertion that proved its signer (authenticate.ts runs
 * them, with the throttle between the first and the second):
 *   readClientAssertion       parameters, size, JWS framing, JSON, and the client it names
 *   checkAssertionClaims      iss, client_id, alg, typ, exp, nbf, iat, aud, jti: no key needed
 *   verifyAssertionSignature  the registered keys that fit the header (jose)
 *   assertionIdKey            what the store remembers of the jti until the assertion expires
 */
import { hash } from 'node:crypto'
import { oauthError } from '@keyhole/protocol'
import { compactVerify, importJWK, type JWK } from 'jose'
import { LRUCache } from 'lru-cache'
import type { EpochSeconds } from '../brand.ts'
import type { FormParams } from '../http/form.ts'
import { fail, ok, type Result } from '../result.ts'
import type { PublicJwk, PublicJwkSet } from '../store/store.ts'
import { compactParts, jsonObject } from '../tokens/compact-jws.ts'
import { ASSERTION_ALGORITHMS, canonicalAlgorithm } from './client-jwks.ts'
import { PRINCIPAL_ID } from './credentials.ts'

// RFC 7523 §2.2: the one client_assertion_type this profile defines.
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** Longer than any assertion clients send (an RS512 one with a 4096-bit key and an x5c chain). */
export const MAX_ASSERTION_LENGTH = 8192
/** Clock difference tolerated on exp, nbf and iat (RFC 7523 §3 (4): "reasonable" skew). */
export const CLOCK_SKEW_SECONDS = 30
/** An assertion may expire at most this far ahead; its jti is remembered at most that long. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300
/** Longest accepted jti (it is hashed before it is stored). */
const MAX_JTI_LENGTH = 1024

/**
 * RFC 8725 §3.11–3.12: typed JWTs of other kinds (`at+jwt`, `dpop+jwt`, ...) are not assertions.
 * RFC 7523bis: `client-authentication+jwt` SHOULD be sent; no `typ`, or plain JWT, stays accepted
 * (checklist P-10: servers are NOT RECOMMENDED to reject them). Media types are case-insensitive
 * and may drop `application/` (RFC 7515 §4.1.9).
 */
const ASSERTION_TYPES: ReadonlySet<string> = new Set([
  'jwt',
  'application/jwt',
  'client-authentication+jwt',
  'application/client-authentication+jwt',
])

export interface AssertionHeader {
  readonly alg?: unknown
  readonly typ?: unknown
  readonly kid?: unknown
  readonly crit?: unknown
  readonly b64?: unknown
}

export interface AssertionClaims {
  readonly iss?: unknown
  readonly sub?: unknown
  readonly aud?: unknown
  readonly exp?: unknown
  readonly nbf?: unknown
  readonly iat?: unknown
  readonly jti?: unknown
}

/** An assertion whose framing is sound, and the client it claims to come from (`sub`). */
export interface ClientAssertion {
  readonly clientId: string
  /** The compact JWS, as received: it goes to the signature check and nowhere else. */
  readonly jws: string
  readonly header: AssertionHeader
  readonly claims: AssertionClaims
}

/** Why an assertion was refused: logged at debug level, never sent (RFC 7523 §3.2, P-09). */
export type AssertionProblem =
  | 'iss'
  | 'client_id'
  | 'header'
  | 'typ'
  | 'exp'
  | 'nbf'
  | 'iat'
  | 'aud'
  | 'jti'
  | 'not_registered_for_private_key_jwt'
  | 'signature'
  | 'replay'

function failed(): Result<ClientAssertion> {
  // RFC 7523 §3.2: invalid_client, and nothing about which check failed.
  return fail(oauthError('invalid_client', 'client authentication failed'))
}

/**
 * RFC 7521 §4.2 / RFC 7523 §2.2: `client_assertion_type` and exactly one `client_assertion` (the
 * form parser refuses a repeated one), a JWS in compact form, and a `sub` that could be a client.
 * Nothing here is counted as a failed authentication: it names no client yet.
 */
export function readClientAssertion(form: FormParams): Result<ClientAssertion> {
  if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
    return fail(
      oauthError('invalid_client', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`),
    )
  }
  const jws = form.get('client_assertion')
  if (jws === undefined) return fail(oauthError('invalid_client', 'client_assertion is required'))
  if (jws.length > MAX_ASSERTION_LENGTH) return failed()
  const parts = compactParts(jws)
  if (parts === undefined) return failed()
  const [head, body] = parts
  const header = jsonObject(head)
  const claims = jsonObject(body)
  if (header === undefined || claims === undefined) return failed()
  // RFC 7523 §3 (2): for client authentication, sub is the client_id.
  const { sub } = claims
  if (typeof sub !== 'string' || !PRINCIPAL_ID.test(sub)) return failed()
  return ok({ clientId: sub, jws, header, claims })
}

/** RFC 7523 §3 (3) with 7523bis: the issuer identifier, as the sole audience. */
function audienceIsIssuer(aud: unknown, issuer: string): boolean {
  if (typeof aud === 'string') return aud === issuer
  return Array.isArray(aud) && aud.length === 1 && aud[0] === issuer
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

/**
 * Every check that needs no key, in RFC 7523 §3 order. `formClientId` is the request's
 * `client_id`, if any; `issuer` this server's issuer identifier, exactly as published.
 */
export function checkAssertionClaims(
  assertion: ClientAssertion,
  formClientId: string | undefined,
  issuer: string,
  now: EpochSeconds,
): AssertionProblem | undefined {
  const { header, claims, clientId } = assertion
  // RFC 7523 §3 (1), OIDC Core §9: iss is the client_id too.
  if (claims.iss !== clientId) return 'iss'
  // RFC 7521 §4.2: a client_id sent along MUST name the same client.
  if (formClientId !== undefined && formClientId !== clientId) return 'client_id'
  // RFC 8725 §3.1–3.2: an allow-list of asymmetric algorithms, matched case-sensitively; no
  // extensions (`crit`, `b64`) that would change what the signature covers.
  if (typeof header.alg !== 'string' || !ASSERTION_ALGORITHMS.includes(header.alg)) return 'header'
  if (header.crit !== undefined || header.b64 !== undefined) return 'header'
  if (header.kid !== undefined && typeof header.kid !== 'string') return 'header'
  if (header.typ !== undefined) {
    if (typeof header.typ !== 'string' || !ASSERTION_TYPES.has(header.typ.toLowerCase())) {
      return 'typ'
    }
  }
  // RFC 7523 §3 (4): exp is required, must not have passed, and (our limit) must not be far
  // ahead: that bounds how long the jti is remembered.
  const { exp, nbf, iat } = claims
  if (!isNumericDate(exp)) return 'exp'
  if (now >= exp + CLOCK_SKEW_SECONDS) return 'exp'
  if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) return 'exp'
  // RFC 7523 §3 (5), (6): not before nbf; not issued in the future.
  if (nbf !== undefined && (!isNumericDate(nbf) || nbf > now + CLOCK_SKEW_SECONDS)) return 'nbf'
  if (iat !== undefined && (!isNumericDate(iat) || iat > now + CLOCK_SKEW_SECONDS)) return 'iat'
  // RFC 7523 §3 (3) as updated by 7523bis: aud is the issuer identifier, and nothing else. The
  // token endpoint URL that RFC 7523 allowed is refused (docs/architecture.md, "audience").
  if (!audienceIsIssuer(claims.aud, issuer)) return 'aud'
  // RFC 7523 §3 (7) makes jti optional; OIDC Core §9 makes it REQUIRED, and single use here.
  const { jti } = claims
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) return 'jti'
  return undefined
}

type VerificationKey = Awaited<ReturnType<typeof importJWK>>

/** Imported keys, by algorithm and key material: importing costs more than verifying. */
const importedKeys = new LRUCache<string, Promise<VerificationKey>>({ max: 1_000 })

function importKey(jwk: PublicJwk, alg: string): Promise<VerificationKey> {
  const id = `${alg}|${jwk.kty}|${jwk.crv}|${jwk.x}|${jwk.y}|${jwk.n}|${jwk.e}`
  let key = importedKeys.get(id)
  if (key === undefined) {
    // Key material only: the algorithm was checked against the registered one already.
    const material: JWK = { kty: jwk.kty }
    if (jwk.crv !== undefined) material.crv = jwk.crv
    if (jwk.x !== undefined) material.x = jwk.x
    if (jwk.y !== undefined) material.y = jwk.y
    if (jwk.n !== undefined) material.n = jwk.n
    if (jwk.e !== undefined) material.e = jwk.e
    key = importJWK(material, alg)
    importedKeys.set(id, key)
    key.catch(() => importedKeys.delete(id))
  }
  return key
}

/**
 * RFC 7523 §3 (9), RFC 8725 §3.1: the signature, with the registered keys whose one algorithm is
 * the header's (and whose kid is the header's, when it names one). Several keys without kids
 * (rotation) are tried in turn; a set holds at most ten.
 */
export async function verifyAssertionSignature(
  assertion: ClientAssertion,
  jwks: PublicJwkSet,
): Promise<boolean> {
  const alg = assertion.header.alg as string
  const kid = assertion.header.kid
  const wanted = canonicalAlgorithm(alg)
  for (const jwk of jwks.keys) {
    if (jwk.alg !== wanted || (kid !== undefined && jwk.kid !== kid)) continue
    try {
      await compactVerify(assertion.jws, await importKey(jwk, alg), { algorithms: [alg] })
      return true
    } catch {
      // a wrong signature, or a key this runtime cannot use: try the next one
    }
  }
  return false
}

/** The store's key for a used jti: per client (jti values are the client's own), never raw. */
export function assertionIdKey(clientId: string, jti: string): string {
  return hash('sha256', `jti\n${clientId.length}:${clientId}${jti}`, 'base64url')
}

/** Until when a used jti is remembered: while the assertion could still be accepted. */
export function assertionIdExpiry(assertion: ClientAssertion): EpochSeconds {
  return (Math.ceil(assertion.claims.exp as number) + CLOCK_SKEW_SECONDS) as EpochSeconds
}
