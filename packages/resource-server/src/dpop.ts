/**
 * RFC 9449 DPoP proof checks at a resource server (checklist D-03..D-11).
 *
 * CONTRACT (implemented by the DPoP work item): exactly one DPoP header with one JWT; typ dpop+jwt;
 * asymmetric allow-listed alg; signature by the header jwk (no private members); htm = method;
 * htu = request URI without query/fragment (normalized, RFC 3986 §6.2.2-3); iat within
 * maxAgeSeconds; jti not replayed within the window (bounded store of jti hashes); ath =
 * b64url(SHA-256(token)); JWK thumbprint (RFC 7638) = cnf.jkt.
 */
import type { DpopOptions } from './options.ts'
import type { RequestLike } from './request.ts'

export type DpopOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false
      readonly error: 'invalid_dpop_proof' | 'invalid_token'
      readonly description: string
    }

export interface DpopVerifier {
  /** The algorithms to advertise in `WWW-Authenticate: DPoP algs="..."`. */
  readonly algorithms: readonly string[]
  verify(req: RequestLike, token: string, jkt: string): Promise<DpopOutcome>
}

export function createDpopVerifier(_options: DpopOptions, _audience: string): DpopVerifier {
  throw new Error('createDpopVerifier: not implemented yet')
}
