/**
 * End to end: DPoP-bound access tokens issued by the real `keyhole serve` (RFC 9449 §5), checked
 * by this library over real HTTP on loopback: by introspection (the AS answers `cnf.jkt` and
 * `token_type: DPoP`, §6.2, also inside RFC 9701 signed answers) and locally as RFC 9068 JWTs
 * (`cnf.jkt` in the token, §6.1). A token is accepted with a proof by its own key and refused as
 * Bearer (D-07) and with a proof by another key (D-03).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  createTokenVerifier,
  type TokenVerifier,
  type VerifierOptions,
} from '@keyhole/resource-server'
import {
  type DpopKey,
  dpopKey,
  dpopProof,
  dpopTokenRequest,
} from '../../../conformance/support/dpop.ts'
import {
  type Caller,
  fixtureConfig,
  type RunningServer,
  startServer,
} from '../../../conformance/support/harness.ts'
import { accepted, refused } from './support/results.ts'

const ORDERS = 'https://orders.example.test'
/** What the API's own URL is: the DPoP `htu` a client signs for `GET /orders`. */
const ORDERS_URL = `${ORDERS}/orders`
const SHOP: Caller = ['shop', 'shop-secret']
const SIGNER: Caller = ['signer', 'signer-secret']

let server: RunningServer
let key: DpopKey
let otherKey: DpopKey
const verifiers: TokenVerifier[] = []

before(async () => {
  const fixture = fixtureConfig()
  server = await startServer({
    ...fixture,
    clients: [
      ...(fixture.clients as Record<string, unknown>[]),
      { id: 'signer', secret: 'signer-secret', scopes: ['orders:read'], accessTokenFormat: 'jwt' },
    ],
  })
  ;[key, otherKey] = await Promise.all([dpopKey('ES256'), dpopKey('ES256')])
})
after(async () => {
  await Promise.all(verifiers.map((v) => v.close()))
  await server?.stop()
})

function ordersVerifier(overrides: Partial<VerifierOptions> = {}): TokenVerifier {
  const verifier = createTokenVerifier({
    issuer: server.issuer,
    audience: ORDERS,
    credentials: { clientId: 'orders', clientSecret: 'orders-secret' },
    ...overrides,
  })
  verifiers.push(verifier)
  return verifier
}

/** A DPoP-bound token from keyhole serve, bound to `key`. */
async function boundToken(client: Caller = SHOP): Promise<string> {
  const tokenUrl = `${server.issuer.replace(/\/$/, '')}/token`
  const res = await dpopTokenRequest(tokenUrl, {
    client,
    dpop: await dpopProof(key, tokenUrl),
    form: { scope: 'orders:read' },
  })
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json().token_type, 'DPoP')
  return res.json<{ access_token: string }>().access_token
}

/** `GET /orders` with the token under `scheme`, and a proof by `proofKey` (none when undefined). */
async function call(token: string, scheme: 'DPoP' | 'Bearer', proofKey: DpopKey | undefined) {
  const headers: Record<string, string> = { authorization: `${scheme} ${token}` }
  if (proofKey !== undefined) {
    headers.dpop = await dpopProof(proofKey, ORDERS_URL, { htm: 'GET', accessToken: token })
  }
  return { method: 'GET', url: '/orders', headers }
}

const strategies: [string, Partial<VerifierOptions>, Caller][] = [
  ['introspection (JSON)', { strategy: 'introspect' }, SHOP],
  ['introspection (RFC 9701 JWT)', { strategy: 'introspect', introspectionResponse: 'jwt' }, SHOP],
  ['local RFC 9068 JWT', { strategy: 'jwt' }, SIGNER],
]

for (const [name, options, client] of strategies) {
  describe(`a DPoP-bound token from keyhole serve, checked by ${name}`, () => {
    test('D-01 D-03 accepted with a proof by the key it is bound to', async () => {
      const token = await boundToken(client)
      const verifier = ordersVerifier(options)
      const ok = accepted(
        await verifier.verify(await call(token, 'DPoP', key), { scopes: ['orders:read'] }),
      )
      assert.equal(ok.token.tokenType, 'DPoP')
      assert.deepEqual(ok.token.cnf, { jkt: key.jkt })
      assert.equal(ok.token.clientId, client[0])
    })

    test('D-07 refused when sent as a Bearer token', async () => {
      const token = await boundToken(client)
      const failure = refused(
        await ordersVerifier(options).verify(await call(token, 'Bearer', undefined)),
        401,
      )
      assert.equal(failure.error, 'invalid_token')
    })

    test('D-03 refused with a proof by another key', async () => {
      const token = await boundToken(client)
      const failure = refused(
        await ordersVerifier(options).verify(await call(token, 'DPoP', otherKey)),
        401,
      )
      assert.equal(failure.error, 'invalid_token')
    })

    test('D-04 refused under the DPoP scheme without a proof', async () => {
      const token = await boundToken(client)
      refused(await ordersVerifier(options).verify(await call(token, 'DPoP', undefined)), 401)
    })
  })
}
