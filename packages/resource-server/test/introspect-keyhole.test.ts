/**
 * The resource-server library against the real `keyhole serve` (the bin operators run), over
 * real HTTP on loopback: what the RS sees, revocation through the cache, and caller credentials.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  createTokenVerifier,
  type TokenVerifier,
  type VerifierEvent,
  type VerifierOptions,
} from '@keyhole/resource-server'
import {
  fixtureConfig,
  getToken,
  type RunningServer,
  revoke,
  startServer,
} from '../../../conformance/support/harness.ts'
import { accepted, refused, request, sleep } from './support/results.ts'

const ORDERS = 'https://orders.example.test'
const BILLING = 'https://billing.example.test'

let server: RunningServer
const verifiers: TokenVerifier[] = []
before(async () => {
  server = await startServer(fixtureConfig())
})
after(async () => {
  await Promise.all(verifiers.map((v) => v.close()))
  await server.stop()
})

function ordersVerifier(overrides: Partial<VerifierOptions> = {}): TokenVerifier {
  const verifier = createTokenVerifier({
    issuer: server.issuer,
    audience: ORDERS,
    credentials: { clientId: 'orders', clientSecret: 'orders-secret' },
    dpop: false,
    ...overrides,
  })
  verifiers.push(verifier)
  return verifier
}

test('I-09 an orders:read token is active at the orders API, with the facts the AS sent', async () => {
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  const ok = accepted(await ordersVerifier().verify(request(token), { scopes: ['orders:read'] }))
  assert.deepEqual(ok.token.scopes, ['orders:read'])
  assert.deepEqual(ok.token.audience, [ORDERS])
  assert.equal(ok.token.issuer, server.issuer)
  assert.equal(ok.token.clientId, 'shop')
  assert.equal(ok.token.tokenType, 'Bearer')
  assert.equal(ok.token.source, 'introspection')
  assert.ok((ok.token.exp ?? 0) > Date.now() / 1000)
})

test('O-12 a route needing orders:write refuses an orders:read token with 403 and scope', async () => {
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  const denied = refused(
    await ordersVerifier().verify(request(token), { scopes: ['orders:write'] }),
    403,
  )
  assert.equal(denied.error, 'insufficient_scope')
  assert.match(denied.challenge ?? '', /scope="orders:write"/)
})

test('I-12 least disclosure: each RS sees only its own scopes and audience', async () => {
  const token = await getToken(server, ['shop', 'shop-secret'], {
    scope: 'orders:read billing:read',
  })
  const orders = accepted(await ordersVerifier().verify(request(token)))
  assert.deepEqual(orders.token.scopes, ['orders:read'])
  assert.deepEqual(orders.token.audience, [ORDERS])
  assert.doesNotMatch(JSON.stringify(orders.token.claims), /billing/)
  assert.equal(orders.token.username, undefined)

  const billing = createTokenVerifier({
    issuer: server.issuer,
    audience: BILLING,
    credentials: { clientId: 'billing', clientSecret: 'billing-secret' },
    dpop: false,
  })
  verifiers.push(billing)
  const seen = accepted(await billing.verify(request(token), { scopes: ['billing:read'] }))
  assert.deepEqual(seen.token.scopes, ['billing:read'])
  assert.deepEqual(seen.token.audience, [BILLING])
  assert.doesNotMatch(JSON.stringify(seen.token.claims), /orders/)
})

test('Q-02 a token for another resource only is 401 at this one', async () => {
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'billing:read' })
  assert.equal(refused(await ordersVerifier().verify(request(token)), 401).error, 'invalid_token')
})

test('I-25 a revoked token is refused after purge', async () => {
  const verifier = ordersVerifier({ cache: { maxTtl: 60 } })
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  accepted(await verifier.verify(request(token)))
  assert.equal((await revoke(server, token)).status, 200)
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'cache')
  await verifier.purge(token)
  refused(await verifier.verify(request(token)), 401)
})

test('I-25 a revoked token is refused once the cache TTL has passed', async () => {
  const verifier = ordersVerifier({ cache: { maxTtl: 1 } })
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  accepted(await verifier.verify(request(token)))
  await revoke(server, token)
  await sleep(1100)
  refused(await verifier.verify(request(token)), 401)
})

test('I-25 with cache maxTtl 0 a revoked token is refused immediately', async () => {
  const verifier = ordersVerifier({ cache: { maxTtl: 0 } })
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  accepted(await verifier.verify(request(token)))
  accepted(await verifier.verify(request(token)))
  await revoke(server, token)
  refused(await verifier.verify(request(token)), 401)
})

/** A verifier subscribed to keyhole's revocation events, once its stream is `ready`. */
async function subscribedVerifier(
  audience = ORDERS,
  id = 'orders',
): Promise<{
  verifier: TokenVerifier
  events: VerifierEvent[]
}> {
  const events: VerifierEvent[] = []
  let connected: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    connected = resolve
  })
  const verifier = createTokenVerifier({
    issuer: server.issuer,
    audience,
    credentials: { clientId: id, clientSecret: `${id}-secret` },
    dpop: false,
    cache: { maxTtl: 60 },
    revocationEvents: true,
    onEvent(event) {
      events.push(event)
      if (event.type === 'revocation_stream' && event.state === 'connected') connected()
    },
  })
  verifiers.push(verifier)
  await ready
  return { verifier, events }
}

/** verify() until it refuses, or fail after `ms`: the push arrives asynchronously. */
async function refusedWithin(verifier: TokenVerifier, token: string, ms = 3_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const result = await verifier.verify(request(token))
    if (!result.ok) return result
    if (Date.now() > deadline) assert.fail(`still accepted ${ms} ms after the revocation`)
    await sleep(5)
  }
}

test('I-25 revocation events: a revoked token is refused at once from a 60 s cache, by keyhole serve’s push', async () => {
  const { verifier, events } = await subscribedVerifier()
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  const other = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  accepted(await verifier.verify(request(token)))
  accepted(await verifier.verify(request(other)))
  assert.equal(accepted(await verifier.verify(request(token))).token.source, 'cache')
  assert.equal((await revoke(server, token)).status, 200)
  const denied = await refusedWithin(verifier, token)
  assert.equal(denied.status, 401)
  assert.equal(denied.error, 'invalid_token')
  // Only the revoked token left the cache.
  assert.equal(accepted(await verifier.verify(request(other))).token.source, 'cache')
  // One event, naming one token.
  const pushed = events.flatMap((e) => (e.type === 'revocation_pushed' ? [e.tokens] : []))
  assert.deepEqual(pushed, [1])
  assert.equal(verifier.metrics().counters.revocation_pushed_tokens, 1)
})

test('I-12 revocation events: an API is told only of tokens meant for it', async () => {
  const billing = await subscribedVerifier(BILLING, 'billing')
  const orders = await subscribedVerifier()
  const forOrders = await getToken(server, ['shop', 'shop-secret'], {
    scope: 'orders:read',
    resource: ORDERS,
  })
  await revoke(server, forOrders)
  await refusedWithin(orders.verifier, forOrders)
  const forBilling = await getToken(server, ['shop', 'shop-secret'], {
    scope: 'billing:read',
    resource: BILLING,
  })
  accepted(await billing.verifier.verify(request(forBilling)))
  await revoke(server, forBilling)
  await refusedWithin(billing.verifier, forBilling)
  // Billing's first and only push was about its own token.
  assert.equal(billing.verifier.metrics().counters.revocation_pushed, 1)
})

test('I-24 a 1 s token is not served from a 60 s cache after it expires', async () => {
  const verifier = ordersVerifier({ cache: { maxTtl: 60 } })
  const token = await getToken(server, ['short', 'short-secret'], { scope: 'orders:read' })
  const exp = accepted(await verifier.verify(request(token))).token.exp ?? assert.fail('no exp')
  const wait = (exp + 1) * 1000 - Date.now() + 50
  if (wait > 0) await sleep(wait)
  refused(await verifier.verify(request(token)), 401)
})

test('O-02 O-03 client_secret_basic and client_secret_post both authenticate the RS', async () => {
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
    const verifier = ordersVerifier({
      credentials: { clientId: 'orders', clientSecret: 'orders-secret', method },
    })
    accepted(await verifier.verify(request(token)))
  }
})

test('Q-05 the wrong RS secret is 503 (the AS refused our credentials), for basic and post', async () => {
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
    const verifier = ordersVerifier({
      credentials: { clientId: 'orders', clientSecret: 'wrong-secret', method },
    })
    const failure = refused(await verifier.verify(request(token)), 503)
    assert.equal(failure.error, 'temporarily_unavailable')
    assert.match(failure.headers['Retry-After'] ?? '', /^\d+$/)
    assert.equal(failure.headers['WWW-Authenticate'], undefined)
  }
})

test('I-13 an unknown token of the right shape and garbage are both 401', async () => {
  const verifier = ordersVerifier()
  const token = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`
  refused(await verifier.verify(request(tampered)), 401)
  refused(await verifier.verify(request('garbage')), 401)
})
