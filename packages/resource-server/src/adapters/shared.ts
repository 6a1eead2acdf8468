/**
 * What every adapter shares, framework-free: the failure body, the RFC 9728 route, and the
 * request URL the core is given. Internal to the adapters (not a package export).
 */
import type { HeadersLike, RequestLike } from '../request.ts'
import type { VerifyFailure } from '../verifier.ts'

/** RFC 6750 §3 / RFC 6749 §5.2 style body of a failed request. */
export interface FailureBody {
  /** Absent when the request carried no token (RFC 6750 §3.1: no error code then). */
  readonly error?: string
  readonly error_description: string
}

export function failureBody(failure: VerifyFailure): FailureBody {
  // The description is safe to show (the core never puts the token or the AS's body in it).
  return failure.error === undefined
    ? { error_description: failure.description }
    : { error: failure.error, error_description: failure.description }
}

/** RFC 9728 §7.10 / checklist PR-12: metadata is cacheable. */
export const METADATA_CACHE_CONTROL = 'max-age=3600'

export interface MetadataRoute {
  /** The path of the metadata URL (RFC 9728 §3: the well-known segment inserted before the resource's path). */
  readonly path: string
  /** The serialized document. */
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
}

/**
 * Where and what to serve for RFC 9728. Throws when the verifier publishes no metadata
 * (`resourceMetadata: false`, or an audience that is not an http(s) URL): a wiring mistake.
 */
export function metadataRoute(verifier: {
  readonly resourceMetadata: { readonly url: string; readonly document: unknown } | undefined
}): MetadataRoute {
  const metadata = verifier.resourceMetadata
  if (metadata === undefined) {
    throw new TypeError(
      'protectedResourceMetadata: this verifier publishes no RFC 9728 metadata (resourceMetadata is off or the audience is not an http(s) URL)',
    )
  }
  return {
    path: new URL(metadata.url).pathname,
    body: JSON.stringify(metadata.document),
    headers: {
      'Content-Type': 'application/json',
      'Cache-Control': METADATA_CACHE_CONTROL,
      // A public document that browser-based clients (MCP inspectors, SPAs) fetch cross-origin.
      'Access-Control-Allow-Origin': '*',
    },
  }
}

/**
 * The request target given to the core: path and query only. An absolute URL built from the
 * Host header would let the client choose the origin DPoP's `htu` is compared with; the core
 * takes the origin from its `dpop.origin` option (or the audience) instead.
 */
export function requestTarget(url: string | undefined): string {
  if (url === undefined || url === '') return '/'
  if (url.startsWith('/')) return url
  try {
    const parsed = new URL(url)
    return `${parsed.pathname}${parsed.search}`
  } catch {
    return '/'
  }
}

/** The path of a request target, without its query. */
export function pathOf(target: string): string {
  const query = target.indexOf('?')
  return query === -1 ? target : target.slice(0, query)
}

/**
 * Node's headers as the core reads them, without building `headersDistinct` (a getter that copies
 * every header on each access): `get` scans the raw list for one name and joins repeats with ", ",
 * as a WHATWG Headers object does, so a repeated Authorization or DPoP header stays visible.
 */
export function rawHeaders(raw: readonly string[]): { get(name: string): string | null } {
  return new RawHeaderList(raw)
}

/** A class rather than an object literal with a closure: one small allocation per request. */
class RawHeaderList {
  readonly #raw: readonly string[]
  constructor(raw: readonly string[]) {
    this.#raw = raw
  }
  get(name: string): string | null {
    const raw = this.#raw
    const wanted = name.toLowerCase()
    let value: string | null = null
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const key = raw[i] as string
      if (key.length !== wanted.length || key.toLowerCase() !== wanted) continue
      value = value === null ? (raw[i + 1] as string) : `${value}, ${raw[i + 1] as string}`
    }
    return value
  }
}

/** What a Node TLS socket (node:tls TLSSocket, and HTTP/2's socket proxy) offers here. */
interface PeerCertificateSource {
  getPeerCertificate(detailed?: boolean): { readonly raw?: unknown } | null
}

/**
 * The DER bytes of the client certificate of a Node socket: the TLS socket of an API that
 * terminates TLS itself with `requestCert`. Undefined for a plain TCP socket or when the client
 * sent none. The chain is not looked at (RFC 8705 §6.2): `rejectUnauthorized: false` is fine.
 */
export function peerCertificateOf(socket: unknown): Uint8Array | undefined {
  if (
    typeof socket !== 'object' ||
    socket === null ||
    typeof (socket as Partial<PeerCertificateSource>).getPeerCertificate !== 'function'
  ) {
    return undefined
  }
  // Without `detailed`: the peer's certificate only, not its issuers.
  const raw = (socket as PeerCertificateSource).getPeerCertificate(false)?.raw
  return raw instanceof Uint8Array && raw.length > 0 ? raw : undefined
}

/**
 * The core's request shape for a request that arrived on a Node socket. `clientCertificate` is a
 * getter, so the socket is asked (a call into OpenSSL) only for a certificate-bound token: a
 * plain Bearer request pays nothing for it. A class, not an object literal with a closure: one
 * small allocation per request.
 */
export class SocketRequest implements RequestLike {
  readonly method: string
  readonly url: string
  readonly headers: HeadersLike
  readonly #socket: unknown
  constructor(method: string, url: string, headers: HeadersLike, socket: unknown) {
    this.method = method
    this.url = url
    this.headers = headers
    this.#socket = socket
  }
  get clientCertificate(): Uint8Array | undefined {
    return peerCertificateOf(this.#socket)
  }
}
