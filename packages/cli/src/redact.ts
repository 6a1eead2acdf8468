/**
 * Every client secret and token this process handles. Text that comes from elsewhere (an AS's
 * error description, an unexpected error's message) has them blanked out before it is printed:
 * an authorization server may echo what it was sent. Keyhole's own messages never contain them.
 *
 * What was sent is not only the value itself: in a form body it is form-encoded, in a URL
 * percent-encoded, in an `Authorization: Basic` header form-encoded and base64-encoded. Every one
 * of those copies is blanked out too.
 */
import { basicAuthorization, formUrlEncode } from '@keyhole/protocol'

const sensitive = new Set<string>()

function add(value: string): void {
  if (value === '') return
  sensitive.add(value)
  // An echo may spell percent-escapes in lower case (%2b for %2B).
  const lower = value.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase())
  sensitive.add(lower)
}

/** A secret or token: the value and the forms it takes on the wire. */
export function markSensitive(value: string): void {
  if (value === '') return
  add(value)
  // application/x-www-form-urlencoded as URLSearchParams writes it (the request bodies) ...
  add(new URLSearchParams({ v: value }).toString().slice(2))
  // ... as RFC 6749 Appendix B writes it (client_secret_basic), which also escapes * ...
  add(formUrlEncode(value))
  // ... and percent-encoded as in a URL (space as %20).
  add(encodeURIComponent(value))
}

/**
 * The client_secret_basic credentials (RFC 6749 §2.3.1): the whole `Basic ...` header value and
 * its base64 part, besides the secret's own forms (markSensitive).
 */
export function markBasicCredentials(clientId: string, secret: string): void {
  const header = basicAuthorization(clientId, secret)
  add(header)
  add(header.slice('Basic '.length))
}

export function redact(text: string): string {
  let out = text
  // Longest first: a shorter value must not cut a longer copy and leave part of it behind.
  const values = [...sensitive].sort((a, b) => b.length - a.length)
  for (const value of values) out = out.replaceAll(value, '[redacted]')
  return out
}
