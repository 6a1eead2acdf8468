/**
 * The token endpoint (RFC 6749 §3.2). Reads: authenticate the client → validate the grant request →
 * hand over to the grant type's file.
 */
import { oauthError } from '@keyhole/protocol'
import { authenticateCaller } from '../client-auth/authenticate.ts'
import type { Deps } from '../deps.ts'
import { clientCredentialsGrant } from '../grants/client-credentials.ts'
import type { Endpoint } from '../http/types.ts'

export function tokenEndpoint(
  deps: Pick<Deps, 'store' | 'clock' | 'auth' | 'issuer' | 'signingKeys'>,
): Endpoint {
  return async (req) => {
    // authenticate the caller (RFC 6749 §3.2.1: confidential clients MUST authenticate)
    const caller = await authenticateCaller(req, deps.auth)
    if (!caller.ok) return caller.error

    // validate the request
    const grantType = req.form.get('grant_type')
    if (grantType === undefined) return oauthError('invalid_request', 'grant_type is required')
    if (grantType !== 'client_credentials') {
      return oauthError('unsupported_grant_type', 'supported grant types: client_credentials')
    }
    const client = caller.value.principal
    // RFC 9701 §3 / checklist J-02: a resource's credentials are for introspection only.
    if (client.kind !== 'client' || !client.grantTypes.includes(grantType)) {
      return oauthError('unauthorized_client', `this client may not use ${grantType}`)
    }

    // respond
    return clientCredentialsGrant(req.form, client, deps)
  }
}
