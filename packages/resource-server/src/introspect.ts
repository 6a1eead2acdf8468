/**
 * RFC 7662 introspection client, oauth4webapi-style: `introspectionRequest()` sends,
 * `processIntrospectionResponse()` validates (JSON, and RFC 9701 signed JWT responses).
 *
 * CONTRACT (implemented by the introspection work item):
 * - authenticates with the configured ClientCredentials: client_secret_basic (form-encoded,
 *   RFC 6749 §2.3.1), client_secret_basic_raw, client_secret_post, private_key_jwt (RFC 7523, aud = issuer);
 * - finds the endpoint by discovery (metadata source) unless configured; checks that the
 *   configured auth method is listed in introspection_endpoint_auth_methods_supported when listed;
 * - POST form `token=...` (no token_type_hint needed), keep-alive through AsHttpClient;
 * - 200 JSON → normalizeIntrospection; 200 application/token-introspection+jwt (when asked) →
 *   verified per checklist J-19 then normalized;
 * - anything else (non-200, wrong content type, garbage, bad signature) → throws AsUnavailableError
 *   with a message that never contains the token or the AS body.
 */
import type { AuthorizationServerMetadata } from '@keyhole/protocol'
import type { AsHttpClient } from './http-client.ts'
import type { CompatibilityFlags, Introspected } from './normalize.ts'
import type { ClientCredentials } from './options.ts'

export interface IntrospectorConfig {
  readonly issuer: string
  readonly credentials: ClientCredentials
  readonly http: AsHttpClient
  readonly metadata: (deadline: number) => Promise<AuthorizationServerMetadata>
  readonly introspectionEndpoint?: string | undefined
  readonly responseFormat: 'json' | 'jwt'
  readonly compat: CompatibilityFlags
  /** Seconds of tolerance for the RFC 9701 response's `iat`. */
  readonly clockSkew: number
}

export interface Introspector {
  /** Throws AsUnavailableError when the AS gives no usable answer. */
  introspect(token: string, deadline: number): Promise<Introspected>
}

export function createIntrospector(_config: IntrospectorConfig): Introspector {
  throw new Error('createIntrospector: not implemented yet')
}
