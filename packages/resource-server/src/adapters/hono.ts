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
import { failureBody, metadataRoute, pathOf, requestTarget, SocketRequest } from './shared.ts'

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
      new SocketRequest(
        c.req.method,
        requestTarget(c.req.url),
        // A WHATWG Headers object joins a repeated Authorization header with ", ", which the core refuses.
        c.req.raw.headers,
        nodeSocketOf(c.env),
      ),
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
 * RFC 8705 §3: the Node socket of the request under @hono/node-server, whose bindings hold the
 * `IncomingMessage` as `incoming`; undefined on other runtimes (no certificate, then).
 */
function nodeSocketOf(env: unknown): unknown {
  if (typeof env !== 'object' || env === null) return undefined
  const incoming = (env as { readonly incoming?: unknown }).incoming
  if (typeof incoming !== 'object' || incoming === null) return undefined
  return (incoming as { readonly socket?: unknown }).socket
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
