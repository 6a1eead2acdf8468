/**
 * RFC 9449 (DPoP) rules that the authorization server and the resource-server library share.
 */

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

/**
 * An http(s) URI without query and fragment, normalized per RFC 3986 §6.2.2 and §6.2.3, as RFC
 * 9449 §4.3 step 9 compares a proof's `htu` with the request URI. WHATWG URL parsing already
 * lower-cases scheme and host, drops the default port, turns an empty path into "/" and removes
 * dot segments; what is left is percent-encoding: hex digits upper-cased, unreserved characters
 * decoded (§6.2.2.1-2). Undefined if not an absolute http(s) URI.
 */
export function normalizeHtu(uri: string | URL): string | undefined {
  let url: URL
  try {
    url = typeof uri === 'string' ? new URL(uri) : uri
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`
  })
  return `${url.protocol}//${url.host}${path}`
}
