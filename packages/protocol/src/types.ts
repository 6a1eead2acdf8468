/** Wire types. Member names are the RFCs' own, verbatim. */

/** RFC 6749 §5.1 */
export interface TokenResponse {
  readonly access_token: string
  readonly token_type: string
  readonly expires_in?: number
  readonly refresh_token?: string
  readonly scope?: string
  readonly [extension: string]: unknown
}

/** RFC 7662 §2.2 */
export interface IntrospectionResponse {
  readonly active: boolean
  readonly scope?: string
  readonly client_id?: string
  readonly username?: string
  readonly token_type?: string
  readonly exp?: number
  readonly iat?: number
  readonly nbf?: number
  readonly sub?: string
  readonly aud?: string | readonly string[]
  readonly iss?: string
  readonly jti?: string
  readonly [extension: string]: unknown
}

/** RFC 8414 §2 (the members Keyhole publishes or reads). */
export interface AuthorizationServerMetadata {
  readonly issuer: string
  readonly token_endpoint?: string
  readonly jwks_uri?: string
  readonly scopes_supported?: readonly string[]
  readonly response_types_supported?: readonly string[]
  readonly grant_types_supported?: readonly string[]
  readonly token_endpoint_auth_methods_supported?: readonly string[]
  readonly token_endpoint_auth_signing_alg_values_supported?: readonly string[]
  readonly revocation_endpoint?: string
  readonly revocation_endpoint_auth_methods_supported?: readonly string[]
  readonly revocation_endpoint_auth_signing_alg_values_supported?: readonly string[]
  readonly introspection_endpoint?: string
  readonly introspection_endpoint_auth_methods_supported?: readonly string[]
  readonly introspection_endpoint_auth_signing_alg_values_supported?: readonly string[]
  /** RFC 9701 §7: algorithms a JWT introspection answer may be signed with. */
  readonly introspection_signing_alg_values_supported?: readonly string[]
  /** RFC 9449 §5.1: the JWS algorithms accepted in DPoP proofs (DPoP-bound tokens offered). */
  readonly dpop_signing_alg_values_supported?: readonly string[]
  /** Keyhole's revocation event stream (docs/revocation-events.md); an RFC 8414 §2 extension. */
  readonly keyhole_revocation_events_endpoint?: string
  readonly [extension: string]: unknown
}

/** RFC 7009 §2.1 and RFC 7662 §2.1: the registered `token_type_hint` values. */
export type TokenTypeHint = 'access_token' | 'refresh_token'
