/**
 * RFC 9701 JWT introspection responses, black-box over real HTTP against `keyhole serve`: the
 * answer asked for with `Accept: application/token-introspection+jwt`, signed with the algorithm
 * the resource registered, verified here with jose against the server's published `jwks_uri`.
 *
 * Checklist items NOT tested here, and why:
 * - J-12 and the encryption members of J-13/J-14: encrypted answers are not offered (the metadata
 *   lists no encryption algorithms, and the config has no option to register one).
 * - J-09: Keyhole adds no extension members. J-15, J-16, J-19: rules for the resource server
 *   (tested in packages/resource-server). J-17 TLS: terminated in front of Keyhole (docs).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import {
  BILLING,
  base,
  fixtureConfig,
  get,
  getToken,
  type HttpResult,
  ORDERS,
  post,
  publishedKeySet,
  type RunningServer,
  revoke,
  SHOP,
  startServer,
} from './support/harness.ts'

const JWT_TYPE = 'application/token-introspection+jwt'
const ACCEPT_JWT = { accept: JWT_TYPE }

function config(): Record<string, unknown> {
  const fixture = fixtureConfig()
  const resources = fixture.resources as Record<string, unknown>[]
  // billing registers ES256; orders keeps RFC 9701 §6's default, RS256.
  return {
    ...fixture,
    resources: resources.map((r) =>
      r.id === 'billing' ? { ...r, introspectionSignedResponseAlg: 'ES256' } : r,
    ),
  }
}

describe('RFC 9701 JWT introspection responses', () => {
  let server: RunningServer
  let jwks: ReturnType<typeof createLocalJWKSet>

  before(async () => {
    server = await startServer(config())
    jwks = createLocalJWKSet(await publishedKeySet(server))
  })
  after(async () => {
    await server?.stop()
  })

  const introspectJwt = (token: string, caller = ORDERS, headers = ACCEPT_JWT) =>
    post(`${base(server)}/introspect`, { basic: caller, form: { token }, headers })

  /** Verify the answer as a resource server must (J-19), and return its claims. */
  async function verified(res: HttpResult, audience: string) {
    assert.equal(res.status, 200, res.text)
    const { payload, protectedHeader } = await jwtVerify(res.text, jwks, {
      issuer: server.issuer,
      audience,
      typ: 'token-introspection+jwt',
    })
    return { payload, protectedHeader }
  }

  test('J-03 without the Accept header the answer is plain JSON (RFC 7662)', async () => {
    const token = await getToken(server)
    const res = await post(`${base(server)}/introspect`, { basic: ORDERS, form: { token } })
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
    assert.equal(res.json().active, true)
  })

  test('J-03 J-05 with the Accept header the answer is a JWT of the RFC 9701 media type and typ', async () => {
    const token = await getToken(server)
    const res = await introspectJwt(token)
    assert.equal(res.headers.get('content-type'), JWT_TYPE)
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(decodeProtectedHeader(res.text).typ, 'token-introspection+jwt')
    await verified(res, 'orders')
  })

  test('J-03 an Accept list naming the JWT type among others, with a weight, still gets the JWT', async () => {
    const token = await getToken(server)
    const res = await introspectJwt(token, ORDERS, {
      accept: `application/json;q=0.5, ${JWT_TYPE};q=0.9`,
    })
    assert.equal(res.headers.get('content-type'), JWT_TYPE)
    const refused = await introspectJwt(token, ORDERS, {
      accept: `${JWT_TYPE};q=0, application/json`,
    })
    assert.match(refused.headers.get('content-type') ?? '', /^application\/json/, 'q=0 refuses it')
  })

  test('J-06 iss, aud (the calling resource), iat and token_introspection with the RFC 7662 members', async () => {
    const token = await getToken(server)
    const before = Math.floor(Date.now() / 1000)
    const { payload } = await verified(await introspectJwt(token), 'orders')
    assert.equal(payload.iss, server.issuer)
    assert.equal(payload.aud, 'orders')
    assert.ok(typeof payload.iat === 'number' && payload.iat >= before - 1)
    const members = payload.token_introspection as Record<string, unknown>
    assert.equal(members.active, true)
    assert.equal(members.client_id, 'shop')
    assert.equal(members.token_type, 'Bearer')
    assert.equal(members.iss, server.issuer)
    assert.deepEqual(members.aud, ['https://orders.example.test'])
  })

  test('J-11 the JWT carries no top-level sub or exp, so it cannot pass for an access token', async () => {
    const token = await getToken(server)
    const { payload } = await verified(await introspectJwt(token), 'orders')
    assert.equal(payload.sub, undefined)
    assert.equal(payload.exp, undefined)
  })

  test('J-07 an unknown, a revoked and a malformed token give token_introspection {"active":false} exactly', async () => {
    const revoked = await getToken(server)
    assert.equal((await revoke(server, revoked)).status, 200)
    for (const token of ['kh_at_unknown', revoked, 'x'.repeat(3000)]) {
      const { payload } = await verified(await introspectJwt(token), 'orders')
      assert.deepEqual(payload.token_introspection, { active: false })
    }
  })

  test('J-01 J-07 a token meant for orders, introspected by billing, is inactive in billing’s JWT', async () => {
    const token = await getToken(server, SHOP, { scope: 'orders:read' })
    const { payload } = await verified(await introspectJwt(token, BILLING), 'billing')
    assert.deepEqual(payload.token_introspection, { active: false })
  })

  test('J-08 J-10 a token for two resources: each sees only its own scopes and audience', async () => {
    const token = await getToken(server, SHOP, { scope: 'orders:read billing:read' })
    const orders = (await verified(await introspectJwt(token, ORDERS), 'orders')).payload
    const billing = (await verified(await introspectJwt(token, BILLING), 'billing')).payload
    const o = orders.token_introspection as Record<string, unknown>
    const b = billing.token_introspection as Record<string, unknown>
    assert.equal(o.scope, 'orders:read')
    assert.deepEqual(o.aud, ['https://orders.example.test'])
    assert.equal(b.scope, 'billing:read')
    assert.deepEqual(b.aud, ['https://billing.example.test'])
  })

  test('J-13 with no algorithm registered the answer is signed RS256; billing registered ES256 and gets it', async () => {
    const token = await getToken(server, SHOP, { scope: 'orders:read billing:read' })
    assert.equal(
      (await verified(await introspectJwt(token, ORDERS), 'orders')).protectedHeader.alg,
      'RS256',
    )
    assert.equal(
      (await verified(await introspectJwt(token, BILLING), 'billing')).protectedHeader.alg,
      'ES256',
    )
  })

  test('J-04 Q-01 the JWT asked for without any credentials is 400, and plain JSON mode 401', async () => {
    const token = await getToken(server)
    const jwtMode = await post(`${base(server)}/introspect`, {
      form: { token },
      headers: ACCEPT_JWT,
    })
    assert.equal(jwtMode.status, 400)
    assert.equal(jwtMode.json().error, 'invalid_client')
    const jsonMode = await post(`${base(server)}/introspect`, { form: { token } })
    assert.equal(jsonMode.status, 401)
  })

  test('J-04 wrong credentials with the JWT asked for are still 401 invalid_client, as JSON', async () => {
    const token = await getToken(server)
    const res = await introspectJwt(token, ['orders', 'wrong-secret'])
    assert.equal(res.status, 401)
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
    assert.equal(res.json().error, 'invalid_client')
  })

  test('J-14 M-03 the metadata lists the signing algorithms (never none) and a jwks_uri of public keys only', async () => {
    const metadata = (await get(`${server.url}/.well-known/oauth-authorization-server`)).json<
      Record<string, unknown>
    >()
    const algs = metadata.introspection_signing_alg_values_supported as string[]
    assert.ok(algs.includes('RS256') && algs.includes('ES256'))
    assert.ok(!algs.includes('none'))
    assert.equal(metadata.introspection_encryption_alg_values_supported, undefined)
    assert.equal(metadata.jwks_uri, `${base(server)}/jwks`)
    const set = (await get(metadata.jwks_uri as string)).json<{ keys: Record<string, unknown>[] }>()
    assert.ok(set.keys.length >= 2)
    for (const key of set.keys) {
      assert.equal(key.use, 'sig', 'M-03: every key says what it is for')
      assert.equal(typeof key.kid, 'string')
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(key[secret], undefined)
    }
  })

  test('J-02 a resource still cannot use its introspection credentials to get tokens', async () => {
    const res = await post(`${base(server)}/token`, {
      basic: ORDERS,
      form: { grant_type: 'client_credentials' },
      headers: ACCEPT_JWT,
    })
    assert.equal(res.status, 400)
    assert.equal(res.json().error, 'unauthorized_client')
  })
})
