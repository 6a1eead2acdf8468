/**
 * Hono 4 adapter (`@keyhole/resource-server/hono`).
 *
 * ```ts
 * const app = new Hono<TokenEnv>()
 * app.use(protectedResourceMetadata(verifier))
 * app.get('/orders', requireToken(verifier, { scopes: ['orders:read'] }), (c) =>
 *   c.json({ caller: c.get('auth').clientId }))
 * ```
 */
import type { MiddlewareHandler } from 'hono'
import type { Policy, VerifiedToken } from '../policy.ts'
import type { TokenVerifier } from '../verifier.ts'
import { failureBody, metadataRoute, pathOf, requestTarget } from './shared.ts'

/** The Hono environment `requireToken` provides: `c.get('auth')` is the verified token. */
export type TokenEnv = { Variables: { auth: VerifiedToken } }

/**
 * Middleware: verify the Bearer (or DPoP) token and apply `policy`. On success
 * `c.set('auth', token)`; on failure answers with the RFC 6750 status, the `WWW-Authenticate`
 * (or `Retry-After`) header and `{ error, error_description }`.
 */
export function requireToken(
  verifier: TokenVerifier,
  policy?: Policy,
): MiddlewareHandler<TokenEnv> {
  return async (c, next) => {
    const result = await verifier.verify(
      // A WHATWG Headers object joins a repeated Authorization header with ", ", which the core refuses.
      { method: c.req.method, url: requestTarget(c.req.url), headers: c.req.raw.headers },
      policy,
    )
    if (result.ok) {
      c.set('auth', result.token)
      await next()
      return
    }
    return c.json(failureBody(result), result.status, result.headers)
  }
}

/**
 * Middleware serving the RFC 9728 document at the path of `verifier.resourceMetadata.url`, for
 * GET and HEAD; every other request goes on: `app.use(protectedResourceMetadata(verifier))`.
 */
export function protectedResourceMetadata(verifier: TokenVerifier): MiddlewareHandler {
  const route = metadataRoute(verifier)
  return async (c, next) => {
    const method = c.req.method
    if (
      (method !== 'GET' && method !== 'HEAD') ||
      pathOf(requestTarget(c.req.url)) !== route.path
    ) {
      await next()
      return
    }
    return c.body(route.body, 200, route.headers)
  }
}
