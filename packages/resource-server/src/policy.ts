/**
 * Authorization policy, applied on EVERY request, cached answer or not (the lesson of Oathkeeper's
 * GHSA-qvp4-rpmr-xwrr: a cached decision served to a route with other scopes). A successful
 * introspection does not mean "authorized for everything".
 */
import type { BearerErrorCode } from './challenge.ts'
import type { TokenInfo } from './normalize.ts'
import type { RequestLike } from './request.ts'

export interface Policy {
  /** Scopes the route needs. */
  readonly scopes?: readonly string[]
  /** `all` (default): every listed scope; `any`: at least one. */
  readonly scopeMatch?: 'all' | 'any'
  /** Audiences accepted instead of the verifier's own (any one must be in `aud`). */
  readonly audience?: string | readonly string[]
  /** Issuers accepted (exact match). Default: the configured issuers. */
  readonly issuers?: readonly string[]
  /** A claim (dot path into the introspection answer or JWT) that must equal the expected tenant. */
  readonly tenant?: {
    readonly claim: string
    readonly equals: string | ((req: RequestLike) => string | undefined)
  }
  /** Application rule, run last. `false` → 403 insufficient_scope. */
  readonly allow?: (token: VerifiedToken, req: RequestLike) => boolean | Promise<boolean>
}

/** What a route handler gets: the normalized facts plus every claim the AS sent. */
export interface VerifiedToken {
  readonly scopes: readonly string[]
  readonly audience: readonly string[]
  readonly issuer: string
  readonly sub?: string
  readonly clientId?: string
  readonly username?: string
  readonly tokenType: 'Bearer' | 'DPoP'
  readonly exp?: number
  readonly iat?: number
  readonly jti?: string
  readonly cnf?: Readonly<Record<string, unknown>>
  readonly claims: Readonly<Record<string, unknown>>
  /** How this request learnt about the token. */
  readonly source: 'cache' | 'introspection' | 'jwt'
}

export type PolicyOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false
      readonly status: 401 | 403
      readonly error: BearerErrorCode
      readonly description: string
      readonly scope?: readonly string[]
    }

const invalid = (description: string): PolicyOutcome => ({
  ok: false,
  status: 401,
  error: 'invalid_token',
  description,
})

/** Read a dot path (`org.tenant_id`) from the claims; a top-level name with dots wins (`https://x/tenant`). */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path]
  let node: unknown = claims
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined
    node = (node as Record<string, unknown>)[part]
  }
  return node
}

const ALLOWED: PolicyOutcome = { ok: true }

/**
 * Every rule of `policy` (and the verifier's defaults) against the token. Synchronous unless the
 * route has an `allow` rule, so that a warm-cache request waits for nothing.
 */
export function evaluatePolicy(
  token: VerifiedToken,
  info: TokenInfo,
  policy: Policy,
  defaults: { readonly audience: string; readonly issuers: readonly string[] },
  req: RequestLike,
): PolicyOutcome | Promise<PolicyOutcome> {
  const outcome = checkClaims(token, info, policy, defaults, req)
  return outcome.ok && policy.allow !== undefined ? applyAllow(policy.allow, token, req) : outcome
}

function checkClaims(
  token: VerifiedToken,
  info: TokenInfo,
  policy: Policy,
  defaults: { readonly audience: string; readonly issuers: readonly string[] },
  req: RequestLike,
): PolicyOutcome {
  // Issuer (mix-up, multi-tenant): exact match.
  const issuers = policy.issuers ?? defaults.issuers
  if (!issuers.includes(token.issuer))
    return invalid('the token is from an issuer this route does not accept')

  // RFC 9700 §2.3 / checklist BCP-01: a token not meant for this API is refused; no `aud` is no audience.
  const accepted =
    policy.audience === undefined
      ? info.audience.includes(defaults.audience)
      : typeof policy.audience === 'string'
        ? info.audience.includes(policy.audience)
        : policy.audience.some((a) => info.audience.includes(a))
  if (!accepted) return invalid('the token is not meant for this resource')

  if (policy.tenant !== undefined) {
    const expected =
      typeof policy.tenant.equals === 'function' ? policy.tenant.equals(req) : policy.tenant.equals
    const actual = claimAt(info.claims, policy.tenant.claim)
    if (expected === undefined || typeof actual !== 'string' || actual !== expected) {
      return invalid('the token belongs to another tenant')
    }
  }

  // RFC 6750 §3.1: missing scope is 403 insufficient_scope, with the scopes needed.
  const required = policy.scopes ?? []
  if (required.length > 0) {
    const held = info.scopes
    const enough =
      policy.scopeMatch === 'any'
        ? required.some((s) => held.includes(s))
        : required.every((s) => held.includes(s))
    if (!enough) {
      return {
        ok: false,
        status: 403,
        error: 'insufficient_scope',
        description: 'the token lacks a scope this route needs',
        scope: required,
      }
    }
  }

  return ALLOWED
}

/** The application rule, run last. */
async function applyAllow(
  allow: NonNullable<Policy['allow']>,
  token: VerifiedToken,
  req: RequestLike,
): Promise<PolicyOutcome> {
  if (await allow(token, req)) return ALLOWED
  return {
    ok: false,
    status: 403,
    error: 'insufficient_scope',
    description: 'the token is not allowed here',
  }
}
