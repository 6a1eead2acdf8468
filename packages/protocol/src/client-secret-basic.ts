/**
 * RFC 6749 §2.3.1 + Appendix B: for client_secret_basic, the client id and secret are each
 * form-urlencoded (UTF-8, then escaped, space as "+") before they are joined with ":" and
 * base64-encoded. Many implementations skip the encoding (checklist P-09); servers should accept both.
 */

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/** The `Authorization` header value for client_secret_basic, encoded as RFC 6749 §2.3.1 says. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const userPass = `${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`
  return `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`
}
