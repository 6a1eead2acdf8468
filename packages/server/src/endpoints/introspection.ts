/**
 * RFC 7662 token introspection. Reads: authenticate the caller → validate the request →
 * look the token up → answer.
 *
 * Inactive by default (RFC 7662 §2.2, §4): unknown, malformed, expired, not-yet-valid, revoked and
 * other-audience tokens all get exactly {"active":false}. Members are added only after every check
 * passes, and only those the caller may see: a resource sees its own audience and its own scopes;
 * a client sees its own tokens in full.
 *
 * RFC 9701: a caller that asks with `Accept: application/token-introspection+jwt` gets the same
 * answer inside a JWT signed with the algorithm it registered; errors stay JSON (RFC 7662 §2.3).
 */
import { oauthError } from '@keyhole/protocol'
import { authenticateCaller, throttled } from '../client-auth/authenticate.ts'
import type { Deps } from '../deps.ts'
import {
  type Endpoint,
  type EndpointRequest,
  type EndpointResult,
  json,
  text,
} from '../http/types.ts'
import type { Principal } from '../store/store.ts'
import { tokenHash } from '../tokens/hash.ts'
import {
  INTROSPECTION_JWT_MEDIA_TYPE,
  signIntrospectionResponse,
  wantsJwtResponse,
} from '../tokens/introspection-response.ts'
import { mayBeOurJwt } from '../tokens/jwt-access-token.ts'
import { tokenKindOf } from '../tokens/token-format.ts'
import { isActive, type TokenRecord } from '../tokens/token-record.ts'

const INACTIVE = { active: false } as const

type IntrospectionDeps = Pick<
  Deps,
  'store' | 'clock' | 'auth' | 'issuer' | 'inactiveIntrospection' | 'signingKeys' | 'logger'
>

export function introspectionEndpoint(deps: IntrospectionDeps): Endpoint {
  return async (req) => {
    const asJwt = req.accepts.length > 0 && wantsJwtResponse(req.accepts)

    // authenticate the caller (RFC 7662 §2.1: the endpoint MUST require authorization)
    const caller = await authenticateCaller(req, deps.auth)
    if (!caller.ok) {
      // RFC 9701 §4 / checklist J-04, Q-01: no credentials at all, with the JWT answer asked
      // for, is 400, so that a caller cannot fall back to an unauthenticated plain answer.
      return asJwt && sentNoCredentials(req)
        ? oauthError('invalid_client', 'client authentication is required', { status: 400 })
        : caller.error
    }
    const principal = caller.value.principal
    const scanKey = `${principal.kind}:${principal.id}`
    const wait = deps.inactiveIntrospection.retryAfter(scanKey)
    if (wait > 0) return throttled(wait)

    // validate the request. `token_type_hint` is only a hint (§2.1): tokens are found by hash,
    // whatever their type, so an unknown or wrong hint changes nothing.
    const token = req.form.get('token')
    if (token === undefined) return oauthError('invalid_request', 'token is required')

    // look the token up: garbage is rejected by its checksum (or, for a JWT access token, by its
    // header naming one of our keys) before any store access
    if (tokenKindOf(token) === undefined && !mayBeOurJwt(token, deps.signingKeys.kids)) {
      return asJwt ? signedAnswer(deps, principal, INACTIVE) : json(200, INACTIVE)
    }
    const record = await deps.store.findToken(tokenHash(token))
    const visible =
      record !== undefined && isActive(record, deps.clock.now())
        ? visibleTo(principal, record, deps.issuer)
        : undefined
    if (visible === undefined) {
      // RFC 7662 §4 token scanning: counted are answers about tokens that were meant for this
      // caller and are not active (expired, revoked, not yet valid): what trying leaked tokens
      // produces. Tokens nobody issued, and tokens for someone else, are not counted: a resource
      // server passes on whatever its own callers send, so counting them would let anyone who can
      // reach an API spend its budget and cut it off from introspection (the checksum is a
      // public CRC-32, as secret scanners need). Guessing a 256-bit token is hopeless anyway.
      // Counted before answering: a shared count (Redis) may say here that other servers spent the
      // caller's budget, and then this answer is withheld like every other one (429).
      if (record !== undefined && meantFor(principal, record)) {
        const wait = await deps.inactiveIntrospection.hit([scanKey])
        if (wait > 0) return throttled(wait)
      }
      return asJwt ? signedAnswer(deps, principal, INACTIVE) : json(200, INACTIVE)
    }
    return asJwt ? signedAnswer(deps, principal, visible) : json(200, visible)
  }
}

/** No Authorization header and no credentials in the body. */
function sentNoCredentials(req: EndpointRequest): boolean {
  return (
    req.authorizations.length === 0 &&
    !req.form.has('client_secret') &&
    !req.form.has('client_assertion')
  )
}

/** The members of the JSON answer (RFC 7662 §2.2), inside a signed JWT (RFC 9701 §5). */
async function signedAnswer(
  deps: IntrospectionDeps,
  caller: Principal,
  members: object,
): Promise<EndpointResult> {
  // RFC 9701 §6: the algorithm the resource registered; RS256 when it registered none (and a key
  // has it; else the server's first key). A client introspecting its own token registers none.
  const alg = caller.kind === 'resource' ? caller.introspectionSignedResponseAlg : undefined
  let key =
    alg === undefined
      ? (deps.signingKeys.forAlgorithm('RS256') ?? deps.signingKeys.primary)
      : deps.signingKeys.forAlgorithm(alg)
  if (key === undefined) {
    // Config is checked at start; a principal added since may name an algorithm no key has.
    deps.logger.log('warn', 'no signing key for the registered introspection algorithm', {
      resource: caller.id,
      alg,
    })
    key = deps.signingKeys.primary
  }
  const jwt = await signIntrospectionResponse(
    members,
    deps.issuer,
    caller.id,
    key,
    deps.clock.now(),
  )
  return text(200, INTROSPECTION_JWT_MEDIA_TYPE, jwt)
}

/** Whether the token was issued for `caller` to see active: its audience, or its own client. */
function meantFor(caller: Principal, record: TokenRecord): boolean {
  return caller.kind === 'resource'
    ? record.kind === 'access_token' && record.audience.includes(caller.audience)
    : record.clientId === caller.id
}

/**
 * What `caller` may learn about an active token, or undefined when the token is not for it
 * (RFC 7662 §2.2 "not allowed to introspect" → inactive; RFC 9701 §5; checklist ).
 */
function visibleTo(caller: Principal, record: TokenRecord, issuer: string) {
  let scopes: readonly string[]
  let audience: readonly string[]
  if (caller.kind === 'resource') {
    // A resource sees access tokens meant for it, and only its own part of them (RFC 7662 §2.2 MAY,
    // RFC 9701 §5 SHOULD). Refresh tokens are never active to a resource.
    if (record.kind !== 'access_token' || !record.audience.includes(caller.audience))
      return undefined
    scopes = record.scopes.filter((scope) => caller.scopes.includes(scope))
    audience = [caller.audience]
  } else {
    // A client may introspect the tokens issued to it, and no others.
    if (record.clientId !== caller.id) return undefined
    scopes = record.scopes
    audience = record.audience
  }
  // Members that do not apply are undefined, which JSON leaves out: one object shape, no spreads.
  return {
    active: true,
    scope: scopes.length > 0 ? scopes.join(' ') : undefined,
    client_id: record.clientId,
    // RFC 9449 §6.2 (checklist D-02): a DPoP-bound token's token_type is DPoP.
    token_type:
      record.kind !== 'access_token' ? undefined : record.cnf === null ? 'Bearer' : 'DPoP',
    exp: record.expiresAt,
    iat: record.issuedAt,
    nbf: record.notBefore,
    sub: record.sub,
    aud: audience,
    iss: issuer,
    jti: record.jti,
    // RFC 9449 §6.2 (D-01): the key a resource server checks the DPoP proof against. The record's
    // own object: nothing is built for it, and nothing at all for a Bearer token.
    cnf: record.cnf ?? undefined,
  }
}
