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
import type { AsHttpClient } from './http-client.ts'
import type { TokenInfo } from './normalize.ts'
import type { JwtOptions } from './options.ts'

export interface JwtValidatorConfig {
  readonly issuer: string
  readonly audience: string
  readonly http: AsHttpClient
  readonly metadata: (deadline: number) => Promise<AuthorizationServerMetadata>
  readonly jwksUri?: string | undefined
  readonly options: JwtOptions
  readonly clockSkew: number
}

export type JwtOutcome =
  | { readonly ok: true; readonly info: TokenInfo }
  | { readonly ok: false; readonly reason: string }

export interface JwtValidator {
  validate(token: string, deadline: number): Promise<JwtOutcome>
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

export function createJwtValidator(_config: JwtValidatorConfig): JwtValidator {
  throw new Error('createJwtValidator: not implemented yet')
}
