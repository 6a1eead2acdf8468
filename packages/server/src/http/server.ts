/**
 * node:http <-> endpoints. The only module that touches sockets: routing, body limits, content
 * types, strict form parsing, no-store headers, request logs, and the one function that turns an
 * OAuthError (or an unexpected exception) into a response.
 *
 * This is the introspection hot path (docs/benchmarks.md): the request headers are read in one
 * pass over `rawHeaders` (node's `headersDistinct` builds a second dictionary of every header),
 * the body is read without a promise, and the common responses hand writeHead a flat header list.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { errorBody, isOAuthError, type OAuthError, oauthError } from '@keyhole/protocol'
import { describeError, type Logger } from '../log.ts'
import { StoreUnavailableError } from '../store/store.ts'
import { clientAddress, type TrustedProxies } from './client-address.ts'
import { EMPTY_FORM, type FormParams, parseForm } from './form.ts'
import type { EndpointRequest, EndpointResult, EndpointStream, Route } from './types.ts'

export interface HttpOptions {
  readonly routes: readonly Route[]
  /** Largest request body accepted, in bytes; larger gets 413. */
  readonly bodyLimit: number
  readonly logger: Logger
  readonly logRequests: boolean
  /** Reverse proxies whose X-Forwarded-For names the client (`trustedProxies`); none by default. */
  readonly proxies?: TrustedProxies | undefined
  /** Bytes a streamed response may have waiting for a slow reader before it is ended. Default 1 MiB. */
  readonly streamBufferBytes?: number
}

interface CompiledRoute {
  readonly route: Route
  readonly repeatable: ReadonlySet<string>
  readonly noStore: boolean
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const
const NO_STORE_LIST: readonly string[] = ['Cache-Control', 'no-store', 'Pragma', 'no-cache']
const NONE: readonly string[] = []
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

/** The request headers `http/` and the endpoints read, every value of each, in order. */
interface RequestHeaders {
  readonly contentTypes: readonly string[]
  readonly authorizations: readonly string[]
  readonly accepts: readonly string[]
  /** RFC 9449 §4.1: DPoP proofs (the token endpoint binds tokens with one). */
  readonly dpops: readonly string[]
  /** Read only when proxies are trusted. */
  readonly forwardedFor: readonly string[]
}

export function createRequestListener(options: HttpOptions): RequestListener {
  const table = new Map<string, Map<string, CompiledRoute>>()
  for (const route of options.routes) {
    const byMethod = table.get(route.path) ?? new Map<string, CompiledRoute>()
    table.set(route.path, byMethod)
    byMethod.set(route.method, {
      route,
      repeatable: new Set(route.repeatable ?? []),
      noStore: route.noStore === true,
    })
  }
  const { logger, bodyLimit } = options
  const streamLimit = options.streamBufferBytes ?? STREAM_BUFFER_LIMIT

  function logOnFinish(req: IncomingMessage, res: ServerResponse, path: string): void {
    const started = performance.now()
    res.once('finish', () => {
      logger.log('info', 'request', {
        method: req.method ?? '',
        // Only paths that name a route are logged: anything else may carry a pasted token.
        path: table.has(path) ? path : '(no route)',
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 100) / 100,
      })
    })
  }

  function unexpected(res: ServerResponse, err: unknown): void {
    if (err instanceof StoreUnavailableError) {
      // The database cannot answer now (down, unreachable, too slow): not a bug, and not the
      // caller's fault. RFC 6749 §4.1.2.1's temporarily_unavailable, with when to try again.
      logger.log('warn', 'store unavailable', { reason: err.message })
      if (!res.headersSent) {
        writeError(
          res,
          oauthError('temporarily_unavailable', 'the store is unavailable; retry later', {
            status: 503,
            headers: { 'Retry-After': '1' },
          }),
        )
      } else res.destroy()
      return
    }
    logger.log('error', 'unexpected error', describeError(err))
    if (!res.headersSent) writeError(res, oauthError('server_error'))
    else res.destroy()
  }

  /** Routing and the checks that need no body; then the body, then `respond`. */
  function handle(req: IncomingMessage, res: ServerResponse, path: string, query: string): void {
    const byMethod = table.get(path)
    if (byMethod === undefined) {
      discard(req)
      writeError(res, oauthError('invalid_request', 'no such endpoint', { status: 404 }))
      return
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '')
    const compiled = byMethod.get(method)
    if (compiled === undefined) {
      discard(req)
      const allow = [...byMethod.keys()].join(', ')
      // RFC 7662 §4 / RFC 7009 §2: token-bearing endpoints take POST only, keeping tokens out of URLs and logs.
      writeError(
        res,
        oauthError('invalid_request', `method not allowed; use ${allow}`, {
          status: 405,
          headers: { Allow: allow },
        }),
      )
      return
    }
    const headers = readHeaders(req.rawHeaders, options.proxies !== undefined)
    if (compiled.route.method !== 'POST') {
      discard(req)
      respond(req, res, compiled, method, path, headers, EMPTY_FORM)
      return
    }
    const rejected = checkPostHeaders(headers.contentTypes, query)
    if (rejected !== undefined) {
      discard(req)
      writeError(res, rejected)
      return
    }
    readBody(req, bodyLimit, (body) => {
      try {
        // The client went away mid-body (or sent a broken chunked body, already answered 400 by
        // the parser): there is no one to answer, and it is not a server error worth an error log.
        if (body === 'aborted') return
        if (body === 'too_large') {
          writeError(
            res,
            oauthError('invalid_request', `the request body exceeds ${bodyLimit} bytes`, {
              status: 413,
              headers: { Connection: 'close' },
            }),
          )
          return
        }
        const parsed = parseForm(body, compiled.repeatable)
        if (!parsed.ok) {
          writeError(res, parsed.error)
          return
        }
        respond(req, res, compiled, method, path, headers, parsed.value)
      } catch (err) {
        unexpected(res, err)
      }
    })
  }

  async function respond(
    req: IncomingMessage,
    res: ServerResponse,
    compiled: CompiledRoute,
    method: string,
    path: string,
    headers: RequestHeaders,
    form: FormParams,
  ): Promise<void> {
    try {
      const request: EndpointRequest = {
        method,
        path,
        authorizations: headers.authorizations,
        accepts: headers.accepts,
        dpops: headers.dpops,
        form,
        remoteAddress: clientAddress(
          req.socket.remoteAddress ?? '',
          headers.forwardedFor,
          options.proxies,
        ),
      }
      writeResult(res, await compiled.route.handle(request), compiled.noStore, streamLimit)
    } catch (err) {
      unexpected(res, err)
    }
  }

  return (req, res) => {
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q)
    if (options.logRequests) logOnFinish(req, res, path)
    try {
      handle(req, res, path, q === -1 ? '' : rawUrl.slice(q + 1))
    } catch (err) {
      unexpected(res, err)
    }
  }
}

/**
 * Content-Type, Authorization, Accept and DPoP (and X-Forwarded-For when proxies are trusted), every
 * value of each (names compared as node lower-cases them).
 */
function readHeaders(raw: readonly string[], forwarded: boolean): RequestHeaders {
  let contentTypes: string[] | undefined
  let authorizations: string[] | undefined
  let accepts: string[] | undefined
  let dpops: string[] | undefined
  let forwardedFor: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 12 && name.toLowerCase() === 'content-type') {
      contentTypes ??= []
      contentTypes.push(raw[i + 1] as string)
    } else if (name.length === 13 && name.toLowerCase() === 'authorization') {
      authorizations ??= []
      authorizations.push(raw[i + 1] as string)
    } else if (name.length === 6 && name.toLowerCase() === 'accept') {
      accepts ??= []
      accepts.push(raw[i + 1] as string)
    } else if (name.length === 4 && name.toLowerCase() === 'dpop') {
      dpops ??= []
      dpops.push(raw[i + 1] as string)
    } else if (forwarded && name.length === 15 && name.toLowerCase() === 'x-forwarded-for') {
      forwardedFor ??= []
      forwardedFor.push(raw[i + 1] as string)
    }
  }
  return {
    contentTypes: contentTypes ?? NONE,
    authorizations: authorizations ?? NONE,
    accepts: accepts ?? NONE,
    dpops: dpops ?? NONE,
    forwardedFor: forwardedFor ?? NONE,
  }
}

function checkPostHeaders(contentTypes: readonly string[], query: string): OAuthError | undefined {
  if (contentTypes.length !== 1) {
    return oauthError('invalid_request', `the request body must be ${FORM_TYPE}`)
  }
  const contentType = contentTypes[0] as string
  if (contentType !== FORM_TYPE) {
    const [mediaType, ...params] = contentType.split(';')
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
  done: (body: Uint8Array | 'too_large' | 'aborted') => void,
): void {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume()
    done('too_large')
    return
  }
  let first: Buffer | undefined
  let chunks: Buffer[] | undefined
  let size = 0
  let settled = false
  req.on('data', (chunk: Buffer) => {
    if (settled) return
    size += chunk.length
    if (size > limit) {
      settled = true
      first = undefined
      chunks = undefined
      done('too_large')
      return
    }
    if (first === undefined) first = chunk
    else if (chunks === undefined) chunks = [first, chunk]
    else chunks.push(chunk)
  })
  req.once('end', () => {
    if (settled) return
    settled = true
    done(chunks !== undefined ? Buffer.concat(chunks) : (first ?? EMPTY_BODY))
  })
  req.once('error', () => {
    if (settled) return
    settled = true
    done('aborted')
  })
}

const EMPTY_BODY = Buffer.alloc(0)

function discard(req: IncomingMessage): void {
  if (!req.complete) req.resume()
}

function writeResult(
  res: ServerResponse,
  result: EndpointResult,
  noStore: boolean,
  streamLimit = STREAM_BUFFER_LIMIT,
): void {
  if (isOAuthError(result)) {
    writeError(res, result)
    return
  }
  if (result.kind === 'stream') {
    writeStream(res, result, streamLimit)
    return
  }
  if (result.headers !== undefined) {
    writeWithHeaders(res, result.status, result.body, result.headers, noStore, result.text)
    return
  }
  if (result.body === undefined) {
    res.writeHead(result.status, noStore ? NO_STORE_LIST.slice() : [])
    res.end()
    return
  }
  const body = JSON.stringify(result.body)
  const length = String(Buffer.byteLength(body))
  res.writeHead(
    result.status,
    noStore
      ? [
          'Cache-Control',
          'no-store',
          'Pragma',
          'no-cache',
          'Content-Type',
          JSON_TYPE,
          'Content-Length',
          length,
        ]
      : ['Content-Type', JSON_TYPE, 'Content-Length', length],
  )
  res.end(body)
}

/** Bytes a stream may have waiting for a slow reader before it is ended (default). */
const STREAM_BUFFER_LIMIT = 1 << 20

/** A response that stays open: the head now, the body as the endpoint writes it. Never cached. */
function writeStream(res: ServerResponse, stream: EndpointStream, limit: number): void {
  res.writeHead(200, {
    'Content-Type': stream.contentType,
    'Cache-Control': 'no-store',
    // A buffering reverse proxy (nginx) would hold events back.
    'X-Accel-Buffering': 'no',
    // A stream ends when the server shuts down or the reader is too slow: then its connection
    // goes too (the subscriber reconnects with a new one), so shutdown does not wait on it.
    Connection: 'close',
  })
  res.flushHeaders()
  const stop = stream.open({
    write(chunk) {
      if (res.destroyed || res.writableEnded) return false
      res.write(chunk)
      // A reader that lets a megabyte pile up is not keeping up; ending the stream frees it (and
      // the subscriber learns what it missed when it reconnects).
      return res.writableLength <= limit
    },
    end() {
      // What a slow reader left unread is not waited for.
      if (res.writableLength > limit) res.destroy()
      else if (!res.writableEnded) res.end()
    },
  })
  res.once('close', stop)
}

/** Responses that bring their own headers (metadata, health): merged as a dictionary. */
function writeWithHeaders(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Readonly<Record<string, string>>,
  noStore: boolean,
  raw?: string,
): void {
  const headers: Record<string, string> = { ...(noStore ? NO_STORE : {}), ...extra }
  if (raw !== undefined) {
    headers['Content-Length'] = String(Buffer.byteLength(raw))
    res.writeHead(status, headers)
    res.end(raw)
    return
  }
  if (body === undefined) {
    res.writeHead(status, headers)
    res.end()
    return
  }
  const text = JSON.stringify(body)
  headers['Content-Type'] = JSON_TYPE
  headers['Content-Length'] = String(Buffer.byteLength(text))
  res.writeHead(status, headers)
  res.end(text)
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
