/**
 * Caller authentication for the token, introspection and revocation endpoints (RFC 6749 §2.3,
 * RFC 7662 §2.1, RFC 7009 §2.1): find which one method the caller used, check its secret in
 * constant time, and throttle failures per caller (brute force, token scanning). Credentials
 * verified moments ago are taken from a short-lived cache (verified-credentials.ts).
 */
import { hash } from 'node:crypto'
import { type OAuthError, oauthError } from '@keyhole/protocol'
import type { EndpointRequest } from '../http/types.ts'
import { fail, ok, type Result } from '../result.ts'
import type { Principal, Store } from '../store/store.ts'
import type { RateLimiter } from '../throttle/rate-limiter.ts'
import { verifySecret } from '../tokens/hash.ts'
import { parseBasicCredentials } from './client-secret-basic.ts'
import { parsePostCredentials } from './client-secret-post.ts'
import { type AuthMethod, type Credentials, PRINCIPAL_ID } from './credentials.ts'
import {
  basicCredentialKey,
  postCredentialKey,
  type VerifiedCredential,
  type VerifiedCredentials,
} from './verified-credentials.ts'

export interface AuthenticatedCaller {
  readonly principal: Principal
  readonly method: AuthMethod
}

export interface ClientAuthDeps {
  readonly store: Store
  readonly failedAuth: RateLimiter
  /** Accept client_secret_basic values that were not form-encoded (checklist Q-06). */
  readonly tolerateRawBasic: boolean
  readonly realm: string
  /** Credentials verified less than `clientAuthentication.verifiedCacheMs` ago. */
  readonly verified: VerifiedCredentials
}

export function throttled(retryAfter: number): OAuthError {
  return oauthError('temporarily_unavailable', 'too many failed attempts; retry later', {
    status: 429,
    headers: { 'Retry-After': String(retryAfter) },
  })
}

// RFC 7235: a 401 carries a challenge; RFC 6749 §5.2 requires it when Basic was used.
function challenge(deps: ClientAuthDeps): Record<string, string> {
  return { 'WWW-Authenticate': `Basic realm="${deps.realm}", charset="UTF-8"` }
}

function invalidClient<T>(deps: ClientAuthDeps, description: string): Result<T> {
  return fail(oauthError('invalid_client', description, { headers: challenge(deps) }))
}

export async function authenticateCaller(
  req: EndpointRequest,
  deps: ClientAuthDeps,
): Promise<Result<AuthenticatedCaller>> {
  if (req.authorizations.length > 1) {
    return fail(oauthError('invalid_request', 'more than one Authorization header'))
  }
  const authorization = req.authorizations[0]
  const usesBasic = authorization !== undefined && isBasic(authorization)
  const usesPost = req.form.has('client_secret')
  const usesAssertion = req.form.has('client_assertion') || req.form.has('client_assertion_type')
  // RFC 6749 §2.3: a client MUST NOT use more than one authentication method in each request.
  if (Number(usesBasic) + Number(usesPost) + Number(usesAssertion) > 1) {
    return fail(oauthError('invalid_request', 'more than one client authentication method'))
  }
  if (authorization !== undefined && !usesBasic) {
    return invalidClient(deps, 'unsupported authentication scheme')
  }
  if (usesAssertion) return invalidClient(deps, 'unsupported client authentication method')

  // Which credentials: from the cache when the same ones were verified moments ago, else parsed.
  let key: string
  let known: VerifiedCredential | undefined
  let method: AuthMethod
  let candidates: readonly Credentials[] = []
  let clientIds: readonly string[]
  if (usesBasic) {
    method = 'client_secret_basic'
    key = basicCredentialKey(authorization)
    known = deps.verified.get(key)
    if (known === undefined) {
      const parsed = parseBasicCredentials(authorization, deps.tolerateRawBasic)
      if (!parsed.ok) return fail(withChallenge(parsed.error, deps))
      candidates = parsed.value
    }
    clientIds = known?.clientIds ?? candidates.map((c) => c.clientId)
    const bodyId = req.form.get('client_id')
    if (bodyId !== undefined && !clientIds.includes(bodyId)) {
      return invalidClient(deps, 'client_id does not match the authenticated client')
    }
  } else if (usesPost) {
    method = 'client_secret_post'
    const parsed = parsePostCredentials(req.form)
    if (!parsed.ok) return fail(withChallenge(parsed.error, deps))
    key = postCredentialKey(parsed.value.clientId, parsed.value.secret)
    known = deps.verified.get(key)
    candidates = [parsed.value]
    clientIds = [parsed.value.clientId]
  } else {
    return invalidClient(deps, 'client authentication is required')
  }

  if (known !== undefined) return ok(known.caller)

  // Guesses from a throttled address or at a throttled client id are refused before any secret
  // is looked at (RFC 6749 §2.3.1 brute force). Credentials that passed a check before are not
  // guesses: they are checked again below, whatever the throttle says (verified-credentials.ts).
  const ipKey = `ip:${req.remoteAddress}`
  const clientKey = `client:${throttleId(clientIds[0] as string)}@${req.remoteAddress}`
  const trusted = deps.verified.known(key)
  if (!trusted) {
    const wait = Math.max(deps.failedAuth.retryAfter(ipKey), deps.failedAuth.retryAfter(clientKey))
    if (wait > 0) return fail(throttled(wait))
  }

  for (const candidate of candidates) {
    // An id no principal can have (a NUL, a control character, over 255 characters) is not
    // looked up: some stores refuse such text outright (PostgreSQL and NUL), and it is a failed
    // authentication like any other (the secret is still checked, against nothing, for time).
    const principal = PRINCIPAL_ID.test(candidate.clientId)
      ? await deps.store.findPrincipal(candidate.clientId)
      : undefined
    if (verifySecret(candidate.secret, principal?.secretHash) && principal !== undefined) {
      const caller: AuthenticatedCaller = { principal, method }
      deps.verified.remember(key, { caller, clientIds })
      return ok(caller)
    }
  }
  if (trusted) deps.verified.forget(key)
  deps.failedAuth.hit(ipKey)
  deps.failedAuth.hit(clientKey)
  return invalidClient(deps, 'client authentication failed')
}

const MAX_CLIENT_ID = 255

/**
 * A client id as a throttle key: ids over 255 characters (the longest a configured id may be) are
 * hashed, so that the bounded key table is bounded in bytes too.
 */
function throttleId(id: string): string {
  return id.length <= MAX_CLIENT_ID ? id : `#${hash('sha256', id, 'base64')}`
}

/** The auth-scheme is case-insensitive (RFC 9110 §11.1); the first space ends it. */
function isBasic(authorization: string): boolean {
  const space = authorization.indexOf(' ')
  const scheme = space === -1 ? authorization : authorization.slice(0, space)
  return scheme.toLowerCase() === 'basic'
}

function withChallenge(error: OAuthError, deps: ClientAuthDeps): OAuthError {
  return error.error === 'invalid_client' ? { ...error, headers: challenge(deps) } : error
}
