import type { OAuthError } from '@keyhole/protocol'
import type { FormParams } from './form.ts'

/** What an endpoint sees of a request: already parsed, never the socket. */
export interface EndpointRequest {
  readonly method: string
  readonly path: string
  /** Every Authorization header value, in order: two of them is an error (RFC 6749 §2.3). */
  readonly authorizations: readonly string[]
  /** Every Accept header value, in order (RFC 9701 §4 asks for a JWT answer with it). */
  readonly accepts: readonly string[]
  /** Every DPoP header value, in order: more than one is an invalid proof (RFC 9449 §4.3). */
  readonly dpops: readonly string[]
  readonly form: FormParams
  readonly remoteAddress: string
}

/** What an endpoint returns on success. `body` is serialised as JSON unless it is undefined. */
export interface EndpointResponse {
  readonly kind: 'response'
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: unknown
  /** Sent as is instead of `body` as JSON, with the Content-Type its headers give. */
  readonly text?: string
}

/** Where a streamed response's frames go; false from `write` means the stream is over. */
export interface StreamSink {
  write(chunk: string): boolean
  end(): void
}

/**
 * A response that stays open (Server-Sent Events). The http layer writes the head, then calls
 * `open` with a sink for the body; what `open` returns runs when the connection closes.
 */
export interface EndpointStream {
  readonly kind: 'stream'
  readonly contentType: string
  open(sink: StreamSink): () => void
}

export type EndpointResult = EndpointResponse | EndpointStream | OAuthError
export type Endpoint = (req: EndpointRequest) => Promise<EndpointResult>

export interface Route {
  readonly method: 'GET' | 'POST'
  readonly path: string
  /** POST routes read a form body. Parameters listed here may repeat (RFC 8707 `resource`). */
  readonly repeatable?: readonly string[]
  /** RFC 6749 §5.1 and checklist Q-11: `Cache-Control: no-store` + `Pragma: no-cache`. */
  readonly noStore?: boolean
  readonly handle: Endpoint
}

export function json(
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>,
): EndpointResponse {
  return headers === undefined
    ? { kind: 'response', status, body }
    : { kind: 'response', status, body, headers }
}

/** A body that is not JSON (a signed JWT), with its media type. */
export function text(status: number, contentType: string, body: string): EndpointResponse {
  return { kind: 'response', status, text: body, headers: { 'Content-Type': contentType } }
}

export function empty(status: number): EndpointResponse {
  return { kind: 'response', status }
}
