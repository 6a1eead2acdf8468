/**
 * The resource-server library authenticating to the real `keyhole serve` with private_key_jwt
 * (RFC 7523, `credentials: { clientId, privateKey }`), over real HTTP on loopback. The resource is
 * registered with the public halves of its keys (`jwks`) and no secret.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
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
  startServer,
} from '../../../conformance/support/harness.ts'
import { accepted, refused, request } from './support/results.ts'

const INVENTORY = 'https://inventory.example.test'

function pair(type: 'ec' | 'ed25519'): { privateKey: KeyObject; publicKey: KeyObject } {
  return type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('ed25519')
}

const ec = pair('ec')
const ed = pair('ed25519')
const stranger = pair('ec')
/** The EC key as a private JWK, as an operator would paste it into the API's settings. */
const ecPrivateJwk = { ...ec.privateKey.export({ format: 'jwk' }), kid: 'inv-es', alg: 'ES256' }

let server: RunningServer
const verifiers: TokenVerifier[] = []
before(async () => {
  const fixture = fixtureConfig()
  server = await startServer(
    fixtureConfig({
      resources: [
        ...(fixture.resources as object[]),
        {
          id: 'inventory',
          audience: INVENTORY,
          jwks: {
            keys: [
              { ...ec.publicKey.export({ format: 'jwk' }), kid: 'inv-es', alg: 'ES256' },
              ed.publicKey.export({ format: 'jwk' }),
            ],
          },
          scopes: ['inventory:read'],
        },
      ],
      clients: [
        ...(fixture.clients as object[]),
        { id: 'stock-app', secret: 'stock-app-secret', scopes: ['inventory:read'] },
      ],
    }),
  )
})
after(async () => {
  await Promise.all(verifiers.map((v) => v.close()))
  await server.stop()
})

function inventoryVerifier(
  credentials: VerifierOptions['credentials'],
  overrides: Partial<VerifierOptions> = {},
): TokenVerifier {
  const verifier = createTokenVerifier({
    issuer: server.issuer,
    audience: INVENTORY,
    ...(credentials === undefined ? {} : { credentials }),
    dpop: false,
    ...overrides,
  })
  verifiers.push(verifier)
  return verifier
}

function inventoryToken(): Promise<string> {
  return getToken(server, ['stock-app', 'stock-app-secret'], { scope: 'inventory:read' })
}

test('P-04 a verifier with { clientId, privateKey } (a private JWK) introspects at keyhole serve and accepts the token', async () => {
  const verifier = inventoryVerifier({ clientId: 'inventory', privateKey: ecPrivateJwk })
  const ok = accepted(
    await verifier.verify(request(await inventoryToken()), { scopes: ['inventory:read'] }),
  )
  assert.equal(ok.token.source, 'introspection')
  assert.equal(ok.token.clientId, 'stock-app')
  assert.deepEqual(ok.token.audience, [INVENTORY])
  assert.deepEqual(ok.token.scopes, ['inventory:read'])
})

test('P-07 every introspection signs a fresh assertion: many in a row, none refused as a replay', async () => {
  const verifier = inventoryVerifier(
    { clientId: 'inventory', privateKey: ecPrivateJwk },
    { cache: { maxTtl: 0 } },
  )
  const token = await inventoryToken()
  for (let i = 0; i < 5; i++) {
    assert.equal(accepted(await verifier.verify(request(token))).token.source, 'introspection')
  }
  // Concurrent introspections too (distinct tokens, so nothing is shared in flight).
  const tokens = await Promise.all([inventoryToken(), inventoryToken(), inventoryToken()])
  const results = await Promise.all(tokens.map((t) => verifier.verify(request(t))))
  for (const result of results) accepted(result)
})

test('P-08 an Ed25519 KeyObject (EdDSA) works as well as a JWK', async () => {
  const verifier = inventoryVerifier({ clientId: 'inventory', privateKey: ed.privateKey })
  accepted(await verifier.verify(request(await inventoryToken())))
})

test('P-08 Q-05 a key the AS does not know is refused by the AS: 503 at the API, never invalid_token', async () => {
  const verifier = inventoryVerifier({
    clientId: 'inventory',
    privateKey: { ...stranger.privateKey.export({ format: 'jwk' }), kid: 'inv-es', alg: 'ES256' },
  })
  refused(await verifier.verify(request(await inventoryToken())), 503)
})

test('Q-02 a token for another resource is 401 at this one, with private_key_jwt as with a secret', async () => {
  const verifier = inventoryVerifier({ clientId: 'inventory', privateKey: ecPrivateJwk })
  const orders = await getToken(server, ['shop', 'shop-secret'], { scope: 'orders:read' })
  assert.equal(refused(await verifier.verify(request(orders)), 401).error, 'invalid_token')
})
