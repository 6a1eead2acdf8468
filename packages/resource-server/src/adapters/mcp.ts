/**
 * MCP TypeScript SDK adapter (`@keyhole/resource-server/mcp`): an `OAuthTokenVerifier` for the
 * SDK's `requireBearerAuth` middleware.
 *
 * ```ts
 * app.use(protectedResourceMetadata(verifier)) // from @keyhole/resource-server/express
 * app.post('/mcp', requireBearerAuth({
 *   verifier: mcpTokenVerifier(verifier),
 *   requiredScopes: ['orders:read'],
 *   resourceMetadataUrl: verifier.resourceMetadata?.url,
 * }), handler)
 * ```
 *
 * The SDK's middleware reads the header and writes the answer itself, so some of its choices are
 * not ours: it answers a request without a token with `error="invalid_token"` (RFC 6750 §3.1 says
 * no error code), splits the header on the first space only, sees only the first of two
 * Authorization headers (Node drops repeats), answers 500 (no Retry-After) when the AS cannot be
 * reached, and puts `scope` in the 403 challenge only when `requiredScopes` is given to it.
 *
 * DPoP cannot be checked through this interface: `verifyAccessToken` receives the token string
 * only, without the request's method, URL or DPoP header. The token is therefore presented to the
 * core as a Bearer token, and a DPoP-bound token (`cnf.jkt`) is refused with invalid_token. For
 * the same reason a certificate-bound token (RFC 8705 `cnf.x5t#S256`) is refused with
 * invalid_token: no connection, so no client certificate, reaches the verifier (and no header
 * either, with `mtls.certificateHeader`). A route that must accept them can be guarded by
 * `requireToken` from `@keyhole/resource-server/express` instead of the SDK's middleware.
 *
 * The error classes are value imports (not `import type`): the SDK's middleware tells its
 * answers apart with `instanceof`.
 */
import {
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  ServerError,
} from '@modelcontextprotocol/sdk/server/auth/errors.js'
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import type { Policy, VerifiedToken } from '../policy.ts'
import type { TokenVerifier, VerifyFailure } from '../verifier.ts'

/**
 * The SDK writes the message into `error_description="…"` unescaped: keep it to the characters
 * RFC 6750 §3 allows there, without `"` and `\`.
 */
const safe = (message: string) => message.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')

function toSdkError(failure: VerifyFailure): Error {
  const message = safe(failure.description)
  switch (failure.status) {
    case 400:
      return new InvalidRequestError(message)
    case 401:
      return new InvalidTokenError(message)
    case 403:
      return new InsufficientScopeError(message)
    case 503:
      return new ServerError(message)
  }
}

function resourceOf(token: VerifiedToken, audience: string | undefined): URL | undefined {
  // RFC 8707: the resource the token is for. The verifier's own audience when the token has it,
  // else the token's only audience; the SDK compares it with `expectedResource` when one is set.
  const candidate =
    audience !== undefined && token.audience.includes(audience)
      ? audience
      : token.audience.length === 1
        ? token.audience[0]
        : undefined
  return candidate !== undefined && URL.canParse(candidate) ? new URL(candidate) : undefined
}

/**
 * Adapt a Keyhole verifier to the SDK's `OAuthTokenVerifier`. `policy` is applied on every call
 * (audience, issuer, scopes, tenant, predicate); its `allow` and tenant functions receive a
 * placeholder request (`POST /`) that carries only the Authorization header.
 *
 * AuthInfo mapping: `clientId` is the token's `client_id` (empty string when the AS sent none),
 * `expiresAt` its `exp` (the SDK refuses tokens without one), `resource` its audience as a URL,
 * and `extra` every field of the VerifiedToken (`sub`, `username`, `issuer`, `claims`, …).
 */
export function mcpTokenVerifier(verifier: TokenVerifier, policy?: Policy): OAuthTokenVerifier {
  const audience = verifier.audience
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      const result = await verifier.verify(
        { method: 'POST', url: '/', headers: { authorization: `Bearer ${token}` } },
        policy,
      )
      if (!result.ok) throw toSdkError(result)
      const verified = result.token
      const resource = resourceOf(verified, audience)
      return {
        token,
        clientId: verified.clientId ?? '',
        scopes: [...verified.scopes],
        ...(verified.exp === undefined ? {} : { expiresAt: verified.exp }),
        ...(resource === undefined ? {} : { resource }),
        extra: { ...verified },
      }
    },
  }
}
