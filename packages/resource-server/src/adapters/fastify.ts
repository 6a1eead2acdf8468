/**
 * Fastify 5 adapter (`@keyhole/resource-server/fastify`).
 *
 * ```ts
 * app.route(protectedResourceMetadata(verifier))
 * app.get('/orders', { preHandler: requireToken(verifier, { scopes: ['orders:read'] }) },
 *   async (request) => ({ caller: request.auth?.clientId }))
 * ```
 *
 * `request.auth` is declared on FastifyRequest by declaration merging (below); it is set only on
 * routes whose preHandler ran `requireToken`, hence optional.
 */
import type { preHandlerAsyncHookHandler, RouteOptions } from 'fastify'
import type { Policy, VerifiedToken } from '../policy.ts'
import type { TokenVerifier } from '../verifier.ts'
import { failureBody, metadataRoute, rawHeaders, requestTarget, SocketRequest } from './shared.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token, on routes protected by `requireToken` from `@keyhole/resource-server/fastify`. */
    auth?: VerifiedToken
  }
}

/**
 * preHandler hook: verify the Bearer (or DPoP) token and apply `policy`. On success sets
 * `request.auth`; on failure answers with the RFC 6750 status, the `WWW-Authenticate` (or
 * `Retry-After`) header and `{ error, error_description }`, and the handler does not run.
 */
export function requireToken(verifier: TokenVerifier, policy?: Policy): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    const result = await verifier.verify(
      new SocketRequest(
        request.method,
        requestTarget(request.url),
        // From the raw list: a repeated Authorization header stays visible (`headers` drops it).
        rawHeaders(request.raw.rawHeaders),
        // RFC 8705 §3: the client certificate, with Fastify's `https: { requestCert: true }`.
        request.raw.socket,
      ),
      policy,
    )
    if (result.ok) {
      request.auth = result.token
      return
    }
    return reply.code(result.status).headers(result.headers).send(failureBody(result))
  }
}

/**
 * The route serving the RFC 9728 document (GET, and HEAD through Fastify's exposeHeadRoutes) at
 * the path of `verifier.resourceMetadata.url`: `app.route(protectedResourceMetadata(verifier))`.
 */
export function protectedResourceMetadata(verifier: TokenVerifier): RouteOptions {
  const route = metadataRoute(verifier)
  return {
    method: 'GET',
    // find-my-way reads ":" as a parameter; "::" is a literal colon.
    url: route.path.replaceAll(':', '::'),
    handler: async (_request, reply) => reply.code(200).headers(route.headers).send(route.body),
  }
}
