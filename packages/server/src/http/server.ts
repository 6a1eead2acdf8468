/**
 * node:http <-> endpoints. The only module that touches sockets: routing, body limits, content
 * types, strict form parsing, no-store headers, request logs, and the one function that turns an
 * OAuthError (or an unexpected exception) into a response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errorBody, isOAuthError, type OAuthError, oauthError } from '@keyhole/protocol'
import { describeError, type Logger } from '../log.ts'
import { EMPTY_FORM, type FormParams, parseForm } from './form.ts'
import type { EndpointResult, Route } from './types.ts'

export interface HttpOptions {
  readonly routes: readonly Route[]
  /** Largest request body accepted, in bytes; larger gets 413. */
  readonly bodyLimit: number
  readonly logger: Logger
  readonly logRequests: boolean
}

interface CompiledRoute {
  readonly route: Route
  readonly repeatable: ReadonlySet<string>
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const
const JSON_TYPE = 'application/json'
const FORM_TYPE = 'application/x-www-form-urlencoded'
// Parameters that carry credentials or tokens MUST NOT be sent in the URI (RFC 6749 §2.3.1, RFC 6750 §2.3).
const SECRET_QUERY_PARAMS = [
  'client_secret',
  'client_assertion',
  'token',
  'access_token',
  'refresh_token',
]

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

export function createRequestListener(options: HttpOptions): RequestListener {
  const table = new Map<string, Map<string, CompiledRoute>>()
  for (const route of options.routes) {
    const byMethod = table.get(route.path) ?? new Map<string, CompiledRoute>()
    table.set(route.path, byMethod)
    byMethod.set(route.method, { route, repeatable: new Set(route.repeatable ?? []) })
  }

  return (req, res) => {
    const started = performance.now()
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q)
    if (options.logRequests) {
      res.once('finish', () => {
        options.logger.log('info', 'request', {
          method: req.method ?? '',
          // Only paths that name a route are logged: anything else may carry a pasted token.
          path: table.has(path) ? path : '(no route)',
          status: res.statusCode,
          ms: Math.round((performance.now() - started) * 100) / 100,
        })
      })
    }
    handle(req, res, path, q === -1 ? '' : rawUrl.slice(q + 1)).catch((err: unknown) => {
      options.logger.log('error', 'unexpected error', describeError(err))
      if (!res.headersSent) writeError(res, oauthError('server_error'))
      else res.destroy()
    })
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: string,
  ): Promise<void> {
    const byMethod = table.get(path)
    if (byMethod === undefined) {
      discard(req)
      return writeError(res, oauthError('invalid_request', 'no such endpoint', { status: 404 }))
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '')
    const compiled = byMethod.get(method)
    if (compiled === undefined) {
      discard(req)
      const allow = [...byMethod.keys()].join(', ')
      // RFC 7662 §4 / RFC 7009 §2: token-bearing endpoints take POST only, keeping tokens out of URLs and logs.
      return writeError(
        res,
        oauthError('invalid_request', `method not allowed; use ${allow}`, {
          status: 405,
          headers: { Allow: allow },
        }),
      )
    }
    const { route } = compiled
    const noStore = route.noStore === true
    let form: FormParams = EMPTY_FORM
    if (route.method === 'POST') {
      const rejected = checkPostHeaders(req, query)
      if (rejected !== undefined) {
        discard(req)
        return writeError(res, rejected)
      }
      const body = await readBody(req, options.bodyLimit)
      // The client went away mid-body (or sent a broken chunked body, already answered 400 by the
      // parser): there is no one to answer, and it is not a server error worth an error log.
      if (body === 'aborted') return
      if (body === 'too_large') {
        return writeError(
          res,
          oauthError('invalid_request', `the request body exceeds ${options.bodyLimit} bytes`, {
            status: 413,
            headers: { Connection: 'close' },
          }),
        )
      }
      const parsed = parseForm(body, compiled.repeatable)
      if (!parsed.ok) return writeError(res, parsed.error)
      form = parsed.value
    } else {
      discard(req)
    }
    const result: EndpointResult = await route.handle({
      method,
      path,
      headers: req.headers,
      headersDistinct: req.headersDistinct,
      form,
      remoteAddress: req.socket.remoteAddress ?? '',
    })
    if (isOAuthError(result)) return writeError(res, result)
    const headers: Record<string, string> = { ...(noStore ? NO_STORE : {}), ...result.headers }
    if (result.body === undefined) {
      res.writeHead(result.status, headers)
      res.end()
      return
    }
    const body = JSON.stringify(result.body)
    headers['Content-Type'] = JSON_TYPE
    headers['Content-Length'] = String(Buffer.byteLength(body))
    res.writeHead(result.status, headers)
    res.end(body)
  }
}

function checkPostHeaders(req: IncomingMessage, query: string): OAuthError | undefined {
  const contentTypes = req.headersDistinct['content-type']
  if (contentTypes === undefined || contentTypes.length !== 1) {
    return oauthError('invalid_request', `the request body must be ${FORM_TYPE}`)
  }
  const [mediaType, ...params] = (contentTypes[0] ?? '').split(';')
  if (mediaType?.trim().toLowerCase() !== FORM_TYPE) {
    return oauthError('invalid_request', `the request body must be ${FORM_TYPE}`)
  }
  for (const param of params) {
    const [name, value] = param.split('=')
    // RFC 9110 §5.6.6: a parameter value may be a quoted-string (charset="UTF-8").
    const charset = value
      ?.trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase()
    if (name?.trim().toLowerCase() === 'charset' && charset !== 'utf-8') {
      return oauthError('invalid_request', 'the request body must be UTF-8')
    }
  }
  if (query !== '') {
    const names = new URLSearchParams(query)
    if (SECRET_QUERY_PARAMS.some((name) => names.has(name))) {
      return oauthError('invalid_request', 'credentials and tokens must not be sent in the URL')
    }
  }
  return undefined
}

function readBody(
  req: IncomingMessage,
  limit: number,
): Promise<Uint8Array | 'too_large' | 'aborted'> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume()
    return Promise.resolve('too_large')
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > limit) {
        done = true
        chunks.length = 0
        resolve('too_large')
        return
      }
      chunks.push(chunk)
    })
    req.once('end', () => {
      if (!done) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks))
    })
    req.once('error', () => {
      if (!done) resolve('aborted')
    })
  })
}

function discard(req: IncomingMessage): void {
  if (!req.complete) req.resume()
}

/** The one place a protocol error becomes bytes (RFC 6749 §5.2). Errors are never cacheable. */
function writeError(res: ServerResponse, err: OAuthError): void {
  const body = JSON.stringify(errorBody(err))
  res.writeHead(err.status, {
    'Content-Type': JSON_TYPE,
    'Content-Length': String(Buffer.byteLength(body)),
    ...NO_STORE,
    ...err.headers,
  })
  res.end(body)
}
