/**
 * The client side of the token commands: RFC 8414 discovery, client authentication, form posts
 * and error reading. Everything that goes wrong becomes a {@link CliError} whose message names
 * what failed (a URL, an HTTP status, the AS's OAuth error code) and never a secret or a token.
 */
import {
  type AuthorizationServerMetadata,
  basicAuthorization,
  sanitizeErrorText,
} from '@keyhole/protocol'
import { redact } from './redact.ts'

/** A failure to report in one line on stderr; `exitCode` 2 unless said otherwise. */
export class CliError extends Error {
  readonly exitCode: number

  constructor(message: string, exitCode = 2) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post'

export interface ClientCredentials {
  readonly clientId: string
  readonly secret: string
  readonly method: ClientAuthMethod
}

export interface HttpAnswer {
  readonly url: string
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** The endpoints a token command may use (RFC 8414 §2, RFC 7662 §4, RFC 7009 §4). */
export type EndpointName = 'token_endpoint' | 'introspection_endpoint' | 'revocation_endpoint'

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

/**
 * RFC 8414 §2: the issuer is a URL "that uses the https scheme and has no query or fragment
 * components"; plain http is accepted (local development, like `keyhole serve`). The value is
 * never quoted back: a mistyped command line may hold a secret.
 */
export function checkIssuer(issuer: string): URL {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    throw new CliError('--issuer: must be an absolute https URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError('--issuer: must be an https (or, for development, http) URL')
  }
  if (url.username !== '' || url.password !== '') {
    throw new CliError('--issuer: must not contain a user name or password')
  }
  if (url.search !== '' || url.hash !== '' || issuer.includes('?') || issuer.includes('#')) {
    throw new CliError('--issuer: must not have a query or fragment (RFC 8414 §2)')
  }
  return url
}

/**
 * RFC 8414 §3.1: remove a terminating "/" from the issuer's path, then insert the well-known
 * string between the host and the path: https://as.example/t1 -> https://as.example/.well-known/oauth-authorization-server/t1
 */
export function metadataUrl(issuer: URL): string {
  const path = issuer.pathname.replace(/\/$/, '')
  return `${issuer.origin}/.well-known/oauth-authorization-server${path}`
}

/**
 * An http issuer (development) may publish http endpoints: a warning, not an error, when
 * credentials would cross the network in clear, that is when the host is not loopback.
 * (An https issuer's http endpoints never get this far: see endpointOf.)
 */
export function warnIfPlainHttp(url: string): void {
  const parsed = new URL(url)
  if (parsed.protocol === 'http:' && !LOOPBACK.test(parsed.hostname)) {
    process.stderr.write(
      `keyhole: warning: ${parsed.origin} is plain http: credentials and tokens cross the network unencrypted\n`,
    )
  }
}

/**
 * The most of a response body that is read: metadata, token and introspection responses are a
 * few kilobytes; a server that sends more, or sends without end, does not get to fill the memory.
 */
export const MAX_BODY_BYTES = 1024 * 1024

/**
 * One HTTP exchange, body included, within the timeout. Network failures and timeouts become
 * CliErrors naming the URL and the cause's code (ECONNREFUSED, ENOTFOUND, ...); a body larger than
 * MAX_BODY_BYTES one saying so.
 */
export async function exchange(
  url: string,
  init: RequestInit,
  timeoutSeconds: number,
): Promise<HttpAnswer> {
  try {
    const response = await fetch(url, {
      ...init,
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    })
    const text = await readBody(url, response)
    return { url, status: response.status, headers: response.headers, text }
  } catch (err) {
    if (err instanceof DOMException && err.name === 'TimeoutError') {
      throw new CliError(`no answer from ${url} within ${timeoutSeconds} s (see --timeout)`)
    }
    if (err instanceof TypeError) throw new CliError(`could not reach ${url}: ${causeOf(err)}`)
    throw err
  }
}

/** The body as text (UTF-8, as Response.text() reads it), at most MAX_BODY_BYTES of it. */
async function readBody(url: string, response: Response): Promise<string> {
  const tooLarge = () =>
    new CliError(
      `the answer from ${url} is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB; not read`,
    )
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (response.body === null) return ''
  const reader = response.body.getReader()
  if (declared > MAX_BODY_BYTES) {
    await reader.cancel().catch(() => {})
    throw tooLarge()
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  return new TextDecoder().decode(Buffer.concat(chunks))
}

/** undici puts the system error in `cause` (or in `cause.errors` when several addresses failed). */
function causeOf(err: TypeError): string {
  const cause = err.cause as { code?: unknown; message?: unknown; errors?: unknown } | undefined
  if (typeof cause?.code === 'string') return cause.code
  if (Array.isArray(cause?.errors)) {
    const codes = cause.errors
      .map((e: { code?: unknown }) => e.code)
      .filter((c): c is string => typeof c === 'string')
    if (codes.length > 0) return [...new Set(codes)].join(', ')
  }
  // The Fetch standard's "bad port" list (e.g. 9, 25): fetch refuses to connect to them at all.
  if (cause?.message === 'bad port') return 'fetch refuses this port (a Fetch standard "bad port")'
  return typeof cause?.message === 'string' ? cause.message : err.message
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Fetch the issuer's RFC 8414 metadata and check that it is the issuer's own (§3.3: the `issuer`
 * in the document MUST be identical to the issuer the URL was built from, else it MUST NOT be used).
 */
export async function discover(
  issuer: string,
  timeoutSeconds: number,
): Promise<AuthorizationServerMetadata> {
  const url = metadataUrl(checkIssuer(issuer))
  // A redirect is not followed: the metadata names the endpoints credentials are sent to, so it
  // must come from the issuer's own well-known URL, not from wherever (or over whatever scheme)
  // a Location header points.
  const answer = await exchange(
    url,
    { headers: { accept: 'application/json' }, redirect: 'manual' },
    timeoutSeconds,
  )
  if (answer.status >= 300 && answer.status < 400) {
    throw new CliError(
      `no authorization server metadata at ${url}: HTTP ${answer.status} (a redirect; not followed, so that the endpoints come from the issuer itself)`,
    )
  }
  if (answer.status !== 200) {
    throw new CliError(
      `no authorization server metadata at ${url}: HTTP ${answer.status}${oauthErrorOf(answer)}`,
    )
  }
  const doc = parseJsonObject(answer.text)
  if (doc === undefined) {
    throw new CliError(`the authorization server metadata at ${url} is not a JSON object`)
  }
  if (typeof doc.issuer !== 'string') {
    throw new CliError(`the authorization server metadata at ${url} has no issuer`)
  }
  if (doc.issuer !== issuer) {
    throw new CliError(
      `the metadata at ${url} is for issuer ${JSON.stringify(asText(doc.issuer))}, not ${JSON.stringify(issuer)}; RFC 8414 §3.3 requires them to be identical (check --issuer, a trailing "/" counts)`,
    )
  }
  return doc as AuthorizationServerMetadata
}

/**
 * The endpoint URL the metadata publishes, or an error saying the AS does not offer it or it
 * cannot be used. An https issuer's endpoints must be https too, loopback ones included: its
 * metadata must not send credentials and tokens anywhere in clear. Only an http issuer (local
 * development) may publish http endpoints (postForm warns when they are not on loopback).
 * The URL is returned as parsed (WHATWG href), so that what is printed of it holds no control
 * characters from the metadata.
 */
export function endpointOf(metadata: AuthorizationServerMetadata, name: EndpointName): string {
  const value = metadata[name]
  if (typeof value !== 'string') {
    throw new CliError(
      `the authorization server ${metadata.issuer} publishes no ${name} in its metadata`,
    )
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new CliError(`the ${name} in the metadata of ${metadata.issuer} is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(`the ${name} in the metadata of ${metadata.issuer} is not an http(s) URL`)
  }
  if (url.protocol === 'http:' && new URL(metadata.issuer).protocol !== 'http:') {
    throw new CliError(
      `the ${name} in the metadata of ${metadata.issuer} is plain http (${url.origin}): refused, credentials and tokens would cross the network unencrypted; an https issuer's endpoints must be https`,
    )
  }
  return url.href
}

/**
 * POST a form to an endpoint, authenticated as the client. RFC 6749 §2.3.1: with
 * client_secret_basic the id and secret are form-encoded before base64 (basicAuthorization);
 * with client_secret_post they go in the body. Redirects are not followed: credentials go only to
 * the endpoint the issuer published.
 */
export function postForm(
  url: string,
  form: URLSearchParams,
  client: ClientCredentials,
  timeoutSeconds: number,
): Promise<HttpAnswer> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  }
  const body = new URLSearchParams(form)
  if (client.method === 'client_secret_basic') {
    headers.authorization = basicAuthorization(client.clientId, client.secret)
  } else {
    body.set('client_id', client.clientId)
    body.set('client_secret', client.secret)
  }
  warnIfPlainHttp(url)
  return exchange(
    url,
    { method: 'POST', headers, body: body.toString(), redirect: 'manual' },
    timeoutSeconds,
  )
}

/** "<what> at URL answered HTTP 401: invalid_client (description)" for an unsuccessful answer. */
export function answerError(what: string, answer: HttpAnswer): CliError {
  if (answer.status >= 300 && answer.status < 400) {
    return new CliError(
      `${what} at ${answer.url} answered HTTP ${answer.status} (a redirect; not followed, so that credentials go only to the published endpoint)`,
    )
  }
  return new CliError(
    `${what} at ${answer.url} answered HTTP ${answer.status}${oauthErrorOf(answer)}`,
  )
}

/**
 * ": error (error_description)" from an RFC 6749 §5.2 JSON error body, and the Retry-After of a
 * 429 or 503. Text from the AS is reduced to the characters §5.2 allows (no terminal control
 * sequences), has our secrets and tokens blanked out and is shortened; a body that is not an
 * OAuth error is not quoted at all.
 */
function oauthErrorOf(answer: HttpAnswer): string {
  const body = parseJsonObject(answer.text)
  let text = ''
  if (typeof body?.error === 'string') {
    text = `: ${clip(asText(body.error), 80)}`
    if (typeof body.error_description === 'string' && body.error_description !== '') {
      text += ` (${clip(asText(body.error_description), 300)})`
    }
  }
  const retryAfter = answer.headers.get('retry-after')
  if (retryAfter !== null && /^\d{1,6}$/.test(retryAfter)) {
    text += `; retry after ${retryAfter} s`
  }
  return text
}

/** Text from the AS: only the characters RFC 6749 §5.2 allows, without our secrets or tokens. */
function asText(text: string): string {
  return sanitizeErrorText(redact(text))
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}...` : text
}
