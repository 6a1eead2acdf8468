export { basicAuthorization, formUrlEncode } from './client-secret-basic.ts'
export { normalizeHtu } from './dpop.ts'
export {
  errorBody,
  isOAuthError,
  isOAuthErrorCode,
  OAUTH_ERROR_STATUS,
  type OAuthError,
  type OAuthErrorCode,
  type OAuthErrorOptions,
  oauthError,
  sanitizeErrorText,
} from './errors.ts'
export type {
  AuthorizationServerMetadata,
  IntrospectionResponse,
  TokenResponse,
  TokenTypeHint,
} from './types.ts'
