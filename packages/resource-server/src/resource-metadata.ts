/** RFC 9728 OAuth 2.0 Protected Resource Metadata: the document, and where it lives. */
import type { ProtectedResourceMetadataOptions } from './options.ts'

/**
 * RFC 9728 §3: `/.well-known/oauth-protected-resource` is inserted between the host and the
 * resource's path (a trailing "/" of the path is dropped first). Undefined for a non-http(s) id.
 */
export function resourceMetadataUrl(resource: string): string | undefined {
  let url: URL
  try {
    url = new URL(resource)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '')
  return `${url.origin}/.well-known/oauth-protected-resource${path}${url.search}`
}

export interface ProtectedResourceMetadata {
  readonly resource: string
  readonly authorization_servers: readonly string[]
  readonly bearer_methods_supported: readonly string[]
  readonly scopes_supported?: readonly string[]
  readonly resource_name?: string
  readonly resource_documentation?: string
  readonly dpop_signing_alg_values_supported?: readonly string[]
  readonly tls_client_certificate_bound_access_tokens?: true
}

export function buildResourceMetadata(input: {
  readonly resource: string
  readonly issuers: readonly string[]
  readonly options: ProtectedResourceMetadataOptions
  readonly dpopAlgorithms: readonly string[] | undefined
  /** The verifier is configured for RFC 8705 certificate-bound tokens (`mtls` given). */
  readonly mtls: boolean
}): ProtectedResourceMetadata {
  const { options } = input
  // §3.2: parameters with no values are omitted.
  return {
    resource: input.resource,
    authorization_servers: input.issuers,
    // Only the Authorization header is read (RFC 6750 §2.1).
    bearer_methods_supported: ['header'],
    ...(options.scopesSupported !== undefined && options.scopesSupported.length > 0
      ? { scopes_supported: options.scopesSupported }
      : {}),
    ...(options.resourceName === undefined ? {} : { resource_name: options.resourceName }),
    ...(options.resourceDocumentation === undefined
      ? {}
      : { resource_documentation: options.resourceDocumentation }),
    ...(input.dpopAlgorithms === undefined || input.dpopAlgorithms.length === 0
      ? {}
      : { dpop_signing_alg_values_supported: input.dpopAlgorithms }),
    // RFC 9728 §2 / RFC 8705 §3: omitted means false.
    ...(input.mtls ? { tls_client_certificate_bound_access_tokens: true } : {}),
  }
}
