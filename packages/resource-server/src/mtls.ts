/**
 * RFC 8705 §3 certificate-bound access tokens at a resource server (checklist T-01..T-06): a
 * token whose `cnf` carries `x5t#S256` is accepted only from a request that came with that client
 * certificate. The chain is not validated (§6.2, T-05): the certificate is only a proof of
 * possession of its key, which the TLS handshake has already checked.
 */
import { hash, timingSafeEqual, X509Certificate } from 'node:crypto'
import type { MtlsOptions } from './options.ts'
import { headerValues, type RequestLike } from './request.ts'

export type CertificateOutcome = 'match' | 'absent' | 'mismatch'

export interface CertificateBinding {
  /** Whether the RFC 9728 metadata says `tls_client_certificate_bound_access_tokens: true`. */
  readonly advertised: boolean
  /** The request's client certificate against a token's `cnf.x5t#S256`. */
  check(req: RequestLike, x5t: string): CertificateOutcome
}

/**
 * RFC 8705 §3.1 (checklist T-03): `x5t#S256` is the base64url SHA-256 of the certificate's DER
 * encoding, without padding. A string is read as PEM.
 */
export function certificateThumbprint(certificate: Uint8Array | string): string {
  const der = typeof certificate === 'string' ? new X509Certificate(certificate).raw : certificate
  return hash('sha256', der, 'base64url')
}

// RFC 9110 §5.1: a field name is a token.
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// RFC 9440 §2.1 / RFC 8941 §3.3.5: a Byte Sequence, `:` base64 `:`. One value only: a proxy
// that appends instead of replacing leaves two, joined by a comma, and the request gets none.
const BYTE_SEQUENCE = /^:([A-Za-z0-9+/]+={0,2}):$/
/** Larger than any sane client certificate; a longer header is not decoded. */
const MAX_HEADER_LENGTH = 16_384

export function createCertificateBinding(options: MtlsOptions | undefined): CertificateBinding {
  const header = options?.certificateHeader?.toLowerCase()
  if (header !== undefined && !FIELD_NAME.test(header)) {
    throw new TypeError('certificateHeader must be an HTTP field name, e.g. "client-cert"')
  }
  return {
    advertised: options !== undefined,
    check(req, x5t) {
      // RFC 8705 §6.5 / RFC 9440: behind a TLS-terminating proxy, the proxy's header is the only
      // source; the connection's own certificate (if any) would be the proxy's.
      const der = header === undefined ? req.clientCertificate : fromHeader(req, header)
      if (der === undefined || der.length === 0) return 'absent'
      return thumbprintMatches(hash('sha256', der, 'base64url'), x5t) ? 'match' : 'mismatch'
    },
  }
}

/** RFC 9440 §2.2: `Client-Cert: :<base64 DER>:`; anything else is no certificate. */
function fromHeader(req: RequestLike, name: string): Uint8Array | undefined {
  const values = headerValues(req.headers, name)
  const value = values.length === 1 ? (values[0] as string).trim() : undefined
  if (value === undefined || value.length > MAX_HEADER_LENGTH) return undefined
  const base64 = BYTE_SEQUENCE.exec(value)?.[1]
  return base64 === undefined ? undefined : Buffer.from(base64, 'base64')
}

/** RFC 8705 §3.1: compared as strings, byte for byte (no padding, no whitespace), in constant time. */
function thumbprintMatches(computed: string, bound: string): boolean {
  const expected = Buffer.from(bound, 'utf8')
  const actual = Buffer.from(computed, 'utf8')
  // The length of a SHA-256 thumbprint is no secret; timingSafeEqual needs equal lengths.
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
