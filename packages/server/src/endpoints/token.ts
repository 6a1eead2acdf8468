/**
 * The token endpoint (RFC 6749 §3.2). Reads: authenticate the client → validate the grant request
 * (and its DPoP proof, RFC 9449 §5) → hand over to the grant type's file.
 */
import { normalizeHtu, oauthError } from '@keyhole/protocol'
import { authenticateCaller } from '../client-auth/authenticate.ts'
import type { Deps } from '../deps.ts'
import { clientCredentialsGrant } from '../grants/client-credentials.ts'
import type { Endpoint, EndpointRequest } from '../http/types.ts'
import { fail, ok, type Result } from '../result.ts'
import type { ClientRecord } from '../store/store.ts'
import {
  dpopProofError,
  dpopProofIdExpiry,
  dpopProofIdKey,
  readDpopProof,
  verifyDpopProof,
} from '../tokens/dpop-proof.ts'
import type { TokenConfirmation } from '../tokens/token-record.ts'

type TokenDeps = Pick<Deps, 'store' | 'clock' | 'auth' | 'issuer' | 'signingKeys' | 'logger'>

/** `url`: the token endpoint as published (RFC 8414 `token_endpoint`), what a DPoP `htu` names. */
export function tokenEndpoint(deps: TokenDeps, url: string): Endpoint {
  const htu = normalizeHtu(url)
  if (htu === undefined) throw new TypeError('the token endpoint must be an http(s) URL')
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
    // RFC 9449 §5: a valid DPoP proof binds the token to the proof's key.
    const binding = await dpopBinding(req, client, htu, deps)
    if (!binding.ok) return binding.error

    // respond
    return clientCredentialsGrant(req.form, client, deps, binding.value)
  }
}

/**
 * The confirmation a token gets from the request's DPoP proof (RFC 9449 §5, §6.1), null when the
 * request carries none, or why the request is refused. Runs after client authentication, so an
 * unauthenticated caller never has a signature checked or the store written; the jti is claimed
 * last, only for a proof whose signature verified. Why a proof was refused is logged at debug
 * level (a replay, whose signature was good, as a warning), naming the client, never the proof.
 */
async function dpopBinding(
  req: EndpointRequest,
  client: ClientRecord,
  htu: string,
  deps: TokenDeps,
): Promise<Result<TokenConfirmation | null>> {
  if (req.dpops.length === 0) {
    // RFC 9449 §5.2 `dpop_bound_access_tokens`: the request MUST be rejected. The RFC names no
    // code for a missing proof; invalid_dpop_proof tells the client exactly what to fix.
    if (!client.dpopBoundAccessTokens) return ok(null)
    deps.logger.log('debug', 'DPoP proof refused', { client: client.id, reason: 'missing' })
    return fail(dpopProofError('this client must send a DPoP proof'))
  }
  const now = deps.clock.now()
  const proof = readDpopProof(req.dpops, req.method, htu, now)
  if (!proof.ok) {
    deps.logger.log('debug', 'DPoP proof refused', {
      client: client.id,
      reason: proof.error.description ?? '',
    })
    return proof
  }
  const jkt = await verifyDpopProof(proof.value)
  if (jkt === undefined) {
    deps.logger.log('debug', 'DPoP proof refused', { client: client.id, reason: 'signature' })
    return fail(dpopProofError('the DPoP proof signature does not verify with its jwk'))
  }
  // RFC 9449 §11.1: each proof once, across every server sharing the store.
  const key = dpopProofIdKey(htu, jkt, proof.value.jti)
  if (!(await deps.store.claimAssertionId(key, dpopProofIdExpiry(proof.value), now))) {
    deps.logger.log('warn', 'DPoP proof replayed', { client: client.id })
    return fail(dpopProofError('the DPoP proof was already used'))
  }
  return ok({ jkt })
}
