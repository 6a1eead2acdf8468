/**
 * RFC 9701: the introspection answer as a signed JWT, for a caller that asks for it with
 * `Accept: application/token-introspection+jwt` (§4). Encrypted answers (§5, a nested JWT) are
 * not offered: the metadata lists no encryption algorithms, so no resource can register one.
 */
import { SignJWT } from 'jose'
import type { SigningKey } from './signing-keys.ts'

/** §4 and §5: the media type asked for and answered with. */
export const INTROSPECTION_JWT_MEDIA_TYPE = 'application/token-introspection+jwt'
/** §5: the JOSE header's `typ`. */
const INTROSPECTION_JWT_TYPE = 'token-introspection+jwt'

/**
 * Whether an Accept header asks for the JWT answer: the exact media type listed, with a quality
 * above zero (RFC 9110 §12.5.1). Anything else gets the plain JSON answer of RFC 7662.
 */
export function wantsJwtResponse(accepts: readonly string[]): boolean {
  for (const value of accepts) {
    for (const range of value.split(',')) {
      const [type = '', ...params] = range.split(';')
      if (type.trim().toLowerCase() !== INTROSPECTION_JWT_MEDIA_TYPE) continue
      const q = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='))
      if (q === undefined || Number(q.slice(2)) > 0) return true
    }
  }
  return false
}

/**
 * §5: `iss`, `aud` (the caller), `iat`, and the RFC 7662 members inside `token_introspection`.
 * No top-level `sub` or `exp`, so that the answer cannot pass for an access token (§8.1, J-11).
 */
export function signIntrospectionResponse(
  members: object,
  issuer: string,
  callerId: string,
  key: SigningKey,
  now: number,
): Promise<string> {
  return new SignJWT({ token_introspection: members })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: INTROSPECTION_JWT_TYPE })
    .setIssuer(issuer)
    .setAudience(callerId)
    .setIssuedAt(now)
    .sign(key.key)
}
