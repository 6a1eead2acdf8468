/**
 * The resource-server library against the real `keyhole serve` with its signing keys: RFC 9068
 * JWT access tokens checked locally through the published `jwks_uri`, revocation seen through
 * `jwt+introspect`, and RFC 9701 signed introspection answers, over real HTTP on loopback.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  createTokenVerifier,
  type TokenVerifier,
  type VerifierOptions,
} from '@keyhole/resource-server'
import {
  fixtureConfig,
  getToken,
  type RunningServer,
  revoke,
  startServer,
} from '../../../conformance/support/harness.ts'
import { accepted, refused, request } from './support/results.ts'

const ORDERS = 'https://orders.example.test'
const SHOP = ['shop', 'shop-secret'] as const
const OTHER = ['other', 'other-secret'] as const

let server: RunningServer
const verifiers: TokenVerifier[] = []
before(async () => {
  const fixture = fixtureConfig()
  server = await startServer({
    ...fixture,
    // orders asks for ES256 answers; shop gets JWT access tokens, other opaque ones.
    resources: (fixture.resources as Record<string, unknown>[]).map((r) =>
      r.id === 'orders' ? { ...r, introspectionSignedResponseAlg: 'ES256' } : r,
    ),
    clients: (fixture.clients as Record<string, unknown>[]).map((c) =>
      c.id === 'shop' ? { ...c, accessTokenFormat: 'jwt' } : c,
    ),
  })
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

test('A-08 a Keyhole JWT access token is accepted by local validation, with no introspection', async () => {
  const token = await getToken(server, SHOP, { scope: 'orders:read' })
  const verifier = ordersVerifier({ strategy: 'jwt' })
  const ok = accepted(await verifier.verify(request(token), { scopes: ['orders:read'] }))
  assert.equal(ok.token.source, 'jwt')
  assert.deepEqual(ok.token.scopes, ['orders:read'])
  assert.equal(ok.token.clientId, 'shop')
  assert.equal(ok.token.issuer, server.issuer)
})

test('A-08 A-11 a Keyhole JWT access token for billing only is refused by the orders API', async () => {
  const token = await getToken(server, SHOP, { scope: 'billing:read' })
  const failure = refused(await ordersVerifier({ strategy: 'jwt' }).verify(request(token)), 401)
  assert.equal(failure.error, 'invalid_token')
})

test('I-25 jwt+introspect: a revoked Keyhole JWT access token is refused although its signature is good', async () => {
  const token = await getToken(server, SHOP, { scope: 'orders:read' })
  const verifier = ordersVerifier({ strategy: 'jwt+introspect', cache: { maxTtl: 0 } })
  accepted(await verifier.verify(request(token)))
  assert.equal((await revoke(server, token, SHOP)).status, 200)
  accepted(await ordersVerifier({ strategy: 'jwt' }).verify(request(token)))
  const failure = refused(await verifier.verify(request(token)), 401)
  assert.equal(failure.error, 'invalid_token')
})

test('J-19 RFC 9701: the library asks Keyhole for signed answers and verifies them (ES256, as registered)', async () => {
  const verifier = ordersVerifier({ introspectionResponse: 'jwt' })
  for (const client of [SHOP, OTHER]) {
    const token = await getToken(server, client, { scope: 'orders:read' })
    const ok = accepted(await verifier.verify(request(token), { scopes: ['orders:read'] }))
    assert.equal(ok.token.source, 'introspection')
    assert.equal(ok.token.clientId, client[0])
  }
  const revoked = await getToken(server, OTHER, { scope: 'orders:read' })
  await revoke(server, revoked, OTHER)
  refused(await verifier.verify(request(revoked)), 401)
})
