/**
 * RFC 6749 §4.4 client credentials, with RFC 8707 resource indicators.
 *
 * Granted scopes: the `scope` parameter (each must be allowed to the client), or by default every
 * scope the client is allowed — narrowed to the resources named by `resource` when there are any.
 * Audience: the resources named by `resource`, or else the resources that own the granted scopes.
 * No refresh token (§4.4.3: SHOULD NOT). A token request with a valid DPoP proof (token.ts) gets a
 * token bound to the proof's key (RFC 9449 §5, §6).
 */
import { randomUUID } from 'node:crypto'
import { oauthError } from '@keyhole/protocol'
import type { EpochSeconds } from '../brand.ts'
import { isAbsoluteUriWithoutFragment } from '../config.ts'
import type { Deps } from '../deps.ts'
import type { FormParams } from '../http/form.ts'
import { type EndpointResult, json } from '../http/types.ts'
import type { ClientRecord, ResourceRecord } from '../store/store.ts'
import { tokenHash } from '../tokens/hash.ts'
import { signJwtAccessToken } from '../tokens/jwt-access-token.ts'
import { parseScope } from '../tokens/scope.ts'
import { mintToken } from '../tokens/token-format.ts'
import type { TokenConfirmation, TokenRecord } from '../tokens/token-record.ts'

export async function clientCredentialsGrant(
  form: FormParams,
  client: ClientRecord,
  deps: Pick<Deps, 'store' | 'clock' | 'issuer' | 'signingKeys'>,
  cnf: TokenConfirmation | null,
): Promise<EndpointResult> {
  // RFC 8707 §2: each resource is an absolute URI without a fragment, and one the AS knows.
  const registered = await deps.store.listResources()
  const byAudience = new Map(registered.map((r) => [r.audience, r]))
  const targets: ResourceRecord[] = []
  for (const resource of form.getAll('resource')) {
    if (!isAbsoluteUriWithoutFragment(resource)) {
      return oauthError('invalid_target', 'resource must be an absolute URI without a fragment')
    }
    const target = byAudience.get(resource)
    if (target === undefined) return oauthError('invalid_target', 'unknown resource')
    if (!targets.includes(target)) targets.push(target)
  }
  const ownerOf = new Map<string, ResourceRecord>()
  for (const r of registered) for (const s of r.scopes) ownerOf.set(s, r)

  let granted: string[]
  const scopeParam = form.get('scope')
  if (scopeParam !== undefined) {
    const requested = parseScope(scopeParam)
    if (!requested.ok) return requested.error
    for (const scope of requested.value) {
      if (!client.scopes.includes(scope) || !ownerOf.has(scope)) {
        return oauthError('invalid_scope', `scope "${scope}" is not allowed for this client`)
      }
      const owner = ownerOf.get(scope) as ResourceRecord
      if (targets.length > 0 && !targets.includes(owner)) {
        return oauthError(
          'invalid_target',
          `scope "${scope}" is not served by the requested resource`,
        )
      }
    }
    granted = requested.value
  } else {
    granted = client.scopes.filter((scope) => {
      const owner = ownerOf.get(scope)
      return owner !== undefined && (targets.length === 0 || targets.includes(owner))
    })
    if (granted.length === 0) {
      return targets.length > 0
        ? oauthError('invalid_target', 'the client has no scope at the requested resource')
        : oauthError('invalid_scope', 'no scope requested and the client has no allowed scope')
    }
  }

  let audience: string[]
  if (targets.length > 0) {
    // Every audience must be there for a granted scope: no audience without a purpose.
    for (const target of targets) {
      if (!granted.some((scope) => ownerOf.get(scope) === target)) {
        return oauthError('invalid_target', 'a requested resource has no granted scope')
      }
    }
    audience = targets.map((t) => t.audience)
  } else {
    audience = [...new Set(granted.map((scope) => (ownerOf.get(scope) as ResourceRecord).audience))]
  }

  const now = deps.clock.now()
  const record: Omit<TokenRecord, 'hash'> = {
    kind: 'access_token',
    jti: randomUUID(),
    clientId: client.id,
    // RFC 9068 §2.2 / RFC 9700 §4.15: for client credentials the subject is the client itself.
    sub: client.id,
    scopes: granted,
    audience,
    issuedAt: now,
    notBefore: now,
    expiresAt: (now + client.accessTokenTtl) as EpochSeconds,
    revokedAt: null,
    grantId: randomUUID(),
    cnf,
  }
  // Either way only the token's hash is stored: a JWT access token (RFC 9068) is introspected and
  // revoked exactly like an opaque one.
  const token =
    client.accessTokenFormat === 'jwt'
      ? await signJwtAccessToken(record, deps.issuer, deps.signingKeys.primary)
      : mintToken('access_token')
  await deps.store.insertToken({ ...record, hash: tokenHash(token) })
  // RFC 6749 §5.1; scope is always returned, so the client never has to guess what it got.
  return json(200, {
    access_token: token,
    // RFC 9449 §5: DPoP MUST be the token_type of a DPoP-bound token.
    token_type: cnf === null ? 'Bearer' : 'DPoP',
    expires_in: client.accessTokenTtl,
    scope: granted.join(' '),
  })
}
