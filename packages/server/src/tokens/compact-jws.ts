/**
 * What every JWT the server receives (RFC 7523 client assertions, RFC 9449 DPoP proofs) is read
 * with before any key is touched: the compact JWS framing, its JSON parts, and the one list of
 * algorithms the server verifies (RFC 8725 §3.1–3.2: asymmetric only, never `none`, never HS*).
 */

/** Verifiable algorithms, matched case-sensitively; published in the metadata's `*_alg_values_supported`. */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
]

const JWS_PART = /^[A-Za-z0-9_-]+$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The three base64url parts of a compact JWS (RFC 7515 §7.1), each non-empty; else undefined. */
export function compactParts(jws: string): readonly [string, string, string] | undefined {
  const parts = jws.split('.')
  // Three non-empty parts: a JWE (five) and an unsigned JWT (empty signature) stop here.
  if (parts.length !== 3) return undefined
  const [head = '', body = '', signature = ''] = parts
  if (!JWS_PART.test(head) || !JWS_PART.test(body) || !JWS_PART.test(signature)) return undefined
  return [head, body, signature]
}

/** A base64url part that holds a JSON object (valid UTF-8), or undefined. */
export function jsonObject(part: string): Record<string, unknown> | undefined {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(Buffer.from(part, 'base64url')))
  } catch {
    return undefined
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}
