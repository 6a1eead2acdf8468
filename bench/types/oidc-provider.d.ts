// The subset of oidc-provider 9's API that the bench's oidc-provider target uses (the package ships
// no types, and @types/oidc-provider is not a dependency).
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  export interface ClientMetadata {
    client_id: string
    client_secret: string
    grant_types: string[]
    response_types: string[]
    redirect_uris: string[]
    token_endpoint_auth_method: string
    scope?: string
  }

  export interface Configuration {
    clients?: ClientMetadata[]
    scopes?: string[]
    jwks?: { keys: object[] }
    cookies?: { keys: string[] }
    ttl?: Record<string, number>
    features?: Record<string, object>
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration)
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    on(event: string, listener: (...args: unknown[]) => void): this
  }
}
