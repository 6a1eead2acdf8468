/**
 * The server's public keys (RFC 8414 §2 `jwks_uri`, RFC 7517 JWK Set): what verifies its JWT
 * access tokens (RFC 9068) and JWT introspection answers (RFC 9701). Every key of the key file is
 * listed, so that a key added ahead of use, or kept after use, verifies what it signed.
 */
import type { Deps } from '../deps.ts'
import { type Endpoint, json } from '../http/types.ts'

export function jwksEndpoint(deps: Pick<Deps, 'signingKeys'>): Endpoint {
  // Cached for five minutes at most: a resource server that meets an unknown `kid` fetches again.
  const headers = { 'Cache-Control': 'public, max-age=300' }
  const body = deps.signingKeys.publicJwks
  return async () => json(200, body, headers)
}
