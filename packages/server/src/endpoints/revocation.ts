/**
 * RFC 7009 token revocation. Reads: authenticate the client → validate the request → revoke → 200.
 *
 * §2.2: the answer is 200 whether the token was revoked or was invalid, and revoking twice is
 * harmless. A token of another client is left alone and still answered 200 (checklist Q-03: an
 * error would tell the caller the token exists). Revocation takes the whole grant with it (§2.1).
 */
import { oauthError } from '@keyhole/protocol'
import { authenticateCaller } from '../client-auth/authenticate.ts'
import type { Deps } from '../deps.ts'
import { type Endpoint, empty } from '../http/types.ts'
import { tokenHash } from '../tokens/hash.ts'
import { mayBeOurJwt } from '../tokens/jwt-access-token.ts'
import { tokenKindOf } from '../tokens/token-format.ts'

export function revocationEndpoint(
  deps: Pick<
    Deps,
    'store' | 'clock' | 'auth' | 'logger' | 'config' | 'revocationEvents' | 'signingKeys'
  >,
): Endpoint {
  return async (req) => {
    // authenticate the caller (§2.1: the client authenticates as at the token endpoint)
    const caller = await authenticateCaller(req, deps.auth)
    if (!caller.ok) return caller.error
    const client = caller.value.principal
    if (client.kind !== 'client') {
      return oauthError('unauthorized_client', 'a resource may not revoke tokens')
    }

    // validate the request. §2.2: an invalid `token_type_hint` is ignored.
    const token = req.form.get('token')
    if (token === undefined) return oauthError('invalid_request', 'token is required')
    // A JWT access token of ours (RFC 9068) is an access token by its header's `typ`.
    const kind =
      tokenKindOf(token) ?? (mayBeOurJwt(token, deps.signingKeys.kids) ? 'access_token' : undefined)
    if (kind === undefined) return empty(200)
    // §2.2.1: the one revocation-specific error. The kind comes from the token's public format,
    // so answering it before any lookup tells nothing about whether the token exists.
    if (kind === 'access_token' && !deps.config.features.revocation.accessTokens) {
      return oauthError('unsupported_token_type', 'access tokens cannot be revoked here')
    }

    // revoke: only the client the token was issued to may revoke it (§2.1)
    const hash = tokenHash(token)
    const record = await deps.store.findToken(hash)
    if (record !== undefined && record.clientId !== client.id) {
      deps.logger.log('warn', 'revocation of another client’s token ignored', {
        client_id: client.id,
        jti: record.jti,
      })
    } else if (record !== undefined) {
      const revoked = await deps.store.revokeGrant(hash, deps.clock.now())
      // The resource servers whose caches may hold these tokens hear of it now, not at their TTL.
      // A store that several servers share tells every server's hub itself, this one's included
      // (its revocation feed, app.ts): publishing here too would tell this server's twice.
      if (deps.store.revocations === undefined) deps.revocationEvents.publish(revoked, Date.now())
    }
    return empty(200)
  }
}
