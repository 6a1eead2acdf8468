/**
 * The tiny request shape the core speaks (never a framework object), and RFC 6750 §2.1 / RFC 9449
 * §7 token extraction from it.
 */

/** Node's IncomingHttpHeaders, a plain record, or a WHATWG Headers object. */
export type HeadersLike =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>

export interface RequestLike {
  readonly method: string
  /** The request target: a path with optional query (`/orders?id=1`) or an absolute URL. */
  readonly url: string
  readonly headers: HeadersLike
  /**
   * The DER bytes of the client's TLS certificate, when the connection has one (RFC 8705 §3).
   * Read only for a certificate-bound token, so it may be a getter that asks the socket then:
   * the node, Express, Fastify and Hono adapters fill it that way.
   */
  readonly clientCertificate?: Uint8Array | undefined
}

/** Every value of a header, split so that repeated headers are visible. */
export function headerValues(headers: HeadersLike, name: string): string[] {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const value = (headers as { get(name: string): string | null }).get(name)
    return value === null ? [] : [value]
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>
  const value = record[name] ?? record[name.toLowerCase()]
  if (value === undefined) return []
  return typeof value === 'string' ? [value] : [...value]
}

export type PresentedToken =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'invalid'
      readonly description: string
      /** The scheme the malformed credentials were sent with (RFC 9449 §7.2: its challenge carries the error). */
      readonly scheme: 'Bearer' | 'DPoP'
    }
  | { readonly kind: 'bearer' | 'dpop'; readonly token: string }

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

/** Largest token accepted before anything is hashed or sent anywhere. */
export const MAX_TOKEN_LENGTH = 16_384

const NONE: PresentedToken = Object.freeze({ kind: 'none' })
/** A value that starts with one of our schemes, or names one after a comma (a joined repeat). */
const OURS_FIRST = /^\s*(?:bearer|dpop)(?:\s|$)/i
const OURS_LATER = /,\s*(?:bearer|dpop)(?:\s|$)/i
/** Marks an Authorization header sent more than once. */
const MULTIPLE: unique symbol = Symbol('multiple Authorization headers')

/**
 * Which token the request carries. Only the Authorization header is read: RFC 6750 §2.2 form
 * bodies need the body, and §2.3 query tokens leak into logs (OAuth 2.1 forbids them), so a token
 * sent there is simply not seen (checklist B-03, B-04).
 */
export function extractToken(req: RequestLike): PresentedToken {
  const value = authorizationOf(req.headers)
  if (value === undefined) return NONE
  // RFC 9449 §7.2 / checklist D-09: more than one Authorization header is ambiguous.
  // A WHATWG Headers object joins repeats with ", ", and a token68 never holds a comma; another
  // scheme's own parameters (Digest, AWS4-HMAC-SHA256) may, and are simply not ours (B-12).
  if (
    value === MULTIPLE ||
    (value.includes(',') && (OURS_FIRST.test(value) || OURS_LATER.test(value)))
  ) {
    return { kind: 'invalid', description: 'more than one Authorization header', scheme: 'Bearer' }
  }
  // The common spelling, decided without lower-casing or trimming: exactly what the general way
  // below would find for it, since a token68 holds no space.
  if (value.startsWith('Bearer ')) {
    const token = value.slice(7)
    if (TOKEN68.test(token) && token.length <= MAX_TOKEN_LENGTH) return { kind: 'bearer', token }
  }
  const trimmed = value.trim()
  const space = trimmed.indexOf(' ')
  // RFC 9110 §11.1: the scheme name is case-insensitive.
  const scheme = (space === -1 ? trimmed : trimmed.slice(0, space)).toLowerCase()
  if (scheme !== 'bearer' && scheme !== 'dpop') return NONE
  const credentials = space === -1 ? '' : trimmed.slice(space + 1).replace(/^ +/, '')
  const used = scheme === 'dpop' ? 'DPoP' : 'Bearer'
  if (credentials === '' || !TOKEN68.test(credentials)) {
    return { kind: 'invalid', description: `malformed ${used} credentials`, scheme: used }
  }
  if (credentials.length > MAX_TOKEN_LENGTH) {
    return { kind: 'invalid', description: 'the access token is too long', scheme: used }
  }
  return { kind: scheme, token: credentials }
}

/** The one Authorization value, undefined when absent, MULTIPLE when repeated. */
function authorizationOf(headers: HeadersLike): string | typeof MULTIPLE | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const value = (headers as { get(name: string): string | null }).get('authorization')
    return value === null ? undefined : value
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>
  const value = record.authorization ?? record.Authorization
  if (value === undefined || typeof value === 'string') return value
  if (value.length === 0) return undefined
  return value.length === 1 ? (value[0] as string) : MULTIPLE
}
