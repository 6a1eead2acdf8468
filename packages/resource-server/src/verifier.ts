/**
 * The verifier: token extraction → issuer choice → cached introspection or local JWT validation →
 * defence-in-depth checks → sender constraint → policy. Every failure is an RFC 6750 §3 answer
 * (or 503 when the AS cannot be asked); the result is a value, never a thrown exception.
 */
import { hash } from 'node:crypto'
import { type CacheOptions, createTokenCache, type TokenCache } from './cache.ts'
import { type BearerErrorCode, buildChallenge } from './challenge.ts'
import { createClientAuthentication } from './client-auth.ts'
import { createMetadataSource } from './discovery.ts'
import { createDpopVerifier, type DpopVerifier } from './dpop.ts'
import { type AsHttpClient, AsUnavailableError, createAsHttpClient } from './http-client.ts'
import { createIntrospector, type Introspector } from './introspect.ts'
import { createJwtValidator, type JwtValidator, looksLikeJwt, unverifiedIssuer } from './jwt.ts'
import { createMetrics, type MetricsSnapshot } from './metrics.ts'
import { type CertificateBinding, createCertificateBinding } from './mtls.ts'
import type { Introspected, TokenInfo } from './normalize.ts'
import type { IssuerOptions, Strategy, VerifierEvent, VerifierOptions } from './options.ts'
import { evaluatePolicy, type Policy, type PolicyOutcome, type VerifiedToken } from './policy.ts'
import { extractToken, type RequestLike } from './request.ts'
import {
  buildResourceMetadata,
  type ProtectedResourceMetadata,
  resourceMetadataUrl,
} from './resource-metadata.ts'
import {
  type RevocationSubscriber,
  type RevocationSubscriberConfig,
  startRevocationSubscriber,
} from './revocation-events.ts'

export type VerifyErrorCode = BearerErrorCode | 'temporarily_unavailable'

export interface VerifyFailure {
  readonly ok: false
  readonly status: 400 | 401 | 403 | 503
  /** Absent when the request carried no token at all (RFC 6750 §3.1). */
  readonly error?: VerifyErrorCode
  /** Safe to show: never the token, never the AS's body. */
  readonly description: string
  /** The WWW-Authenticate value (absent on 503). */
  readonly challenge?: string
  /** Seconds, on 503. */
  readonly retryAfter?: number
  /** Every header the response needs: WWW-Authenticate, Retry-After. */
  readonly headers: Readonly<Record<string, string>>
}

export type VerifyResult = { readonly ok: true; readonly token: VerifiedToken } | VerifyFailure

export interface TokenVerifier {
  /** Verify the request's token and apply `policy` (scopes, audience, issuer, tenant, predicate). */
  verify(req: RequestLike, policy?: Policy): Promise<VerifyResult>
  /**
   * The same check and the same result as `verify`, given without a promise when nothing needs
   * waiting for (a fresh cached answer in this process, no DPoP proof, no `allow` rule); a promise
   * otherwise. For adapters and other per-request hot paths: `await` works on both.
   */
  verifyNow(req: RequestLike, policy?: Policy): VerifyResult | Promise<VerifyResult>
  /**
   * Drop one token from every cache level: by token, or by `{ tokenHash }` (base64url SHA-256).
   * An introspection of it already under way is answered but not cached.
   */
  purge(token: string | { readonly tokenHash: string }): Promise<void>
  /** This API's resource identifier (`options.audience`). */
  readonly audience: string
  /** RFC 9728 document and its URL (undefined when turned off or the audience is not a URL). */
  readonly resourceMetadata:
    | { readonly url: string; readonly document: ProtectedResourceMetadata }
    | undefined
  metrics(): MetricsSnapshot
  /** Release connections and stop the revocation event streams (the process can then exit). */
  close(): Promise<void>
}

/** A programming error in the options; thrown by createTokenVerifier, never by verify(). */
export class VerifierOptionsError extends TypeError {
  readonly code = 'ERR_KEYHOLE_VERIFIER_OPTIONS'
  constructor(message: string) {
    super(`createTokenVerifier: ${message}`)
    this.name = 'VerifierOptionsError'
  }
}

interface IssuerContext {
  readonly issuer: string
  readonly strategy: Strategy
  readonly cache: TokenCache
  readonly jwtCache: TokenCache
  readonly introspector: Introspector | undefined
  readonly jwt: JwtValidator | undefined
  /** The events of a warm-cache request, built once (events are immutable values). */
  readonly cacheHit: VerifierEvent
  readonly activeFromCache: VerifierEvent
}

type Resolution =
  | { readonly kind: 'active'; readonly info: TokenInfo; readonly source: VerifiedToken['source'] }
  | { readonly kind: 'inactive'; readonly reason: string; readonly source: VerifiedToken['source'] }
  | {
      readonly kind: 'unavailable'
      readonly reason: string
      readonly retryAfter?: number | undefined
    }

/** Run a constructor that validates options, reporting its TypeError as a VerifierOptionsError. */
function asOptionsError<T>(path: string, build: () => T): T {
  try {
    return build()
  } catch (err) {
    if (err instanceof TypeError && !(err instanceof VerifierOptionsError)) {
      throw new VerifierOptionsError(`${path}: ${err.message}`)
    }
    throw err
  }
}

function withoutSecondLevel(cache: CacheOptions | undefined): CacheOptions {
  const { secondLevel: _, ...rest } = cache ?? {}
  return rest
}

// One-shot hash (Node ≥ 20.12): cheaper than a Hash object on the per-request path.
const sha256 = (value: string) => hash('sha256', value, 'base64url')
const ACCESS_TOKEN_TYPES = new Set(['bearer', 'dpop'])
const NO_POLICY: Policy = Object.freeze({})
/** RFC 7800 confirmation members this library can prove: RFC 9449 §6 and RFC 8705 §3.1. */
const isCheckableConfirmation = (member: string) => member === 'jkt' || member === 'x5t#S256'

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false
  const { protocol } = new URL(value)
  return protocol === 'https:' || protocol === 'http:'
}

/** Freeze an AS-given value and everything in it (claims are plain JSON: objects and arrays). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const member of Object.values(value)) deepFreeze(member)
  }
  return value
}

export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  if (typeof options.audience !== 'string' || options.audience === '') {
    throw new VerifierOptionsError('options.audience is required (this API’s resource identifier)')
  }
  const { issuer } = options
  // The single-issuer shorthand: the top-level options are that issuer's options.
  const issuerOptions: readonly IssuerOptions[] =
    options.issuers ?? (issuer === undefined ? [] : [{ ...options, issuer }])
  if (issuerOptions.length === 0)
    throw new VerifierOptionsError('options.issuer (or issuers) is required')

  const audience = options.audience
  const clockSkew = options.clockSkew ?? 30
  const realm = options.realm ?? audience
  const metrics = createMetrics()
  const emit = (event: VerifierEvent) => {
    metrics.record(event)
    try {
      options.onEvent?.(event)
    } catch {
      // An observability hook must not turn a verification into a thrown exception.
    }
  }
  const http: AsHttpClient = createAsHttpClient(options.http)
  const dpop: DpopVerifier | undefined =
    options.dpop === false
      ? undefined
      : asOptionsError('options.dpop', () => createDpopVerifier(options.dpop || {}, audience))
  const mtls: CertificateBinding | undefined =
    options.mtls === false
      ? undefined
      : asOptionsError('options.mtls', () => createCertificateBinding(options.mtls || undefined))

  // Started only once every option is known to be valid: a throw must leave nothing running.
  const subscriptions: RevocationSubscriberConfig[] = []

  const contexts = issuerOptions.map((io, index): IssuerContext => {
    const path = options.issuers === undefined ? 'options' : `options.issuers[${index}]`
    try {
      new URL(io.issuer)
    } catch {
      throw new VerifierOptionsError(`${path}.issuer must be an absolute URL`)
    }
    for (const [name, value] of [
      ['introspectionEndpoint', io.introspectionEndpoint],
      ['jwksUri', io.jwksUri],
    ] as const) {
      if (value !== undefined && !isHttpUrl(value)) {
        throw new VerifierOptionsError(`${path}.${name} must be an absolute http(s) URL`)
      }
    }
    const strategy = io.strategy ?? 'introspect'
    const needsIntrospection = strategy !== 'jwt'
    if (needsIntrospection && io.credentials === undefined) {
      throw new VerifierOptionsError(`${path}.credentials is required for strategy "${strategy}"`)
    }
    const revocationEvents = io.revocationEvents ?? false
    if (revocationEvents !== false) {
      // Pushed revocations purge introspection answers; `jwt` keeps none and asks no AS.
      if (!needsIntrospection) {
        throw new VerifierOptionsError(
          `${path}.revocationEvents needs a strategy that introspects (not "jwt")`,
        )
      }
      const endpoint = revocationEvents === true ? undefined : revocationEvents.endpoint
      if (endpoint !== undefined && !isHttpUrl(endpoint)) {
        throw new VerifierOptionsError(
          `${path}.revocationEvents.endpoint must be an absolute http(s) URL`,
        )
      }
    }
    const metadata = createMetadataSource(io.issuer, http)
    const clientId = io.credentials?.clientId ?? ''
    const namespace = sha256(`${io.issuer}\0${audience}\0${clientId}`).slice(0, 16)
    const cacheEvents = {
      secondLevelError(operation: 'get' | 'set' | 'delete', error: unknown) {
        emit({
          type: 'second_level_error',
          operation,
          reason: error instanceof Error ? error.message : 'failed',
        })
      },
    }
    const context: IssuerContext = {
      issuer: io.issuer,
      strategy,
      cacheHit: Object.freeze({ type: 'cache', issuer: io.issuer, result: 'hit' }),
      activeFromCache: Object.freeze({ type: 'active', issuer: io.issuer, source: 'cache' }),
      cache: createTokenCache(namespace, options.cache ?? {}, cacheEvents),
      // Local validation results stay in process: recomputing them is cheap and needs no AS.
      jwtCache: createTokenCache(
        `jwt:${namespace}`,
        withoutSecondLevel(options.cache),
        cacheEvents,
      ),
      introspector:
        needsIntrospection && io.credentials !== undefined
          ? createIntrospector({
              issuer: io.issuer,
              credentials: io.credentials,
              http,
              metadata,
              introspectionEndpoint: io.introspectionEndpoint,
              responseFormat: io.introspectionResponse ?? 'json',
              compat: io.compat ?? {},
              clockSkew,
            })
          : undefined,
      jwt:
        strategy === 'introspect'
          ? undefined
          : asOptionsError(`${path}.jwt`, () =>
              createJwtValidator({
                issuer: io.issuer,
                audience,
                http,
                metadata,
                jwksUri: io.jwksUri,
                options: io.jwt ?? {},
                clockSkew,
              }),
            ),
    }
    if (revocationEvents !== false && io.credentials !== undefined) {
      const { cache, jwtCache } = context
      subscriptions.push({
        issuer: io.issuer,
        endpoint: revocationEvents === true ? undefined : revocationEvents.endpoint,
        metadata,
        auth: createClientAuthentication(io.credentials, io.issuer),
        timeoutMs: http.timeoutMs,
        // Both caches: `auto` and `jwt+introspect` keep local validations under the same key.
        purge: (hash) => Promise.all([cache.purge(hash), jwtCache.purge(hash)]),
        clear() {
          cache.clear()
          jwtCache.clear()
        },
        emit,
      })
    }
    return context
  })
  const defaultIssuers = contexts.map((c) => c.issuer)

  const metadataOptions =
    options.resourceMetadata === false ? undefined : (options.resourceMetadata ?? {})
  const metadataUrl =
    metadataOptions === undefined
      ? undefined
      : (metadataOptions.url ?? resourceMetadataUrl(audience))
  const resourceMetadata =
    metadataOptions === undefined || metadataUrl === undefined
      ? undefined
      : {
          url: metadataUrl,
          document: buildResourceMetadata({
            resource: audience,
            issuers: defaultIssuers,
            options: metadataOptions,
            dpopAlgorithms: dpop?.algorithms,
            mtls: mtls?.advertised === true,
          }),
        }

  function fail(
    status: 400 | 401 | 403,
    error: BearerErrorCode | undefined,
    description: string,
    scheme: 'Bearer' | 'DPoP',
    scope?: readonly string[],
  ): VerifyFailure {
    const used = buildChallenge({
      scheme,
      realm,
      error,
      description: error === undefined ? undefined : description,
      scope,
      resourceMetadata: resourceMetadata?.url,
      algs: scheme === 'DPoP' ? dpop?.algorithms : undefined,
    })
    // RFC 9449 §7.2: an RS taking both schemes offers both; the error goes with the scheme used.
    const other =
      dpop === undefined
        ? undefined
        : scheme === 'DPoP'
          ? buildChallenge({ scheme: 'Bearer', realm, resourceMetadata: resourceMetadata?.url })
          : buildChallenge({
              scheme: 'DPoP',
              realm,
              algs: dpop.algorithms,
              resourceMetadata: resourceMetadata?.url,
            })
    const challenge = other === undefined ? used : `${used}, ${other}`
    if (error !== undefined) emit({ type: 'rejected', status, error, reason: description })
    return {
      ok: false,
      status,
      ...(error === undefined ? {} : { error }),
      description,
      challenge,
      headers: { 'WWW-Authenticate': challenge },
    }
  }

  function unavailable(
    reason: string,
    retryAfter: number | undefined,
    description = 'the authorization server cannot be reached; retry later',
  ): VerifyFailure {
    const seconds = Math.max(1, Math.min(retryAfter ?? 5, 300))
    emit({ type: 'rejected', status: 503, error: 'temporarily_unavailable', reason })
    return {
      ok: false,
      status: 503,
      error: 'temporarily_unavailable',
      description,
      retryAfter: seconds,
      headers: { 'Retry-After': String(seconds) },
    }
  }

  function pickIssuer(req: RequestLike, token: string): IssuerContext | undefined {
    if (contexts.length === 1) return contexts[0]
    if (looksLikeJwt(token)) {
      const iss = unverifiedIssuer(token)
      return contexts.find((c) => c.issuer === iss)
    }
    const chosen = options.resolveIssuer?.(req)
    return chosen === undefined ? contexts[0] : contexts.find((c) => c.issuer === chosen)
  }

  /** A cached introspection answer, as a resolution (and its `cache hit` event). */
  function fromCache(ctx: IssuerContext, fresh: Introspected): Resolution {
    emit(ctx.cacheHit)
    return fresh.active
      ? { kind: 'active', info: fresh, source: 'cache' }
      : { kind: 'inactive', reason: 'the token is not active', source: 'cache' }
  }

  /**
   * The warm path, without waiting for anything: a fresh introspection answer in this process.
   * Undefined sends the request the general way (`resolve`): other strategies, stale entries, the
   * second level, the AS.
   */
  function resolveLocally(
    ctx: IssuerContext,
    token: string,
    hash: string,
    nowMs: number,
  ): Resolution | undefined {
    if (ctx.strategy !== 'introspect' && (ctx.strategy !== 'auto' || looksLikeJwt(token))) {
      return undefined
    }
    const fresh = ctx.cache.freshLocal(hash, nowMs)
    return fresh === undefined ? undefined : fromCache(ctx, fresh)
  }

  async function introspectCached(
    ctx: IssuerContext,
    token: string,
    hash: string,
    deadline: number,
  ): Promise<Resolution> {
    const introspector = ctx.introspector as Introspector
    const found = await ctx.cache.lookup(hash)
    if (found.fresh !== undefined) return fromCache(ctx, found.fresh)
    emit({ type: 'cache', issuer: ctx.issuer, result: 'miss' })
    const outcome = await ctx.cache.singleFlight(hash, async () => {
      const started = performance.now()
      // Before asking: a revocation pushed while we wait makes this answer stale (not cached).
      const since = ctx.cache.mark()
      try {
        const value: Introspected = await introspector.introspect(token, deadline)
        emit({
          type: 'introspection',
          issuer: ctx.issuer,
          durationMs: performance.now() - started,
          outcome: value.active ? 'active' : 'inactive',
        })
        await ctx.cache.store(hash, value, since)
        return { value }
      } catch (err) {
        if (!(err instanceof AsUnavailableError)) throw err
        emit({
          type: 'introspection',
          issuer: ctx.issuer,
          durationMs: performance.now() - started,
          outcome: 'error',
        })
        emit({ type: 'as_error', issuer: ctx.issuer, reason: err.message })
        return { error: err }
      }
    })
    if ('error' in outcome) {
      if (found.stale !== undefined) {
        emit({ type: 'cache', issuer: ctx.issuer, result: 'stale' })
        return { kind: 'active', info: found.stale, source: 'cache' }
      }
      return {
        kind: 'unavailable',
        reason: outcome.error.message,
        retryAfter: outcome.error.retryAfter,
      }
    }
    return outcome.value.active
      ? { kind: 'active', info: outcome.value, source: 'introspection' }
      : { kind: 'inactive', reason: 'the token is not active', source: 'introspection' }
  }

  async function validateJwtCached(
    ctx: IssuerContext,
    token: string,
    hash: string,
    deadline: number,
  ): Promise<Resolution> {
    const validator = ctx.jwt as JwtValidator
    const found = await ctx.jwtCache.lookup(hash)
    if (found.fresh !== undefined) {
      return found.fresh.active
        ? { kind: 'active', info: found.fresh, source: 'jwt' }
        : { kind: 'inactive', reason: 'the token is not valid', source: 'jwt' }
    }
    const since = ctx.jwtCache.mark()
    try {
      const outcome = await validator.validate(token, deadline)
      await ctx.jwtCache.store(hash, outcome.ok ? outcome.info : { active: false }, since)
      return outcome.ok
        ? { kind: 'active', info: outcome.info, source: 'jwt' }
        : { kind: 'inactive', reason: outcome.reason, source: 'jwt' }
    } catch (err) {
      if (!(err instanceof AsUnavailableError)) throw err
      emit({ type: 'as_error', issuer: ctx.issuer, reason: err.message })
      return { kind: 'unavailable', reason: err.message, retryAfter: err.retryAfter }
    }
  }

  async function resolve(ctx: IssuerContext, token: string, hash: string): Promise<Resolution> {
    const deadline = Date.now() + http.timeoutMs
    const jwtShaped = looksLikeJwt(token)
    switch (ctx.strategy) {
      case 'introspect':
        return introspectCached(ctx, token, hash, deadline)
      case 'jwt':
        return jwtShaped
          ? validateJwtCached(ctx, token, hash, deadline)
          : { kind: 'inactive', reason: 'the token is not a JWT', source: 'jwt' }
      case 'auto':
        return jwtShaped
          ? validateJwtCached(ctx, token, hash, deadline)
          : introspectCached(ctx, token, hash, deadline)
      case 'jwt+introspect': {
        if (!jwtShaped) return { kind: 'inactive', reason: 'the token is not a JWT', source: 'jwt' }
        const local = await validateJwtCached(ctx, token, hash, deadline)
        if (local.kind !== 'active') return local
        // The local check proved the token; introspection tells whether it was revoked since.
        return introspectCached(ctx, token, hash, deadline)
      }
    }
  }

  const policyDefaults = { audience, issuers: defaultIssuers }
  // One VerifiedToken per cached answer: a warm-cache request hands out the same frozen value
  // instead of building it again. Keyed weakly, so it goes when the cache drops the answer.
  const verifiedTokens = new WeakMap<TokenInfo, VerifiedToken>()

  function verifiedTokenOf(
    info: TokenInfo,
    issuer: string,
    source: VerifiedToken['source'],
    dpopBound: boolean,
  ): VerifiedToken {
    const known = verifiedTokens.get(info)
    if (known !== undefined && known.issuer === issuer && known.source === source) return known
    const { cnf } = info
    // Frozen through: handlers share these values with the cache (and the policy of later requests
    // reads the same claims), so none may change them.
    const built: VerifiedToken = Object.freeze({
      scopes: Object.freeze(info.scopes),
      audience: Object.freeze(info.audience),
      issuer,
      // RFC 8705 §3: a certificate-bound token is still a Bearer token; only DPoP changes the scheme.
      tokenType: dpopBound ? 'DPoP' : 'Bearer',
      claims: deepFreeze(info.claims),
      source,
      ...(info.sub === undefined ? {} : { sub: info.sub }),
      ...(info.clientId === undefined ? {} : { clientId: info.clientId }),
      ...(info.username === undefined ? {} : { username: info.username }),
      ...(info.exp === undefined ? {} : { exp: info.exp }),
      ...(info.iat === undefined ? {} : { iat: info.iat }),
      ...(info.jti === undefined ? {} : { jti: info.jti }),
      ...(cnf === undefined ? {} : { cnf: deepFreeze(cnf) }),
    })
    verifiedTokens.set(info, built)
    return built
  }

  /**
   * verify(), synchronous up to the first thing that must be waited for: on a fresh cached answer
   * with no DPoP proof and no `allow` rule, the result itself.
   */
  function verifyNow(
    req: RequestLike,
    policy: Policy = NO_POLICY,
  ): VerifyResult | Promise<VerifyResult> {
    try {
      return decideNow(req, policy)
    } catch (err) {
      // A throwing callback (resolveIssuer, a tenant function) rejects, as it does in verify().
      return Promise.reject(err)
    }
  }

  function decideNow(req: RequestLike, policy: Policy): VerifyResult | Promise<VerifyResult> {
    const presented = extractToken(req)
    if (presented.kind === 'none' || (presented.kind === 'dpop' && dpop === undefined)) {
      // RFC 6750 §3.1: no authentication information, no error code.
      return fail(401, undefined, 'an access token is required', 'Bearer')
    }
    if (presented.kind === 'invalid') {
      // RFC 9449 §7.2: the error goes in the challenge of the scheme that was used.
      const used = presented.scheme === 'DPoP' && dpop !== undefined ? 'DPoP' : 'Bearer'
      return fail(400, 'invalid_request', presented.description, used)
    }
    const { token } = presented
    const scheme = presented.kind === 'dpop' ? 'DPoP' : 'Bearer'

    const ctx = pickIssuer(req, token)
    if (ctx === undefined)
      return fail(401, 'invalid_token', 'the token is from an unknown issuer', scheme)
    const hash = sha256(token)
    const nowMs = Date.now()
    const local = resolveLocally(ctx, token, hash, nowMs)
    if (local !== undefined) return conclude(req, policy, ctx, token, scheme, local, nowMs)
    return resolve(ctx, token, hash).then((resolution) =>
      conclude(req, policy, ctx, token, scheme, resolution, Date.now()),
    )
  }

  /** From what is known of the token to the answer: defence-in-depth checks, sender constraint, policy. */
  function conclude(
    req: RequestLike,
    policy: Policy,
    ctx: IssuerContext,
    token: string,
    scheme: 'Bearer' | 'DPoP',
    resolution: Resolution,
    nowMs: number,
  ): VerifyResult | Promise<VerifyResult> {
    if (resolution.kind === 'unavailable')
      return unavailable(resolution.reason, resolution.retryAfter)
    if (resolution.kind === 'inactive') {
      emit({ type: 'inactive', issuer: ctx.issuer, source: resolution.source })
      return fail(401, 'invalid_token', 'the access token is not active', scheme)
    }
    const { info, source } = resolution
    emit(source === 'cache' ? ctx.activeFromCache : { type: 'active', issuer: ctx.issuer, source })

    // Defence in depth (pitfall P-08): some servers say active:true for expired tokens.
    const now = nowMs / 1000
    if (info.exp !== undefined && info.exp <= now - clockSkew) {
      return fail(401, 'invalid_token', 'the access token has expired', scheme)
    }
    if (info.nbf !== undefined && info.nbf > now + clockSkew) {
      return fail(401, 'invalid_token', 'the access token is not valid yet', scheme)
    }
    if (info.iss !== undefined && info.iss !== ctx.issuer) {
      return fail(401, 'invalid_token', 'the token was issued by another issuer', scheme)
    }
    // Checklist Q-09: refresh tokens and other non-access tokens are not access tokens.
    const tokenType = info.tokenType?.toLowerCase()
    if (
      tokenType === undefined
        ? options.requireTokenType === true
        : !ACCESS_TOKEN_TYPES.has(tokenType)
    ) {
      return fail(401, 'invalid_token', 'the token is not an access token', scheme)
    }
    if (info.claims.token_use !== undefined && info.claims.token_use !== 'access_token') {
      return fail(401, 'invalid_token', 'the token is not an access token', scheme)
    }

    // Sender constraint (RFC 9449 §7, RFC 8705 §3, pitfall P-13): any cnf forces its proof.
    const cnf = info.cnf
    if (cnf !== undefined && Object.keys(cnf).length > 0) {
      return constrained(req, policy, ctx, info, source, token, scheme, cnf)
    }
    if (scheme === 'DPoP') return fail(401, 'invalid_token', 'the token is not DPoP-bound', 'DPoP')
    return authorize(req, policy, ctx, info, source, scheme, false)
  }

  /**
   * A token with a confirmation (RFC 7800): every method in `cnf` must be proven (a token bound to
   * a DPoP key and a certificate needs both), and one this API cannot check refuses the token.
   */
  function constrained(
    req: RequestLike,
    policy: Policy,
    ctx: IssuerContext,
    info: TokenInfo,
    source: VerifiedToken['source'],
    token: string,
    scheme: 'Bearer' | 'DPoP',
    cnf: Readonly<Record<string, unknown>>,
  ): VerifyResult | Promise<VerifyResult> {
    const jkt = cnf.jkt
    const x5t = cnf['x5t#S256']
    if (
      !Object.keys(cnf).every(isCheckableConfirmation) ||
      (jkt !== undefined && (typeof jkt !== 'string' || dpop === undefined)) ||
      (x5t !== undefined && (typeof x5t !== 'string' || mtls === undefined))
    ) {
      return fail(401, 'invalid_token', 'the token is bound to a key this API cannot check', scheme)
    }
    if (typeof x5t === 'string') {
      // RFC 8705 §3 (checklist T-01, T-02): the certificate of this request, on every request.
      const outcome = (mtls as CertificateBinding).check(req, x5t)
      if (outcome !== 'match') {
        return fail(
          401,
          'invalid_token',
          outcome === 'absent'
            ? 'the token is bound to a client certificate; the request presented none'
            : 'the token is bound to another client certificate',
          scheme,
        )
      }
    }
    if (typeof jkt !== 'string') {
      if (scheme === 'DPoP')
        return fail(401, 'invalid_token', 'the token is not DPoP-bound', 'DPoP')
      return authorize(req, policy, ctx, info, source, scheme, false)
    }
    // RFC 9449 §7.2 / checklist D-07: a DPoP-bound token sent as Bearer is refused.
    if (scheme !== 'DPoP')
      return fail(
        401,
        'invalid_token',
        'a DPoP-bound token must be sent with the DPoP scheme',
        'DPoP',
      )
    return (dpop as DpopVerifier).verify(req, token, jkt).then((proof) =>
      // RFC 9449 §7.1: a bad proof is invalid_dpop_proof; a proof by the wrong key, invalid_token.
      proof.ok
        ? authorize(req, policy, ctx, info, source, scheme, true)
        : proof.error === 'temporarily_unavailable'
          ? unavailable(proof.description, 1, proof.description)
          : fail(401, proof.error, proof.description, 'DPoP'),
    )
  }

  /** The route's policy, on every request (never cached as a decision). */
  function authorize(
    req: RequestLike,
    policy: Policy,
    ctx: IssuerContext,
    info: TokenInfo,
    source: VerifiedToken['source'],
    scheme: 'Bearer' | 'DPoP',
    dpopBound: boolean,
  ): VerifyResult | Promise<VerifyResult> {
    const verified = verifiedTokenOf(info, ctx.issuer, source, dpopBound)
    const evaluated = evaluatePolicy(verified, info, policy, policyDefaults, req)
    // No closure on the warm path: under tsx every named closure costs an Object.defineProperty.
    if (!(evaluated instanceof Promise)) return decide(evaluated, verified, scheme)
    return evaluated.then((decision) => decide(decision, verified, scheme))
  }

  function decide(
    decision: PolicyOutcome,
    verified: VerifiedToken,
    scheme: 'Bearer' | 'DPoP',
  ): VerifyResult {
    return decision.ok
      ? { ok: true, token: verified }
      : fail(decision.status, decision.error, decision.description, scheme, decision.scope)
  }

  const subscribers: readonly RevocationSubscriber[] = subscriptions.map(startRevocationSubscriber)

  return {
    audience,
    resourceMetadata,
    metrics: () => metrics.snapshot(),

    verify: async (req, policy) => verifyNow(req, policy),
    verifyNow,

    async purge(token) {
      const hash = typeof token === 'string' ? sha256(token) : token.tokenHash
      await Promise.all(contexts.flatMap((c) => [c.cache.purge(hash), c.jwtCache.purge(hash)]))
    },

    async close() {
      // Subscribers first: one may be discovering its endpoint through `http`.
      await Promise.all(subscribers.map((subscriber) => subscriber.close()))
      await http.close()
    },
  }
}
