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
 *
 * Or wrap a handler, which then runs in the same tick as the request on a warm cache (no promise
 * in between, which is what the `await` above costs):
 *
 * ```ts
 * const orders = protect(verifier, { scopes: ['orders:read'] }, (req, res, token) => {
 *   res.end(JSON.stringify({ caller: token.clientId }))
 * })
 * createServer((req, res) => (req.url === '/orders' ? orders(req, res) : res.writeHead(404).end()))
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Policy, VerifiedToken } from '../policy.ts'
import type { TokenVerifier, VerifyResult } from '../verifier.ts'
import {
  failureBody,
  type MetadataRoute,
  metadataRoute,
  pathOf,
  rawHeaders,
  requestTarget,
  SocketRequest,
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
  const pending = verifier.verifyNow(requestOf(req), policy)
  return answered(pending instanceof Promise ? await pending : pending, res)
}

/** What `protect` wraps: a handler that runs only for requests whose token passed the policy. */
export type ProtectedHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  token: VerifiedToken,
) => unknown

export interface ProtectOptions {
  /**
   * Called when the check itself fails with an exception (a throwing `resolveIssuer` or tenant
   * function), after the request was answered 500. Default: `process.emitWarning`.
   */
  readonly onError?: (error: unknown, req: IncomingMessage) => void
}

const CHECK_FAILED = JSON.stringify({ error_description: 'the access token could not be checked' })

/**
 * A request listener that checks the token and `policy` and then calls `handler`, or answers the
 * failure itself (status, `WWW-Authenticate` or `Retry-After`, `{ error, error_description }`).
 * On a warm cache `handler` runs synchronously, in the same tick as the request. Otherwise the
 * listener returns a promise that settles when `handler` has run. A check that throws is answered
 * 500 and reported to `onError`; the process keeps serving. What `handler` throws is the
 * handler's own, as in any listener.
 */
export function protect(
  verifier: TokenVerifier,
  policy: Policy | undefined,
  handler: ProtectedHandler,
  options: ProtectOptions = {},
): (req: IncomingMessage, res: ServerResponse) => unknown {
  const onError = options.onError ?? reportWarning
  return (req, res) => {
    const pending = verifier.verifyNow(requestOf(req), policy)
    if (!(pending instanceof Promise)) {
      const token = answered(pending, res)
      return token === undefined ? undefined : handler(req, res, token)
    }
    return pending.then(
      (result) => {
        const token = answered(result, res)
        return token === undefined ? undefined : handler(req, res, token)
      },
      (err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(CHECK_FAILED),
          })
          res.end(CHECK_FAILED)
        }
        try {
          onError(err, req)
        } catch {
          // A reporting hook must not turn an answered request into an unhandled rejection.
        }
      },
    )
  }
}

function reportWarning(error: unknown): void {
  process.emitWarning(error instanceof Error ? error : String(error), 'KeyholeProtectWarning')
}

function requestOf(req: IncomingMessage): SocketRequest {
  return new SocketRequest(
    req.method ?? 'GET',
    requestTarget(req.url),
    // From the raw list: a repeated Authorization header stays visible (`req.headers` drops it).
    rawHeaders(req.rawHeaders),
    // RFC 8705 §3: the client certificate of a TLS connection (node:https with requestCert).
    req.socket,
  )
}

/** The token of a passed check; or the failure, written, and undefined. */
function answered(result: VerifyResult, res: ServerResponse): VerifiedToken | undefined {
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
