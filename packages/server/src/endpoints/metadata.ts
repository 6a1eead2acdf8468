/**
 * RFC 8414 authorization server metadata, built from the same feature table that mounts the routes,
 * so the document never lists an endpoint that is not served (or hides one that is).
 */
import type { AuthorizationServerMetadata } from '@keyhole/protocol'
import { ASSERTION_ALGORITHMS } from '../client-auth/client-jwks.ts'
import { AUTH_METHODS } from '../client-auth/credentials.ts'
import type { Deps } from '../deps.ts'
import { type Endpoint, json } from '../http/types.ts'
import { DPOP_ALGORITHMS } from '../tokens/dpop-proof.ts'

export interface MetadataInput {
  readonly issuer: string
  readonly endpoints: {
    readonly token: string
    readonly jwks: string
    readonly introspection?: string | undefined
    readonly revocation?: string | undefined
    readonly revocationEvents?: string | undefined
  }
  readonly scopes: readonly string[]
  /** What the signing keys can sign with (RFC 9701 §7). */
  readonly signingAlgorithms: readonly string[]
}

export function buildMetadata(input: MetadataInput): AuthorizationServerMetadata {
  const { endpoints } = input
  // RFC 8414 §3.2: claims with zero elements MUST be omitted. `response_types_supported` is REQUIRED
  // by §2 but Keyhole has no authorization endpoint yet, so it is omitted (checklist Q-10, docs).
  return {
    issuer: input.issuer,
    token_endpoint: endpoints.token,
    jwks_uri: endpoints.jwks,
    ...(input.scopes.length > 0 ? { scopes_supported: input.scopes } : {}),
    // §2: omitted would mean ["authorization_code", "implicit"].
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    // §2: the algorithms of private_key_jwt assertions (RFC 7523), asymmetric only (RFC 8725 §3.2).
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    // RFC 9449 §5.1: the token endpoint binds tokens to DPoP proofs signed with these.
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    ...(endpoints.revocation === undefined
      ? {}
      : {
          revocation_endpoint: endpoints.revocation,
          revocation_endpoint_auth_methods_supported: AUTH_METHODS,
          revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
        }),
    ...(endpoints.introspection === undefined
      ? {}
      : {
          introspection_endpoint: endpoints.introspection,
          // §2: no default exists for this one, so it is always listed.
          introspection_endpoint_auth_methods_supported: AUTH_METHODS,
          introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
          // RFC 9701 §7. No encryption algorithms: encrypted answers are not offered.
          introspection_signing_alg_values_supported: input.signingAlgorithms,
        }),
    // RFC 8414 §2 allows members of one's own; the stream takes the introspection credentials.
    ...(endpoints.revocationEvents === undefined
      ? {}
      : { keyhole_revocation_events_endpoint: endpoints.revocationEvents }),
  }
}

/**
 * Built on each request from the store, so this server lists scopes added while running at once
 * (an HTTP cache may keep the document up to its max-age, five minutes).
 */
export function metadataEndpoint(
  input: Omit<MetadataInput, 'scopes' | 'signingAlgorithms'>,
  deps: Pick<Deps, 'store' | 'signingKeys'>,
): Endpoint {
  const headers = { 'Cache-Control': 'public, max-age=300' }
  return async () => {
    const scopes = (await deps.store.listResources()).flatMap((r) => r.scopes)
    const signingAlgorithms = deps.signingKeys.algorithms
    return json(200, buildMetadata({ ...input, scopes, signingAlgorithms }), headers)
  }
}
