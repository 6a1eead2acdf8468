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
  | { readonly kind: 'invalid'; readonly description: string }
  | { readonly kind: 'bearer' | 'dpop'; readonly token: string }

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

/** Largest token accepted before anything is hashed or sent anywhere. */
export const MAX_TOKEN_LENGTH = 16_384

/**
 * Which token the request carries. Only the Authorization header is read: RFC 6750 §2.2 form
 * bodies need the body, and §2.3 query tokens leak into logs (OAuth 2.1 forbids them), so a token
 * sent there is simply not seen (checklist B-03, B-04).
 */
export function extractToken(req: RequestLike): PresentedToken {
  const values = headerValues(req.headers, 'authorization')
  if (values.length === 0) return { kind: 'none' }
  // RFC 9449 §7.2 / checklist D-09: more than one Authorization header is ambiguous.
  // A WHATWG Headers object joins repeats with ", ", and a token68 never holds a comma.
  if (values.length > 1 || (values[0] ?? '').includes(',')) {
    return { kind: 'invalid', description: 'more than one Authorization header' }
  }
  const value = (values[0] ?? '').trim()
  const space = value.indexOf(' ')
  const scheme = (space === -1 ? value : value.slice(0, space)).toLowerCase()
  // RFC 9110 §11.1: the scheme name is case-insensitive.
  if (scheme !== 'bearer' && scheme !== 'dpop') return { kind: 'none' }
  const credentials = space === -1 ? '' : value.slice(space + 1).replace(/^ +/, '')
  if (credentials === '' || !TOKEN68.test(credentials)) {
    return {
      kind: 'invalid',
      description: `malformed ${scheme === 'dpop' ? 'DPoP' : 'Bearer'} credentials`,
    }
  }
  if (credentials.length > MAX_TOKEN_LENGTH) {
    return { kind: 'invalid', description: 'the access token is too long' }
  }
  return { kind: scheme, token: credentials }
}
