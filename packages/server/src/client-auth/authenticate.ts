/**
 * Caller authentication for the token, introspection and revocation endpoints (RFC 6749 §2.3,
 * RFC 7662 §2.1, RFC 7009 §2.1): find which one method the caller used, check its secret in
 * constant time, and throttle failures per caller (brute force, token scanning).
 */
import { type OAuthError, oauthError } from '@keyhole/protocol'
import type { EndpointRequest } from '../http/types.ts'
import { fail, ok, type Result } from '../result.ts'
import type { Principal, Store } from '../store/store.ts'
import type { RateLimiter } from '../throttle/rate-limiter.ts'
import { verifySecret } from '../tokens/hash.ts'
import { parseBasicCredentials } from './client-secret-basic.ts'
import { parsePostCredentials } from './client-secret-post.ts'
import type { AuthMethod, Credentials } from './credentials.ts'

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
}

export function throttled(retryAfter: number): OAuthError {
  return oauthError('temporarily_unavailable', 'too many failed attempts; retry later', {
    status: 429,
    headers: { 'Retry-After': String(retryAfter) },
  })
}

export async function authenticateCaller(
  req: EndpointRequest,
  deps: ClientAuthDeps,
): Promise<Result<AuthenticatedCaller>> {
  // RFC 7235: a 401 carries a challenge; RFC 6749 §5.2 requires it when Basic was used.
  const challenge = { 'WWW-Authenticate': `Basic realm="${deps.realm}", charset="UTF-8"` }
  const invalidClient = (description: string) =>
    fail<AuthenticatedCaller>(oauthError('invalid_client', description, { headers: challenge }))

  const authorizations = req.headersDistinct.authorization ?? []
  if (authorizations.length > 1) {
    return fail(oauthError('invalid_request', 'more than one Authorization header'))
  }
  const authorization = authorizations[0]
  const scheme = authorization?.split(' ', 1)[0]?.toLowerCase()
  const usesBasic = scheme === 'basic'
  const usesPost = req.form.has('client_secret')
  const usesAssertion = req.form.has('client_assertion') || req.form.has('client_assertion_type')
  // RFC 6749 §2.3: a client MUST NOT use more than one authentication method in each request.
  if ([usesBasic, usesPost, usesAssertion].filter(Boolean).length > 1) {
    return fail(oauthError('invalid_request', 'more than one client authentication method'))
  }
  if (authorization !== undefined && !usesBasic) {
    return invalidClient('unsupported authentication scheme')
  }
  if (usesAssertion) return invalidClient('unsupported client authentication method')

  let method: AuthMethod
  let candidates: readonly Credentials[]
  if (usesBasic) {
    const parsed = parseBasicCredentials(authorization ?? '', deps.tolerateRawBasic)
    if (!parsed.ok) return fail(withChallenge(parsed.error, challenge))
    method = 'client_secret_basic'
    candidates = parsed.value
    const bodyId = req.form.get('client_id')
    if (bodyId !== undefined && !candidates.some((c) => c.clientId === bodyId)) {
      return invalidClient('client_id does not match the authenticated client')
    }
  } else if (usesPost) {
    const parsed = parsePostCredentials(req.form)
    if (!parsed.ok) return fail(withChallenge(parsed.error, challenge))
    method = 'client_secret_post'
    candidates = [parsed.value]
  } else {
    return invalidClient('client authentication is required')
  }

  const first = candidates[0] as Credentials
  const keys = [`ip:${req.remoteAddress}`, `client:${first.clientId}@${req.remoteAddress}`]
  const wait = Math.max(...keys.map((key) => deps.failedAuth.retryAfter(key)))
  if (wait > 0) return fail(throttled(wait))

  for (const candidate of candidates) {
    const principal = await deps.store.findPrincipal(candidate.clientId)
    if (verifySecret(candidate.secret, principal?.secretHash) && principal !== undefined) {
      return ok({ principal, method })
    }
  }
  for (const key of keys) deps.failedAuth.hit(key)
  return invalidClient('client authentication failed')
}

function withChallenge(error: OAuthError, headers: Record<string, string>): OAuthError {
  return error.error === 'invalid_client' ? { ...error, headers } : error
}
