/**
 * Express 5 adapter (`@keyhole/resource-server/express`).
 *
 * ```ts
 * app.use(protectedResourceMetadata(verifier))
 * app.get('/orders', requireToken(verifier, { scopes: ['orders:read'] }), (req, res) => {
 *   res.json({ caller: getAuth(req).clientId })
 * })
 * ```
 *
 * The verified token is read with `getAuth(req)`, not from `req.auth`: the MCP TypeScript SDK
 * already declares `Request.auth` as its own `AuthInfo` type (by declaration merging on
 * `express-serve-static-core`), so a second, different `auth` declaration would not compile in
 * an app that uses both, and a VerifiedToken stored there would reach the SDK's transport as if it
 * were an AuthInfo.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { Policy, VerifiedToken } from '../policy.ts'
import type { TokenVerifier, VerifyResult } from '../verifier.ts'
import {
  failureBody,
  metadataRoute,
  pathOf,
  rawHeaders,
  requestTarget,
  SocketRequest,
} from './shared.ts'

const verified = new WeakMap<object, VerifiedToken>()

/**
 * A RequestHandler generic in the route's types, so that placing it before a handler keeps what
 * Express infers for that handler (`req.params.id: string` on '/orders/:id').
 */
export type TokenMiddleware = <
  P,
  ResBody,
  ReqBody,
  ReqQuery,
  Locals extends Record<string, unknown>,
>(
  req: Request<P, ResBody, ReqBody, ReqQuery, Locals>,
  res: Response<ResBody, Locals>,
  next: NextFunction,
) => void

/**
 * Middleware: verify the Bearer (or DPoP) token and apply `policy`. On success the token is
 * available through `getAuth(req)`; on failure it answers with the RFC 6750 status, the
 * `WWW-Authenticate` (or `Retry-After`) header and `{ error, error_description }`.
 * With a warm cache the route's handler runs in the same tick (`verifyNow`).
 */
export function requireToken(verifier: TokenVerifier, policy?: Policy): TokenMiddleware {
  return (req, res, next) => {
    const pending = verifier.verifyNow(
      new SocketRequest(
        req.method,
        // originalUrl: `req.url` is relative to the router the middleware is mounted on.
        requestTarget(req.originalUrl),
        // From the raw list: a repeated Authorization header stays visible (`req.headers` drops it).
        rawHeaders(req.rawHeaders),
        // RFC 8705 §3: the client certificate, when the app is served by node:https with requestCert.
        req.socket,
      ),
      policy,
    )
    if (pending instanceof Promise) {
      // A rejection (a bug, not a verdict) goes to Express's error handling, as a thrown error would.
      pending.then((result) => settle(req, res, next, result)).catch(next)
      return
    }
    settle(req, res, next, pending)
  }
}

function settle(req: object, res: Response, next: NextFunction, result: VerifyResult): void {
  if (result.ok) {
    verified.set(req, result.token)
    next()
    return
  }
  res.status(result.status).set(result.headers).json(failureBody(result))
}

/** The token `requireToken` verified for this request. Throws if `requireToken` did not run. */
export function getAuth<P, ResBody, ReqBody, ReqQuery, Locals extends Record<string, unknown>>(
  req: Request<P, ResBody, ReqBody, ReqQuery, Locals>,
): VerifiedToken {
  const token = verified.get(req)
  if (token === undefined) {
    throw new Error('getAuth: no verified token on this request (is requireToken() before it?)')
  }
  return token
}

/**
 * Middleware serving the RFC 9728 document at the path of `verifier.resourceMetadata.url`
 * (`/.well-known/oauth-protected-resource` + the resource's path), for GET and HEAD; every
 * other request goes on. Mount it on the app, not under a path prefix.
 */
export function protectedResourceMetadata(verifier: TokenVerifier): RequestHandler {
  const route = metadataRoute(verifier)
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || pathOf(req.originalUrl) !== route.path) {
      next()
      return
    }
    res.status(200).set(route.headers).send(route.body)
  }
}
