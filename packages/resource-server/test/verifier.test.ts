/**
 * The verifier against the test authorization server, over real HTTP on loopback: caching
 * (single-flight, exp cap, TTLs, stale-if-error), outages, policy on every request, the AS quirks
 * of checklist §15, RFC 6750 challenges, timeouts and retries, purge, metrics and secrecy.
 *
 * DPoP is turned off here (`dpop: false`): sender-constrained tokens have their own suite.
 */
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { after, before, beforeEach, test } from 'node:test'
import {
  createTokenVerifier,
  type Policy,
  type SecondLevelCache,
  type TokenVerifier,
  type VerifierEvent,
  type VerifierOptions,
  type VerifyFailure,
  type VerifyResult,
} from '@keyhole/resource-server'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@keyhole/resource-server/testing'
import type { JWK } from 'jose'
import { buildChallenge } from '../src/challenge.ts'
import { challengeOf, parseChallenges } from './support/challenge.ts'
import { accepted, refused, sleep } from './support/results.ts'

const AUDIENCE = 'https://orders.example.test'

let kit: TestAuthorizationServer
const verifiers: TokenVerifier[] = []
before(async () => {
  kit = await startTestAuthorizationServer({ audience: AUDIENCE })
})
beforeEach(() => kit.reset())
after(async () => {
  await Promise.all(verifiers.map((v) => v.close()))
  await kit.close()
})

function verifierFor(
  overrides: Partial<VerifierOptions> = {},
  server: TestAuthorizationServer = kit,
): TokenVerifier {
  const verifier = createTokenVerifier({
    issuer: server.issuer,
    audience: AUDIENCE,
    credentials: server.credentials,
    dpop: false,
    ...overrides,
  })
  verifiers.push(verifier)
  return verifier
}

const request = (token?: string, headers: Record<string, string> = {}) => ({
  method: 'GET',
  url: '/orders',
  headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers },
})

const now = () => Math.floor(Date.now() / 1000)

/** Wait until `exp` (epoch seconds) is strictly in the past. */
async function passExp(exp: number) {
  const wait = (exp + 1) * 1000 - Date.now() + 50
  if (wait > 0) await sleep(wait)
}

/** 503, `temporarily_unavailable`, `Retry-After`, and no Bearer challenge. */
function unavailable(result: VerifyResult): VerifyFailure {
  const failure = refused(result, 503)
  assert.equal(failure.error, 'temporarily_unavailable')
  assert.match(failure.headers['Retry-After'] ?? '', /^[1-9]\d*$/)
  assert.equal(failure.headers['WWW-Authenticate'], undefined)
  return failure
}

/** An introspection of some other token, so discovery is done before the test's own counting. */
async function warm(verifier: TokenVerifier) {
  accepted(await verifier.verify(request(kit.issueToken())))
  kit.reset()
}

// --- cache (checklist Q-04, I-24, I-25, P-15) -------------------------------------------------

test('Q-04 single-flight: 100 concurrent verify() for one uncached token make exactly one introspection call', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ scope: 'orders:read' })
  const results = await Promise.all(
    Array.from({ length: 100 }, () => verifier.verify(request(token), { scopes: ['orders:read'] })),
  )
  for (const result of results) accepted(result)
  assert.equal(kit.introspectionCount, 1)
})

test('Q-04 verifyNow answers a fresh cache hit without a promise, with the same result as verify(); a miss is a promise', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ scope: 'orders:read' })
  const policy = { scopes: ['orders:read'] }
  const cold = verifier.verifyNow(request(token), policy)
  assert.ok(cold instanceof Promise, 'an uncached token needs the AS')
  const first = accepted(await cold)
  const warm = verifier.verifyNow(request(token), policy)
  assert.ok(!(warm instanceof Promise), 'a fresh cached answer is decided at once')
  assert.deepEqual({ ...accepted(warm).token, source: 'introspection' }, first.token)
  assert.equal(accepted(warm).token.source, 'cache')
  assert.deepEqual(await verifier.verify(request(token), policy), warm)
  // Policy still runs on the synchronous path (checklist Q-04: never a cached decision).
  const other = verifier.verifyNow(request(token), { scopes: ['orders:write'] })
  assert.ok(!(other instanceof Promise))
  assert.equal(refused(other, 403).error, 'insufficient_scope')
  // An `allow` rule may be async, so the answer is a promise, and the rule runs.
  const ruled = verifier.verifyNow(request(token), { ...policy, allow: () => false })
  assert.ok(ruled instanceof Promise)
  assert.equal(refused(await ruled, 403).error, 'insufficient_scope')
  assert.equal(kit.introspectionCount, 1)
})

test('Q-04 verifyNow never throws: a throwing tenant function is a rejected promise, as in verify()', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ extra: { org: 'acme' } })
  accepted(await verifier.verify(request(token)))
  const policy: Policy = {
    tenant: {
      claim: 'org',
      equals: () => {
        throw new Error('tenant lookup failed')
      },
    },
  }
  const now = verifier.verifyNow(request(token), policy)
  assert.ok(now instanceof Promise)
  await assert.rejects(now, /tenant lookup failed/)
  await assert.rejects(verifier.verify(request(token), policy), /tenant lookup failed/)
})

test("Q-04 the claims a handler gets are frozen through: a later request's policy sees what the AS said", async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ extra: { org: { id: 'acme' }, groups: ['a'] } })
  const first = accepted(await verifier.verify(request(token))).token
  const claims = first.claims as Record<string, unknown> & { org: { id: string }; groups: string[] }
  assert.throws(() => {
    claims.org = { id: 'attacker' }
  }, TypeError)
  assert.throws(() => {
    claims.org.id = 'attacker'
  }, TypeError)
  assert.throws(() => claims.groups.push('admin'), TypeError)
  const tenant = (equals: string): Policy => ({ tenant: { claim: 'org.id', equals } })
  accepted(await verifier.verify(request(token), tenant('acme')))
  refused(await verifier.verify(request(token), tenant('attacker')), 401)
})

test('B-12 verifyNow without a token, or with a malformed one, answers at once', () => {
  const verifier = verifierFor()
  const none = verifier.verifyNow(request())
  assert.ok(!(none instanceof Promise))
  assert.equal(refused(none, 401).error, undefined)
  const malformed = verifier.verifyNow(request(undefined, { authorization: 'Bearer a b' }))
  assert.ok(!(malformed instanceof Promise))
  assert.equal(refused(malformed, 400).error, 'invalid_request')
  assert.equal(kit.introspectionCount, 0)
})

test('Q-04 single-flight: 100 concurrent callers during an outage share one failed call', async () => {
  const verifier = verifierFor({ http: { retries: 0 } })
  await warm(verifier)
  kit.setMode('error')
  const token = kit.issueToken()
  const results = await Promise.all(
    Array.from({ length: 100 }, () => verifier.verify(request(token))),
  )
  for (const result of results) unavailable(result)
  assert.equal(kit.introspectionCount, 1)
})

test('I-24 a token with exp = now+2 in a 60 s cache is not served from the cache after exp', async () => {
  const verifier = verifierFor({ cache: { maxTtl: 60 } })
  const token = kit.issueToken({ expiresIn: 2 })
  const first = accepted(await verifier.verify(request(token)))
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'cache')
  assert.equal(kit.introspectionCount, 1)
  await passExp(first.token.exp ?? assert.fail('no exp'))
  refused(await verifier.verify(request(token)), 401)
  assert.equal(kit.introspectionCount, 2, 're-introspected, not served from the cache')
})

test('I-24 past exp the cache is bypassed even when the AS still says active (re-introspects)', async () => {
  // A lying AS: active for 60 s, exp says now+2. Skew 0 so that the P-08 check bites at once.
  const verifier = verifierFor({ cache: { maxTtl: 60 }, clockSkew: 0 })
  const exp = now() + 2
  const token = kit.issueToken({ expiresIn: 60, extra: { exp } })
  accepted(await verifier.verify(request(token)))
  await passExp(exp)
  const late = refused(await verifier.verify(request(token)), 401)
  assert.equal(late.error, 'invalid_token')
  assert.equal(kit.introspectionCount, 2)
})

test('Q-04 the TTL is capped by maxTtl for a long-lived token', async () => {
  const verifier = verifierFor({ cache: { maxTtl: 1 } })
  const token = kit.issueToken({ expiresIn: 3600 })
  accepted(await verifier.verify(request(token)))
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'cache')
  assert.equal(kit.introspectionCount, 1)
  await sleep(1100)
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'introspection')
  assert.equal(kit.introspectionCount, 2)
})

test('Q-04 a token without exp is cached for maxTtl, never forever', async () => {
  const verifier = verifierFor({ cache: { maxTtl: 1 } })
  const token = kit.issueToken({ expiresIn: null })
  accepted(await verifier.verify(request(token)))
  await sleep(1100)
  accepted(await verifier.verify(request(token)))
  assert.equal(kit.introspectionCount, 2)
})

test('Q-04 negative TTL: an inactive answer is reused within negativeTtl and asked again after', async () => {
  const verifier = verifierFor({ cache: { negativeTtl: 1 } })
  const token = 'kt_never_issued_negative_ttl'
  refused(await verifier.verify(request(token)), 401)
  refused(await verifier.verify(request(token)), 401)
  assert.equal(kit.introspectionCount, 1)
  await sleep(1100)
  refused(await verifier.verify(request(token)), 401)
  assert.equal(kit.introspectionCount, 2)
})

test('Q-04 negativeTtl 0: an inactive answer is never cached', async () => {
  const verifier = verifierFor({ cache: { negativeTtl: 0 } })
  const token = 'kt_never_issued_no_negative_cache'
  refused(await verifier.verify(request(token)), 401)
  refused(await verifier.verify(request(token)), 401)
  assert.equal(kit.introspectionCount, 2)
})

test('I-25 a revoked token stays accepted while cached, and is refused at once with maxTtl 0', async () => {
  const cached = verifierFor({ cache: { maxTtl: 60 } })
  const uncached = verifierFor({ cache: { maxTtl: 0 } })
  const token = kit.issueToken()
  accepted(await cached.verify(request(token)))
  accepted(await uncached.verify(request(token)))
  kit.revoke(token)
  assert.equal(accepted(await cached.verify(request(token))).token.source, 'cache')
  refused(await uncached.verify(request(token)), 401)
})

test('I-24 exp is re-checked on every hit, even for a shared-cache entry whose TTL outlives exp', async () => {
  const shared = new Map<string, string>()
  const secondLevel: SecondLevelCache = {
    get: async (key) => shared.get(key),
    set: async (key, value) => shared.set(key, value),
    delete: async (key) => shared.delete(key),
  }
  const writer = verifierFor({ cache: { secondLevel } })
  const token = kit.issueToken({ expiresIn: 2 })
  const exp = accepted(await writer.verify(request(token))).token.exp ?? assert.fail('no exp')
  assert.equal(shared.size, 1)
  // Another process, its clock an hour behind, wrote an entry that claims to be fresh for an hour.
  for (const [key, value] of shared) {
    const entry = JSON.parse(value) as { freshUntil: number; staleUntil: number }
    entry.freshUntil = Date.now() + 3_600_000
    entry.staleUntil = entry.freshUntil
    shared.set(key, JSON.stringify(entry))
  }
  const reader = verifierFor({ cache: { secondLevel } })
  assert.equal(accepted(await reader.verify(request(token))).token.source, 'cache')
  await passExp(exp)
  refused(await reader.verify(request(token)), 401)
  assert.equal(kit.introspectionCount, 2, 're-introspected instead of trusting the entry')
})

// --- outages (checklist Q-05) ----------------------------------------------------------------

test('Q-05 AS down: 503 temporarily_unavailable with Retry-After, not cached; after recovery a new call succeeds', async () => {
  const verifier = verifierFor({ cache: { negativeTtl: 60 } })
  await warm(verifier)
  const token = kit.issueToken()
  kit.setMode('down')
  const failure = unavailable(await verifier.verify(request(token)))
  assert.equal(failure.retryAfter, Number(failure.headers['Retry-After']))
  kit.setMode('normal')
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'introspection')
  assert.equal(kit.introspectionCount, 1)
})

test('Q-05 AS down before discovery: 503 as well', async () => {
  const verifier = verifierFor()
  kit.setMode('down')
  unavailable(await verifier.verify(request(kit.issueToken())))
  kit.setMode('normal')
  accepted(await verifier.verify(request(kit.issueToken())))
})

test('Q-04 a 5xx is never cached as inactive: after recovery the same token is accepted', async () => {
  const verifier = verifierFor({ cache: { negativeTtl: 60 }, http: { retries: 0 } })
  await warm(verifier)
  const token = kit.issueToken()
  kit.setMode('error')
  unavailable(await verifier.verify(request(token)))
  unavailable(await verifier.verify(request(token)))
  assert.equal(kit.introspectionCount, 2, 'each request asked again')
  kit.setMode('normal')
  accepted(await verifier.verify(request(token)))
  assert.equal(kit.introspectionCount, 3)
})

test('Q-05 the AS Retry-After of a 503 is passed on', async () => {
  const verifier = verifierFor({ http: { retries: 0 } })
  await warm(verifier)
  kit.respondWith(
    { error: 'temporarily_unavailable' },
    { status: 503, headers: { 'retry-after': '17' } },
  )
  const failure = unavailable(await verifier.verify(request(kit.issueToken())))
  assert.equal(failure.headers['Retry-After'], '17')
})

test('Q-05 stale-if-error serves a positive entry during an outage, within the window', async () => {
  const verifier = verifierFor({ cache: { maxTtl: 1, staleIfError: 30 } })
  const token = kit.issueToken({ expiresIn: 3600 })
  accepted(await verifier.verify(request(token)))
  await sleep(1100)
  kit.setMode('down')
  const stale = accepted(await verifier.verify(request(token), { scopes: [] }))
  assert.equal(stale.token.source, 'cache')
  assert.equal(verifier.metrics().counters.cache_stale_served, 1)
  kit.setMode('normal')
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'introspection')
})

test('Q-05 stale-if-error still applies policy to the stale entry', async () => {
  const verifier = verifierFor({ cache: { maxTtl: 1, staleIfError: 30 } })
  const token = kit.issueToken({ scope: 'a' })
  accepted(await verifier.verify(request(token)))
  await sleep(1100)
  kit.setMode('down')
  refused(await verifier.verify(request(token), { scopes: ['b'] }), 403)
})

test('Q-05 stale-if-error never serves past exp', async () => {
  const verifier = verifierFor({ cache: { maxTtl: 1, staleIfError: 60 } })
  const token = kit.issueToken({ expiresIn: 2 })
  const first = accepted(await verifier.verify(request(token)))
  await passExp(first.token.exp ?? assert.fail('no exp'))
  kit.setMode('down')
  unavailable(await verifier.verify(request(token)))
})

test('Q-05 stale-if-error is off by default', async () => {
  const verifier = verifierFor({ cache: { maxTtl: 1 } })
  const token = kit.issueToken({ expiresIn: 3600 })
  accepted(await verifier.verify(request(token)))
  await sleep(1100)
  kit.setMode('down')
  unavailable(await verifier.verify(request(token)))
})

test('Q-05 the AS refusing our credentials (401 invalid_client) is 503, not 401, and not cached', async () => {
  const verifier = verifierFor({
    credentials: { clientId: kit.credentials.clientId, clientSecret: 'not-the-secret' },
    cache: { negativeTtl: 60 },
  })
  const token = kit.issueToken()
  const failure = unavailable(await verifier.verify(request(token)))
  assert.doesNotMatch(failure.description, /invalid|token/i)
  unavailable(await verifier.verify(request(token)))
  assert.equal(kit.introspectionCount, 2, 'a 401 is not retried, and not cached')
})

test('M-08 an AS that does not accept our auth method is a 503 (misconfiguration), not 401', async () => {
  const other = await startTestAuthorizationServer({
    audience: AUDIENCE,
    metadata: { introspection_endpoint_auth_methods_supported: ['private_key_jwt'] },
  })
  try {
    const verifier = verifierFor({}, other)
    unavailable(await verifier.verify(request(other.issueToken())))
    assert.equal(other.introspectionCount, 0)
  } finally {
    await other.close()
  }
})

test('M-15 metadata whose issuer is not identical (a trailing "/") is not used: 503', async () => {
  const other = await startTestAuthorizationServer({
    audience: AUDIENCE,
    metadata: (defaults) => ({ ...defaults, issuer: `${String(defaults.issuer)}/` }),
  })
  try {
    unavailable(await verifierFor({}, other).verify(request(other.issueToken())))
    assert.equal(other.introspectionCount, 0)
  } finally {
    await other.close()
  }
})

test('M-08 an unusable introspection_endpoint or jwks_uri in the metadata is a 503, never a thrown error', async () => {
  const cases: [Record<string, unknown>, 'json' | 'jwt'][] = [
    [{ introspection_endpoint: 'not a url' }, 'json'],
    [{ introspection_endpoint: 'file:///etc/passwd' }, 'json'],
    [{ introspection_endpoint: 42 }, 'json'],
    [{ jwks_uri: 'not a url' }, 'jwt'],
    [{ jwks_uri: undefined }, 'jwt'],
  ]
  for (const [metadata, introspectionResponse] of cases) {
    const broken = await startTestAuthorizationServer({
      audience: AUDIENCE,
      metadata: (defaults) => ({ ...defaults, ...metadata }),
    })
    try {
      const verifier = verifierFor({ introspectionResponse }, broken)
      unavailable(await verifier.verify(request(broken.issueToken())))
      assert.equal(broken.introspectionCount, 0, JSON.stringify(metadata))
    } finally {
      await broken.close()
    }
  }
})

// --- timeouts and retries --------------------------------------------------------------------

test('Q-05 a hard per-call timeout: a slow AS with http.timeoutMs 200 gives 503 well within 1 s', async () => {
  const verifier = verifierFor({ http: { timeoutMs: 200 } })
  await warm(verifier)
  kit.setMode('slow')
  const started = performance.now()
  unavailable(await verifier.verify(request(kit.issueToken())))
  const elapsed = performance.now() - started
  assert.ok(elapsed >= 150 && elapsed < 1000, `took ${elapsed} ms`)
})

test('Q-05 retries happen only within the budget: a timeout spends it, no second attempt', async () => {
  const verifier = verifierFor({ http: { timeoutMs: 300, retries: 3 } })
  await warm(verifier)
  kit.setMode('slow')
  const started = performance.now()
  unavailable(await verifier.verify(request(kit.issueToken())))
  assert.ok(performance.now() - started < 1000)
  assert.equal(kit.introspectionCount, 1)
})

test('Q-05 a 5xx is retried as configured while the budget allows', async () => {
  const verifier = verifierFor({ http: { timeoutMs: 3000, retries: 2 } })
  await warm(verifier)
  kit.setMode('error')
  unavailable(await verifier.verify(request(kit.issueToken())))
  assert.equal(kit.introspectionCount, 3)
  kit.reset()
  const once = verifierFor({ http: { retries: 0 } })
  await warm(once)
  kit.setMode('error')
  unavailable(await once.verify(request(kit.issueToken())))
  assert.equal(kit.introspectionCount, 1)
})

test('Q-05 no retry when the AS asks to wait longer than the budget (Retry-After)', async () => {
  const verifier = verifierFor({ http: { timeoutMs: 2000, retries: 3 } })
  await warm(verifier)
  kit.respondWith({ error: 'busy' }, { status: 503, headers: { 'retry-after': '30' } })
  const started = performance.now()
  const failure = unavailable(await verifier.verify(request(kit.issueToken())))
  assert.ok(performance.now() - started < 1000)
  assert.equal(failure.headers['Retry-After'], '30')
  assert.equal(kit.introspectionCount, 1)
})

test('Q-05 a 4xx from the AS is not retried', async () => {
  const verifier = verifierFor({ http: { retries: 3 } })
  await warm(verifier)
  kit.respondWith({ error: 'invalid_request' }, { status: 400 })
  unavailable(await verifier.verify(request(kit.issueToken())))
  assert.equal(kit.introspectionCount, 1)
})

// --- policy on every request (anchors-rs §0.2, GHSA-qvp4-rpmr-xwrr) --------------------------

test('Q-04 policy is re-applied on a cache hit: a route with other scopes gets 403 insufficient_scope', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ scope: 'a' })
  accepted(await verifier.verify(request(token), { scopes: ['a'] }))
  const denied = refused(await verifier.verify(request(token), { scopes: ['b'] }), 403)
  assert.equal(denied.error, 'insufficient_scope')
  const challenge = challengeOf(denied.headers['WWW-Authenticate'])
  assert.equal(challenge.params.error, 'insufficient_scope')
  assert.equal(challenge.params.scope, 'b')
  assert.equal(kit.introspectionCount, 1, 'the second answer came from the cache')
  assert.equal(
    accepted(await verifier.verify(request(token), { scopes: ['a'] })).token.source,
    'cache',
  )
})

test('O-12 scopeMatch all (default) needs every scope, any needs one', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ scope: 'a b' })
  accepted(await verifier.verify(request(token), { scopes: ['a', 'b'] }))
  const denied = refused(await verifier.verify(request(token), { scopes: ['a', 'c'] }), 403)
  assert.equal(challengeOf(denied.challenge).params.scope, 'a c')
  accepted(await verifier.verify(request(token), { scopes: ['c', 'a'], scopeMatch: 'any' }))
})

test('BCP-01 audience mismatch is 401 invalid_token; a missing aud is no audience', async () => {
  const verifier = verifierFor()
  const other = refused(
    await verifier.verify(request(kit.issueToken({ aud: 'https://billing.example.test' }))),
    401,
  )
  assert.equal(other.error, 'invalid_token')
  assert.equal(challengeOf(other.challenge).params.error, 'invalid_token')
  refused(await verifier.verify(request(kit.issueToken({ aud: null }))), 401)
  const billing = kit.issueToken({ aud: 'https://billing.example.test' })
  accepted(await verifier.verify(request(billing), { audience: 'https://billing.example.test' }))
})

test('BCP-01 issuer allow-list: a route accepting other issuers refuses this one (401)', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken()
  accepted(await verifier.verify(request(token), { issuers: [kit.issuer] }))
  const denied = refused(
    await verifier.verify(request(token), { issuers: ['https://other-issuer.example.test'] }),
    401,
  )
  assert.equal(denied.error, 'invalid_token')
})

test('BCP-01 an introspection answer naming another iss is refused (401)', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ extra: { iss: 'https://evil.example.test' } })
  assert.equal(refused(await verifier.verify(request(token)), 401).error, 'invalid_token')
})

test('BCP-01 multi-issuer: resolveIssuer picks the AS; the route issuer allow-list still applies', async () => {
  const tenantB = await startTestAuthorizationServer({ audience: AUDIENCE })
  try {
    const verifier = createTokenVerifier({
      audience: AUDIENCE,
      dpop: false,
      issuers: [
        { issuer: kit.issuer, credentials: kit.credentials },
        { issuer: tenantB.issuer, credentials: tenantB.credentials },
      ],
      resolveIssuer: (req) =>
        (req.headers as Record<string, string | undefined>)['x-tenant'] === 'b'
          ? tenantB.issuer
          : undefined,
    })
    verifiers.push(verifier)
    const tokenB = tenantB.issueToken()
    const ok = accepted(await verifier.verify(request(tokenB, { 'x-tenant': 'b' })))
    assert.equal(ok.token.issuer, tenantB.issuer)
    refused(await verifier.verify(request(tokenB)), 401) // asked kit (the first), which does not know it
    refused(
      await verifier.verify(request(tokenB, { 'x-tenant': 'b' }), { issuers: [kit.issuer] }),
      401,
    )
    assert.equal(tenantB.introspectionCount, 1)
  } finally {
    await tenantB.close()
  }
})

test('Q-12 tenant claim: equal passes, another tenant or a missing claim is 401', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({
    extra: { 'https://keyhole.example/tenant': 'acme', org: { id: 'acme' } },
  })
  accepted(
    await verifier.verify(request(token), {
      tenant: { claim: 'https://keyhole.example/tenant', equals: 'acme' },
    }),
  )
  accepted(await verifier.verify(request(token), { tenant: { claim: 'org.id', equals: 'acme' } }))
  const fromRequest: Policy = {
    tenant: {
      claim: 'org.id',
      equals: (req) => (req.headers as Record<string, string | undefined>)['x-tenant'],
    },
  }
  accepted(await verifier.verify(request(token, { 'x-tenant': 'acme' }), fromRequest))
  refused(await verifier.verify(request(token, { 'x-tenant': 'globex' }), fromRequest), 401)
  refused(await verifier.verify(request(token), fromRequest), 401)
  const other = refused(
    await verifier.verify(request(token), {
      tenant: { claim: 'https://keyhole.example/tenant', equals: 'globex' },
    }),
    401,
  )
  assert.equal(other.error, 'invalid_token')
  refused(
    await verifier.verify(request(token), { tenant: { claim: 'org.missing', equals: 'acme' } }),
    401,
  )
})

test('O-12 custom predicate: runs last with the verified token; false is 403', async () => {
  const verifier = verifierFor()
  const alice = kit.issueToken({ sub: 'alice', scope: 'a' })
  const bob = kit.issueToken({ sub: 'bob', scope: 'a' })
  const seen: string[] = []
  const policy: Policy = {
    scopes: ['a'],
    allow: async (token, req) => {
      seen.push(`${token.sub}:${req.url}`)
      return token.sub === 'alice'
    },
  }
  assert.equal(accepted(await verifier.verify(request(alice), policy)).token.sub, 'alice')
  const denied = refused(await verifier.verify(request(bob), policy), 403)
  assert.equal(denied.error, 'insufficient_scope')
  assert.deepEqual(seen, ['alice:/orders', 'bob:/orders'])
  refused(await verifier.verify(request(alice), { ...policy, scopes: ['z'] }), 403)
  assert.equal(seen.length, 2, 'the predicate does not run when the scopes already failed')
})

// --- token type (checklist Q-09, B-13) --------------------------------------------------------

test('Q-09 token_type refresh_token is 401', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ tokenType: 'refresh_token' })
  assert.equal(refused(await verifier.verify(request(token)), 401).error, 'invalid_token')
})

test('Q-09 token_use refresh_token is 401', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken({ extra: { token_use: 'refresh_token' } })
  assert.equal(refused(await verifier.verify(request(token)), 401).error, 'invalid_token')
  accepted(await verifier.verify(request(kit.issueToken({ extra: { token_use: 'access_token' } }))))
})

test('B-13 token_type names are case-insensitive: "bearer" and "BEARER" are accepted', async () => {
  const verifier = verifierFor()
  accepted(await verifier.verify(request(kit.issueToken({ tokenType: 'bearer' }))))
  accepted(await verifier.verify(request(kit.issueToken({ tokenType: 'BEARER' }))))
  refused(await verifier.verify(request(kit.issueToken({ tokenType: 'bearer2' }))), 401)
})

test('Q-09 requireTokenType: an answer without token_type is refused only in strict mode', async () => {
  const token = kit.issueToken({ tokenType: null })
  accepted(await verifierFor().verify(request(token)))
  const strict = verifierFor({ requireTokenType: true })
  assert.equal(refused(await strict.verify(request(token)), 401).error, 'invalid_token')
  accepted(await strict.verify(request(kit.issueToken())))
})

// --- AS quirks (checklist §1a, §15) -----------------------------------------------------------

test('P-02 {"active":"true"} is never accepted: 503, not active', async () => {
  const verifier = verifierFor({ cache: { negativeTtl: 60 } })
  const token = kit.issueToken()
  kit.setMode('active-string')
  unavailable(await verifier.verify(request(token)))
  kit.setMode('normal')
  accepted(await verifier.verify(request(token)))
})

test('P-02 "active":"false" with members, and "active":1, are AS failures (503)', async () => {
  const verifier = verifierFor()
  await warm(verifier)
  kit.respondWith({ active: 'false', sub: 'x', aud: AUDIENCE })
  unavailable(await verifier.verify(request(kit.issueToken())))
  kit.respondWith({ active: 1, aud: AUDIENCE })
  unavailable(await verifier.verify(request(kit.issueToken())))
  kit.respondWith({ aud: AUDIENCE })
  unavailable(await verifier.verify(request(kit.issueToken())))
})

test('P-01 scope as a JSON array is accepted by default, refused with compat.scopeArray false', async () => {
  const token = kit.issueToken({ extra: { scope: ['orders:read', 'orders:write'] } })
  const ok = accepted(await verifierFor().verify(request(token), { scopes: ['orders:write'] }))
  assert.deepEqual(ok.token.scopes, ['orders:read', 'orders:write'])
  unavailable(await verifierFor({ compat: { scopeArray: false } }).verify(request(token)))
})

test('P-01 a scope of the wrong type is an AS failure (503)', async () => {
  const token = kit.issueToken({ extra: { scope: 42 } })
  unavailable(await verifierFor().verify(request(token)))
})

test('P-03 aud as a string is accepted; a string is never split on spaces', async () => {
  const verifier = verifierFor()
  const ok = accepted(await verifier.verify(request(kit.issueToken({ aud: AUDIENCE }))))
  assert.deepEqual(ok.token.audience, [AUDIENCE])
  accepted(
    await verifier.verify(request(kit.issueToken({ aud: ['https://x.example.test', AUDIENCE] }))),
  )
  refused(
    await verifier.verify(request(kit.issueToken({ aud: `${AUDIENCE} https://x.example.test` }))),
    401,
  )
})

test('P-04 exp as a numeric string is refused unless compat.numericStrings', async () => {
  const exp = now() + 3600
  const token = kit.issueToken({ extra: { exp: String(exp) } })
  unavailable(await verifierFor().verify(request(token)))
  const ok = accepted(
    await verifierFor({ compat: { numericStrings: true } }).verify(request(token)),
  )
  assert.equal(ok.token.exp, exp)
})

test('P-04 exp in milliseconds is refused unless compat.millisecondTimes', async () => {
  const expMs = (now() + 3600) * 1000
  const token = kit.issueToken({ extra: { exp: expMs, iat: now() * 1000 } })
  unavailable(await verifierFor().verify(request(token)))
  const ok = accepted(
    await verifierFor({ compat: { millisecondTimes: true } }).verify(request(token)),
  )
  assert.equal(ok.token.exp, expMs / 1000)
})

test('P-04 nbf: 0 means no constraint', async () => {
  accepted(await verifierFor().verify(request(kit.issueToken({ extra: { nbf: 0 } }))))
})

test('P-05 null and empty members are treated as absent', async () => {
  const token = kit.issueToken({
    extra: { sub: null, jti: null, username: null, client_id: '', acr_values: null, exp: null },
  })
  const ok = accepted(await verifierFor().verify(request(token)))
  assert.equal(ok.token.sub, undefined)
  assert.equal(ok.token.jti, undefined)
  assert.equal(ok.token.username, undefined)
  assert.equal(ok.token.clientId, undefined)
  assert.equal(ok.token.exp, undefined)
  const needsSub: Policy = { allow: (t) => t.sub !== undefined }
  refused(await verifierFor().verify(request(kit.issueToken({ sub: '' })), needsSub), 403)
})

test('P-06 an HTML page (200 text/html) is an AS failure: 503', async () => {
  const verifier = verifierFor({ cache: { negativeTtl: 60 } })
  const token = kit.issueToken()
  kit.setMode('html')
  unavailable(await verifier.verify(request(token)))
  kit.setMode('garbage')
  unavailable(await verifier.verify(request(token)))
  kit.setMode('normal')
  accepted(await verifier.verify(request(token)))
})

test('P-08 active:true with exp in the past is 401; nbf in the future too', async () => {
  const verifier = verifierFor()
  const expired = kit.issueToken({ extra: { exp: now() - 3600 } })
  const failure = refused(await verifier.verify(request(expired)), 401)
  assert.equal(failure.error, 'invalid_token')
  refused(await verifier.verify(request(kit.issueToken({ extra: { nbf: now() + 3600 } }))), 401)
})

test('P-08 clock skew: exp 10 s ago passes with the default 30 s skew, not with skew 0', async () => {
  const token = kit.issueToken({ extra: { exp: now() - 10 } })
  accepted(await verifierFor().verify(request(token)))
  refused(await verifierFor({ clockSkew: 0 }).verify(request(token)), 401)
})

// --- RFC 6750 challenges (checklist B-05..B-12) ------------------------------------------------

test('B-12 no credentials: 401 with a Bearer challenge that has no error code', async () => {
  const verifier = verifierFor()
  for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }]) {
    const failure = refused(await verifier.verify(request(undefined, headers)), 401)
    assert.equal(failure.error, undefined)
    const challenge = challengeOf(failure.headers['WWW-Authenticate'])
    assert.equal(challenge.params.error, undefined)
    assert.equal(challenge.params.error_description, undefined)
    assert.equal(challenge.params.realm, AUDIENCE)
    assert.equal(
      challenge.params.resource_metadata,
      `${AUDIENCE}/.well-known/oauth-protected-resource`,
    )
  }
  assert.equal(kit.introspectionCount, 0)
})

test('B-05 B-06 every 401 and 403 carries a parseable Bearer challenge with at least one auth-param', async () => {
  const verifier = verifierFor()
  const failures = [
    refused(await verifier.verify(request('kt_unknown_for_challenges')), 401),
    refused(await verifier.verify(request(kit.issueToken()), { scopes: ['x'] }), 403),
    refused(await verifier.verify(request(undefined)), 401),
    refused(await verifier.verify(request(undefined, { authorization: 'Bearer a b' })), 400),
  ]
  for (const failure of failures) {
    assert.equal(failure.headers['WWW-Authenticate'], failure.challenge)
    const challenges = parseChallenges(failure.challenge ?? '')
    assert.equal(challenges.length, 1)
    assert.equal(challenges[0]?.scheme, 'Bearer')
    assert.ok(Object.keys(challenges[0]?.params ?? {}).length > 0)
  }
  const [invalid, scope, , malformed] = failures.map((f) => challengeOf(f.challenge).params)
  assert.equal(invalid?.error, 'invalid_token')
  assert.equal(typeof invalid?.error_description, 'string')
  assert.equal(scope?.error, 'insufficient_scope')
  assert.equal(scope?.scope, 'x')
  assert.equal(malformed?.error, 'invalid_request')
})

test('B-02 the scheme is case-insensitive and extra spaces are tolerated', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken()
  for (const authorization of [
    `bearer ${token}`,
    `BEARER ${token}`,
    `Bearer  ${token}`,
    ` Bearer ${token}`,
    `Bearer ${token} `,
    `Bearer ${token}\t`,
  ]) {
    accepted(await verifier.verify(request(undefined, { authorization })))
  }
  // A plain header record may spell the name either way; a repeated header is ambiguous (D-09).
  accepted(
    await verifier.verify({
      method: 'GET',
      url: '/',
      headers: { Authorization: `Bearer ${token}` },
    }),
  )
  accepted(
    await verifier.verify({
      method: 'GET',
      url: '/',
      headers: { authorization: [`Bearer ${token}`] },
    }),
  )
  const twice = await verifier.verify({
    method: 'GET',
    url: '/',
    headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] },
  })
  assert.equal(refused(twice, 400).error, 'invalid_request')
  for (const authorization of [
    `Bearer ${token}!`,
    `Bearer ${token} x`,
    'Bearer ',
    `Basic YTpi, Bearer ${token}`,
    `Bearer ${token}, Basic YTpi`,
  ]) {
    const result = await verifier.verify(request(undefined, { authorization }))
    assert.equal(refused(result, 400).error, 'invalid_request', authorization)
  }
  // B-12: another scheme, commas in its own parameters included, is no token of ours: 401, no code.
  for (const authorization of ['Digest username="a", realm="b", nonce="c"', 'Basic YTpi']) {
    const result = await verifier.verify(request(undefined, { authorization }))
    assert.equal(refused(result, 401).error, undefined, authorization)
  }
})

test('B-10 error_description, realm and scope never break the quoted-string', async () => {
  const nasty = 'say "hi" \\ back\r\nslash \u00fc\u2028 end'
  const header = buildChallenge({
    scheme: 'Bearer',
    realm: nasty,
    error: 'invalid_token',
    description: nasty,
    scope: ['a"b', 'c\\d'],
  })
  const { params } = challengeOf(header)
  for (const name of ['realm', 'error', 'error_description', 'scope']) {
    assert.match(params[name] ?? '', /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/, name)
  }
  assert.doesNotMatch(header, /[\r\n]/)

  const verifier = verifierFor({ realm: nasty })
  const failure = refused(
    await verifier.verify(request(kit.issueToken()), { scopes: ['we"ird\\scope'] }),
    403,
  )
  const challenge = challengeOf(failure.challenge)
  assert.match(challenge.params.realm ?? '', /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/)
  assert.match(challenge.params.scope ?? '', /^[\x21\x23-\x5B\x5D-\x7E]+$/)
})

// --- client authentication to the AS (checklist O-02, O-03, Q-07) -----------------------------

test('O-02 client_secret_basic is form-encoded: the RFC 6749 §16 vector authenticates', async () => {
  const id = '1PpG/Q 1'
  const secret = 'z/tZ9VwFZqApmIQ+ZH1I5pLk/uB4ud:X2/8bL+wfFTt1rFw='
  const vector = await startTestAuthorizationServer({
    audience: AUDIENCE,
    clients: [{ clientId: id, clientSecret: secret }],
  })
  try {
    const verifier = verifierFor({ credentials: { clientId: id, clientSecret: secret } }, vector)
    accepted(await verifier.verify(request(vector.issueToken())))
    assert.equal(vector.lastIntrospection?.authMethod, 'client_secret_basic')
    assert.equal(vector.lastIntrospection?.clientId, id)
  } finally {
    await vector.close()
  }
})

test('O-03 client_secret_post sends the credentials in the form', async () => {
  const verifier = verifierFor({
    credentials: { ...kit.credentials, method: 'client_secret_post' },
  })
  accepted(await verifier.verify(request(kit.issueToken())))
  assert.equal(kit.lastIntrospection?.authMethod, 'client_secret_post')
})

test('Q-07 private_key_jwt authenticates with a signed assertion (aud = issuer)', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const publicJwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), alg: 'ES256' }
  const privateJwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), alg: 'ES256' }
  const signed = await startTestAuthorizationServer({
    audience: AUDIENCE,
    clients: [{ clientId: 'orders-jwt', publicJwk }],
  })
  try {
    const verifier = verifierFor(
      { credentials: { clientId: 'orders-jwt', privateKey: privateJwk } },
      signed,
    )
    accepted(await verifier.verify(request(signed.issueToken())))
    accepted(await verifier.verify(request(signed.issueToken())))
    assert.equal(signed.introspectionCount, 2, 'a fresh assertion each call (jti single use)')
    assert.equal(signed.lastIntrospection?.authMethod, 'private_key_jwt')
  } finally {
    await signed.close()
  }
})

test('Q-05 Q-07 a private key that cannot sign is a 503 naming the key, never a rejected promise, and not cached', async () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  // a public key where the private one belongs: importable, but it cannot sign
  const notPrivate = { ...(publicKey.export({ format: 'jwk' }) as JWK), alg: 'ES256' }
  const events: VerifierEvent[] = []
  const verifier = verifierFor({
    credentials: { clientId: 'orders-jwt', privateKey: notPrivate },
    onEvent: (event) => events.push(event),
  })
  const token = kit.issueToken()
  for (let i = 0; i < 2; i++) {
    const failure = unavailable(await verifier.verify(request(token)))
    assert.equal(failure.description.includes('"d"'), false)
  }
  assert.equal(kit.introspectionCount, 0, 'nothing is sent without a signed assertion')
  const reasons = events.flatMap((e) => (e.type === 'as_error' ? [e.reason] : []))
  assert.equal(reasons.length, 2, 'asked again each time: an error is never cached')
  assert.match(reasons[0] ?? '', /privateKey cannot sign ES256/)
})

test('M-08 an introspectionEndpoint or jwksUri that is not an http(s) URL is refused when the verifier is made', () => {
  for (const [option, value] of [
    ['introspectionEndpoint', 'not a url'],
    ['introspectionEndpoint', 'ftp://as.example.test/introspect'],
    ['jwksUri', '/jwks'],
  ] as const) {
    assert.throws(
      () =>
        createTokenVerifier({
          issuer: kit.issuer,
          audience: AUDIENCE,
          credentials: kit.credentials,
          [option]: value,
        }),
      (err: Error) =>
        err.name === 'VerifierOptionsError' && err.message.includes(`options.${option}`),
    )
  }
})

// --- RFC 9701 signed answers (checklist J-19, P-14) ---------------------------------------------

/** An RFC 9701 answer as the kit would sign it, with one thing changed. */
function signedAnswer(
  change: {
    readonly payload?: Readonly<Record<string, unknown>>
    readonly header?: Readonly<Record<string, unknown>>
    readonly signer?: TestAuthorizationServer
  } = {},
): string {
  const payload = {
    iss: kit.issuer,
    aud: kit.credentials.clientId,
    iat: now(),
    token_introspection: { active: true, aud: AUDIENCE, token_type: 'Bearer', exp: now() + 3600 },
    ...change.payload,
  }
  return (change.signer ?? kit).sign(payload, {
    typ: 'token-introspection+jwt',
    kid: kit.jwks.keys[0]?.kid,
    ...change.header,
  })
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const JWT_TYPE = 'application/token-introspection+jwt'

test('J-03 introspectionResponse jwt asks with Accept and accepts the signed answer', async () => {
  const verifier = verifierFor({ introspectionResponse: 'jwt' })
  const ok = accepted(
    await verifier.verify(request(kit.issueToken({ scope: 'a' })), { scopes: ['a'] }),
  )
  assert.equal(ok.token.source, 'introspection')
  assert.equal(kit.lastIntrospection?.accept, JWT_TYPE)
  kit.respondWith(signedAnswer(), { contentType: JWT_TYPE })
  accepted(await verifier.verify(request(kit.issueToken())))
})

test('J-19 P-14 each mutation of the signed answer is refused (503), a JSON downgrade included', async () => {
  const stranger = await startTestAuthorizationServer({ audience: AUDIENCE })
  try {
    const verifier = verifierFor({ introspectionResponse: 'jwt' })
    accepted(await verifier.verify(request(kit.issueToken())))
    const noTyp = { typ: undefined }
    const mutations: [string, string, string?][] = [
      [
        'JSON instead of a JWT (downgrade)',
        JSON.stringify({ active: true, aud: AUDIENCE }),
        'application/json',
      ],
      ['the JWT as application/jwt', signedAnswer(), 'application/jwt'],
      ['the JWT as application/json', signedAnswer(), 'application/json'],
      ['typ JWT', signedAnswer({ header: { typ: 'JWT' } })],
      ['no typ', signedAnswer({ header: noTyp })],
      ['signed by another key', signedAnswer({ signer: stranger })],
      ['another iss', signedAnswer({ payload: { iss: stranger.issuer } })],
      ['aud of another client', signedAnswer({ payload: { aud: 'someone-else' } })],
      ['a stale iat', signedAnswer({ payload: { iat: now() - 600 } })],
      ['no iat', signedAnswer({ payload: { iat: undefined } })],
      ['no token_introspection', signedAnswer({ payload: { token_introspection: undefined } })],
      ['token_introspection a string', signedAnswer({ payload: { token_introspection: '{}' } })],
      [
        'active "true" inside',
        signedAnswer({ payload: { token_introspection: { active: 'true', aud: AUDIENCE } } }),
      ],
      [
        'members at the top level (old drafts)',
        signedAnswer({ payload: { token_introspection: undefined, active: true, aud: AUDIENCE } }),
      ],
      [
        'alg none',
        `${b64json({ alg: 'none', typ: 'token-introspection+jwt' })}.${b64json({
          iss: kit.issuer,
          aud: kit.credentials.clientId,
          iat: now(),
          token_introspection: { active: true, aud: AUDIENCE },
        })}.`,
      ],
      ['a JWE (five parts)', 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d'],
    ]
    for (const [name, body, contentType = JWT_TYPE] of mutations) {
      kit.respondWith(body, { contentType })
      const result = await verifier.verify(request(kit.issueToken()))
      assert.equal(result.ok, false, name)
      unavailable(result)
    }
    kit.respondWith(signedAnswer(), { contentType: JWT_TYPE })
    accepted(await verifier.verify(request(kit.issueToken())))
  } finally {
    await stranger.close()
  }
})

// --- purge, metrics, events, secrecy -----------------------------------------------------------

test('Q-04 purge(token) and purge({ tokenHash }) force the next verify to re-introspect', async () => {
  const verifier = verifierFor()
  const token = kit.issueToken()
  accepted(await verifier.verify(request(token)))
  accepted(await verifier.verify(request(token)))
  assert.equal(kit.introspectionCount, 1)
  await verifier.purge(token)
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'introspection')
  assert.equal(kit.introspectionCount, 2)
  await verifier.purge({ tokenHash: createHash('sha256').update(token).digest('base64url') })
  kit.revoke(token)
  refused(await verifier.verify(request(token)), 401)
  assert.equal(kit.introspectionCount, 3)
})

test('Q-04 purge of one token leaves the others cached', async () => {
  const verifier = verifierFor()
  const kept = kit.issueToken()
  const purged = kit.issueToken()
  accepted(await verifier.verify(request(kept)))
  accepted(await verifier.verify(request(purged)))
  await verifier.purge(purged)
  assert.equal(accepted(await verifier.verify(request(kept))).token.source, 'cache')
  assert.equal(kit.introspectionCount, 2)
})

test('Q-04 metrics: counters and the latency histogram move with what happened', async () => {
  const verifier = verifierFor({ http: { retries: 0 } })
  const token = kit.issueToken()
  accepted(await verifier.verify(request(token))) // miss, introspection, active
  accepted(await verifier.verify(request(token))) // hit, active
  refused(await verifier.verify(request('kt_unknown_for_metrics')), 401) // miss, inactive
  kit.setMode('error')
  unavailable(await verifier.verify(request(kit.issueToken()))) // miss, as_error
  const { counters, introspection_duration_seconds: latency } = verifier.metrics()
  assert.equal(counters.active, 2)
  assert.equal(counters.inactive, 1)
  assert.equal(counters.cache_hit, 1)
  assert.equal(counters.cache_miss, 3)
  assert.equal(counters.as_error, 1)
  assert.equal(counters.rejected['401 invalid_token'], 1)
  assert.equal(counters.rejected['503 temporarily_unavailable'], 1)
  assert.equal(latency.count, 3)
  assert.ok(latency.sum > 0)
  assert.equal(latency.buckets.at(-1)?.count, 3)
  assert.equal(latency.buckets.at(-1)?.le, Number.POSITIVE_INFINITY)
})

test('Q-04 events say where an inactive answer came from (introspection, then cache)', async () => {
  const events: VerifierEvent[] = []
  const verifier = verifierFor({ onEvent: (e) => events.push(e), cache: { negativeTtl: 60 } })
  refused(await verifier.verify(request('kt_never_issued_events')), 401)
  refused(await verifier.verify(request('kt_never_issued_events')), 401)
  const sources = events.flatMap((e) => (e.type === 'inactive' ? [e.source] : []))
  assert.deepEqual(sources, ['introspection', 'cache'])
})

test('Q-05 an onEvent hook that throws does not break verification', async () => {
  const verifier = verifierFor({
    onEvent: () => {
      throw new Error('broken hook')
    },
  })
  accepted(await verifier.verify(request(kit.issueToken())))
  refused(await verifier.verify(request('kt_never_issued_hook')), 401)
})

test('BCP-04 onEvent never receives the token; descriptions and challenges never carry it or the AS body', async () => {
  const events: VerifierEvent[] = []
  const verifier = verifierFor({ onEvent: (e) => events.push(e), cache: { negativeTtl: 0 } })
  const MARKER = 'MARKER-7c1e9f-AS-BODY'
  const token = kit.issueToken({ scope: 'a', extra: { note: MARKER } })
  const failures: VerifyFailure[] = []
  const collect = (result: VerifyResult) => {
    if (!result.ok) failures.push(result)
  }

  accepted(await verifier.verify(request(token), { scopes: ['a'] }))
  accepted(await verifier.verify(request(token), { scopes: ['a'] }))
  collect(await verifier.verify(request(token), { scopes: ['b'] }))
  collect(await verifier.verify(request(token), { audience: 'https://nobody.example.test' }))
  const answers: [unknown, Parameters<TestAuthorizationServer['respondWith']>[1]][] = [
    [{ active: true, aud: AUDIENCE, scope: 42, note: `${MARKER} ${token}` }, {}],
    [{ active: 'true', sub: `${MARKER} ${token}` }, {}],
    [{ active: true, aud: AUDIENCE, exp: `${MARKER} ${token}` }, {}],
    [`<html>${MARKER} ${token}</html>`, { contentType: 'text/html' }],
    [`${MARKER} ${token}`, { contentType: 'application/json' }],
    [{ error: 'invalid_client', error_description: `${MARKER} ${token}` }, { status: 401 }],
    [{ error: 'server_error', error_description: `${MARKER} ${token}` }, { status: 500 }],
    [`${MARKER} ${token}`, { status: 502, contentType: 'text/plain' }],
  ]
  for (const [body, init] of answers) {
    await verifier.purge(token)
    kit.respondWith(body, init)
    const result = await verifier.verify(request(token))
    unavailable(result)
    collect(result)
  }
  kit.respondWith(undefined)
  kit.revoke(token)
  await verifier.purge(token)
  collect(await verifier.verify(request(token)))

  assert.equal(failures.length, 11)
  for (const failure of failures) {
    const text = JSON.stringify(failure)
    assert.ok(!text.includes(token), `token leaked: ${text}`)
    assert.ok(!text.includes(MARKER), `AS body leaked: ${text}`)
  }
  assert.ok(events.length > 20)
  const types = new Set(events.map((e) => e.type))
  for (const type of ['active', 'inactive', 'cache', 'introspection', 'as_error', 'rejected']) {
    assert.ok(types.has(type as VerifierEvent['type']), type)
  }
  for (const event of events) {
    const text = JSON.stringify(event)
    assert.ok(!text.includes(token), `token in event: ${text}`)
    assert.ok(!text.includes(MARKER), `AS body in event: ${text}`)
  }
})
