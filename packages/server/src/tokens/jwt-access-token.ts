/**
 * RFC 9068 JWT access tokens. A resource server may check one locally (signature, `typ`, `iss`,
 * `aud`, `exp`) without asking; the server still keeps its record under the SHA-256 of the whole
 * JWT, exactly as for an opaque token, so that introspection and revocation work the same way.
 *
 * The JWT carries what the token's own introspection by its client would show, and nothing a
 * resource should not see is added (RFC 9068 §6: the token is readable by whoever holds it).
 */
import { SignJWT } from 'jose'
import type { SigningKey } from './signing-keys.ts'
import type { TokenRecord } from './token-record.ts'

/** RFC 9068 §2.1: the JOSE header's `typ`. */
export const JWT_ACCESS_TOKEN_TYPE = 'at+jwt'
/** Larger than any JWT this server signs; anything longer is not one of ours. */
const MAX_JWT_LENGTH = 8_192
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope when granted (§2.2.3); `cnf.jkt`
 * when DPoP-bound (RFC 9449 §6.1).
 */
export function signJwtAccessToken(
  record: Omit<TokenRecord, 'hash'>,
  issuer: string,
  key: SigningKey,
): Promise<string> {
  const claims: Record<string, unknown> = { client_id: record.clientId }
  if (record.scopes.length > 0) claims.scope = record.scopes.join(' ')
  if (record.cnf !== null) claims.cnf = { jkt: record.cnf.jkt }
  return (
    new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: JWT_ACCESS_TOKEN_TYPE })
      .setIssuer(issuer)
      .setSubject(record.sub)
      // A single audience is a string, several an array (RFC 7519 §4.1.3).
      .setAudience(
        record.audience.length === 1 ? (record.audience[0] as string) : [...record.audience],
      )
      .setIssuedAt(record.issuedAt)
      .setNotBefore(record.notBefore)
      .setExpirationTime(record.expiresAt)
      .setJti(record.jti)
      .sign(key.key)
  )
}

/**
 * Whether `token` may be a JWT access token of this server: a compact JWS whose header names one
 * of its keys and the RFC 9068 `typ`. Cheap (no signature check: the store record decides), so
 * that garbage and other issuers' JWTs are answered without a store lookup.
 */
export function mayBeOurJwt(token: string, kids: ReadonlySet<string>): boolean {
  if (token.length > MAX_JWT_LENGTH || !COMPACT_JWS.test(token)) return false
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString())
  } catch {
    return false
  }
  if (typeof header !== 'object' || header === null) return false
  const { kid, typ } = header as { kid?: unknown; typ?: unknown }
  return typeof kid === 'string' && kids.has(kid) && typ === JWT_ACCESS_TOKEN_TYPE
}
