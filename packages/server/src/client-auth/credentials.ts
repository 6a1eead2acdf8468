export interface Credentials {
  readonly clientId: string
  readonly secret: string
}

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'

/**
 * The methods Keyhole accepts at every authenticated endpoint (published in metadata). Each
 * principal uses one kind: a secret (the two client_secret_* methods) or `jwks` (private_key_jwt).
 */
export const AUTH_METHODS: readonly AuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
]

// RFC 6749 Appendix A.1: client_id = *VSCHAR (%x20-7E), so inner spaces are legal (the §16 vector
// "1PpG/Q 1" has one); leading and trailing spaces are refused as easy to mistype. What a
// configured client or resource id may be; no other id can authenticate.
export const PRINCIPAL_ID = /^[\x21-\x7E](?:[\x20-\x7E]{0,253}[\x21-\x7E])?$/
