/**
 * node:http adapter (`@keyhole/resource-server/node`), for servers without a framework.
 *
 * ```ts
 * createServer(async (req, res) => {
 *   if (serveResourceMetadata(verifier, req, res)) return
 *   const token = await authenticate(verifier, req, res, { scopes: ['orders:read'] })
 *   if (token === undefined) return // the 400/401/403/503 answer is already written
 *   res.end(JSON.stringify({ caller: token.clientId }))
 * })
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Policy, VerifiedToken } from '../policy.ts'
import type { TokenVerifier } from '../verifier.ts'
import {
  failureBody,
  type MetadataRoute,
  metadataRoute,
  pathOf,
  rawHeaders,
  requestTarget,
} from './shared.ts'

/**
 * Verify the request's token and apply `policy`. Returns the token, or writes the failure
 * (status, `WWW-Authenticate` or `Retry-After`, `{ error, error_description }`) and returns
 * undefined.
 */
export async function authenticate(
  verifier: TokenVerifier,
  req: IncomingMessage,
  res: ServerResponse,
  policy?: Policy,
): Promise<VerifiedToken | undefined> {
  const pending = verifier.verifyNow(
    {
      method: req.method ?? 'GET',
      url: requestTarget(req.url),
      // From the raw list: a repeated Authorization header stays visible (`req.headers` drops it).
      headers: rawHeaders(req.rawHeaders),
    },
    policy,
  )
  const result = pending instanceof Promise ? await pending : pending
  if (result.ok) return result.token
  const body = JSON.stringify(failureBody(result))
  res.writeHead(result.status, {
    ...result.headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(body)
  return undefined
}

const routes = new WeakMap<TokenVerifier, MetadataRoute>()

/**
 * Answer a GET or HEAD for the RFC 9728 document (at the path of `verifier.resourceMetadata.url`)
 * and return true; return false, writing nothing, for any other request.
 */
export function serveResourceMetadata(
  verifier: TokenVerifier,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  let route = routes.get(verifier)
  if (route === undefined) {
    route = metadataRoute(verifier)
    routes.set(verifier, route)
  }
  const method = req.method ?? 'GET'
  if ((method !== 'GET' && method !== 'HEAD') || pathOf(requestTarget(req.url)) !== route.path) {
    return false
  }
  res.writeHead(200, { ...route.headers, 'Content-Length': Buffer.byteLength(route.body) })
  res.end(method === 'HEAD' ? undefined : route.body)
  return true
}
