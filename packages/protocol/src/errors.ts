/**
 * The closed set of protocol errors Keyhole ever puts on the wire.
 *
 * Every error response, on the authorization server and in the resource-server library, is one of
 * these codes, built by {@link oauthError} and serialised by {@link errorBody}. Anything that is not
 * one of these becomes `server_error` with no detail (its cause is logged, never sent).
 */

/** Default HTTP status of each code. */
export const OAUTH_ERROR_STATUS = {
  // RFC 6749 §5.2. `invalid_client` MAY be 401 and MUST be when the Authorization header was
  // used; Keyhole always answers 401 (with a Basic challenge) so callers see one behaviour.
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  // RFC 8707 §2
  invalid_target: 400,
  // RFC 7009 §2.2.1
  unsupported_token_type: 400,
  // RFC 9449 §5: a token request whose DPoP proof is missing (when required) or invalid
  invalid_dpop_proof: 400,
  // RFC 6749 §4.1.2.1, used for the token endpoint's own failures too
  server_error: 500,
  temporarily_unavailable: 503,
  // RFC 6750 §3.1 (resource-server side)
  invalid_token: 401,
  insufficient_scope: 403,
} as const

export type OAuthErrorCode = keyof typeof OAUTH_ERROR_STATUS

export function isOAuthErrorCode(value: unknown): value is OAuthErrorCode {
  return typeof value === 'string' && Object.hasOwn(OAUTH_ERROR_STATUS, value)
}

/** A protocol error as a value. Endpoints return these; only `http/` turns them into bytes. */
export interface OAuthError {
  readonly kind: 'oauth_error'
  readonly error: OAuthErrorCode
  /** Client-safe text. Never a token, a secret or a peer's raw body. */
  readonly description?: string
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
}

export interface OAuthErrorOptions {
  status?: number
  headers?: Readonly<Record<string, string>>
}

export function oauthError(
  error: OAuthErrorCode,
  description?: string,
  options: OAuthErrorOptions = {},
): OAuthError {
  return {
    kind: 'oauth_error',
    error,
    status: options.status ?? OAUTH_ERROR_STATUS[error],
    ...(description === undefined ? {} : { description }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  }
}

export function isOAuthError(value: unknown): value is OAuthError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'oauth_error' &&
    isOAuthErrorCode((value as { error?: unknown }).error)
  )
}

/**
 * RFC 6749 §5.2: `error` and `error_description` are limited to %x20-21 / %x23-5B / %x5D-7E.
 * Anything else (quotes, backslashes, control characters, non-ASCII) is replaced, so a description
 * can always be sent in JSON and in a WWW-Authenticate quoted-string.
 */
export function sanitizeErrorText(text: string): string {
  return text.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '?')
}

/** The RFC 6749 §5.2 JSON body of an error. */
export function errorBody(e: OAuthError): { error: OAuthErrorCode; error_description?: string } {
  return e.description === undefined
    ? { error: e.error }
    : { error: e.error, error_description: sanitizeErrorText(e.description) }
}
