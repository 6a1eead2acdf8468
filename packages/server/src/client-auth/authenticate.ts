/**
 * Caller authentication for the token, introspection and revocation endpoints (RFC 6749 §2.3,
 * RFC 7662 §2.1, RFC 7009 §2.1): find which one method the caller used, check its secret in
 * constant time or its private_key_jwt assertion (private-key-jwt.ts), and throttle failures per
 * caller (brute force, token scanning). Credentials verified moments ago are taken from a
 * short-lived cache (verified-credentials.ts); assertions never are: each is good once.
 */
import { hash } from 'node:crypto'
import { type OAuthError, oauthError } from '@keyhole/protocol'
import type { Clock } from '../brand.ts'
import type { EndpointRequest } from '../http/types.ts'
import type { Logger } from '../log.ts'
import { fail, ok, type Result } from '../result.ts'
import type { Principal, Store } from '../store/store.ts'
import type { RateLimiter } from '../throttle/rate-limiter.ts'
import { verifySecret } from '../tokens/hash.ts'
import { parseBasicCredentials } from './client-secret-basic.ts'
import { parsePostCredentials } from './client-secret-post.ts'
import { type AuthMethod, type Credentials, PRINCIPAL_ID } from './credentials.ts'
import {
  type AssertionProblem,
  assertionIdExpiry,
  assertionIdKey,
  checkAssertionClaims,
  readClientAssertion,
  verifyAssertionSignature,
} from './private-key-jwt.ts'
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
  /** The issuer identifier, exactly as published: the one `aud` of a client assertion. */
  readonly issuer: string
  readonly clock: Clock
  /** Why an assertion was refused: debug, a replay a warning (never in the answer). */
  readonly logger: Logger
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
  if (usesAssertion) return authenticateAssertion(req, deps)

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
  // is looked at (RFC 6749 §2.3.1 brute force); a shared throttle asks Redis here, which only
  // credentials not seen to pass pay for. Credentials that passed a check before are not
  // guesses: they are checked again below, whatever the throttle says (verified-credentials.ts).
  const throttleKeys = [
    `ip:${req.remoteAddress}`,
    `client:${throttleId(clientIds[0] as string)}@${req.remoteAddress}`,
  ]
  const trusted = deps.verified.known(key)
  if (!trusted) {
    const wait = await deps.failedAuth.check(throttleKeys)
    if (wait > 0) return fail(throttled(wait))
  }

  for (const candidate of candidates) {
    // An id no principal can have (a NUL, a control character, over 255 characters) is not
    // looked up: some stores refuse such text outright (PostgreSQL and NUL), and it is a failed
    // authentication like any other (the secret is still checked, against nothing, for time).
    const principal = PRINCIPAL_ID.test(candidate.clientId)
      ? await deps.store.findPrincipal(candidate.clientId)
      : undefined
    if (
      verifySecret(candidate.secret, principal?.secretHash ?? undefined) &&
      principal !== undefined
    ) {
      const caller: AuthenticatedCaller = { principal, method }
      deps.verified.remember(key, { caller, clientIds })
      return ok(caller)
    }
  }
  if (trusted) deps.verified.forget(key)
  // Counted before the answer, so that a retry at another server sharing the count sees it.
  await deps.failedAuth.hit(throttleKeys)
  return invalidClient(deps, 'client authentication failed')
}

/**
 * private_key_jwt (RFC 7523 §2.2). Failures are counted by the failed-authentication throttle as
 * wrong secrets are. No assertion is ever a known credential (each is good once), so a throttled
 * address or client id is refused before any signature is checked.
 */
async function authenticateAssertion(
  req: EndpointRequest,
  deps: ClientAuthDeps,
): Promise<Result<AuthenticatedCaller>> {
  const read = readClientAssertion(req.form)
  if (!read.ok) return fail(withChallenge(read.error, deps))
  const assertion = read.value
  const throttleKeys = [
    `ip:${req.remoteAddress}`,
    `client:${throttleId(assertion.clientId)}@${req.remoteAddress}`,
  ]
  const wait = await deps.failedAuth.check(throttleKeys)
  if (wait > 0) return fail(throttled(wait))

  const now = deps.clock.now()
  let problem: AssertionProblem | undefined = checkAssertionClaims(
    assertion,
    req.form.get('client_id'),
    deps.issuer,
    now,
  )
  if (problem === undefined) {
    // One method per principal (RFC 7591 token_endpoint_auth_method): only `jwks` ones.
    const principal = await deps.store.findPrincipal(assertion.clientId)
    if (principal?.jwks == null) {
      problem = 'not_registered_for_private_key_jwt'
    } else if (!(await verifyAssertionSignature(assertion, principal.jwks))) {
      problem = 'signature'
    } else {
      // Taken last, and only for an assertion that proved its signer: nothing unauthenticated
      // writes to the store. RFC 7523 §3 (7): a jti is good once, on every server.
      const jti = assertion.claims.jti as string
      const key = assertionIdKey(assertion.clientId, jti)
      if (await deps.store.claimAssertionId(key, assertionIdExpiry(assertion), now)) {
        return ok({ principal, method: 'private_key_jwt' })
      }
      problem = 'replay'
    }
  }
  await deps.failedAuth.hit(throttleKeys)
  // A replayed assertion had a valid signature: captured, or a client that retries with the same
  // one. Either way the operator wants to know.
  deps.logger.log(problem === 'replay' ? 'warn' : 'debug', 'client assertion refused', {
    client_id: assertion.clientId,
    reason: problem,
  })
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
