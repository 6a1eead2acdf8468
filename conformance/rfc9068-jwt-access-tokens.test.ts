/**
 * RFC 9068 JWT access tokens issued by `keyhole serve` (a client with `accessTokenFormat: "jwt"`),
 * black-box over real HTTP: the header and claims, the signature against the published
 * `jwks_uri`, and introspection and revocation, which treat them exactly like opaque tokens.
 *
 * Checklist items NOT tested here, and why:
 * - A-05 auth_time/acr/amr: no user grants yet. A-08, A-09, A-12: rules for the resource server
 *   (packages/resource-server/test/jwt.test.ts, and jwt-keyhole.test.ts against this server).
 * - A-10's OpenID Connect half: no discovery document is published (rfc8414 suite, M-17).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  jwtVerify,
  SignJWT,
} from 'jose'
import {
  BILLING,
  base,
  fixtureConfig,
  getToken,
  introspect,
  ORDERS,
  post,
  publishedKeySet,
  type RunningServer,
  revoke,
  SHOP,
  startServer,
} from './support/harness.ts'

function config(): Record<string, unknown> {
  const fixture = fixtureConfig()
  const clients = fixture.clients as Record<string, unknown>[]
  return {
    ...fixture,
    clients: clients.map((c) => (c.id === 'shop' ? { ...c, accessTokenFormat: 'jwt' } : c)),
  }
}

describe('RFC 9068 JWT access tokens', () => {
  let server: RunningServer
  let jwks: ReturnType<typeof createLocalJWKSet>

  before(async () => {
    server = await startServer(config())
    jwks = createLocalJWKSet(await publishedKeySet(server))
  })
  after(async () => {
    await server?.stop()
  })

  test('A-01 A-02 the token is a JWT signed with an asymmetric algorithm, typ at+jwt, kid of a published key', async () => {
    const token = await getToken(server)
    const header = decodeProtectedHeader(token)
    assert.equal(header.typ, 'at+jwt')
    assert.ok(header.alg !== undefined && !['none', 'HS256', 'HS384', 'HS512'].includes(header.alg))
    const { protectedHeader } = await jwtVerify(token, jwks, { typ: 'at+jwt' })
    assert.equal(protectedHeader.kid, header.kid)
  })

  test('A-03 A-04 A-06 iss, exp, aud, sub (the client), client_id, iat, jti, and the granted scope', async () => {
    const res = await post(`${base(server)}/token`, {
      basic: SHOP,
      form: { grant_type: 'client_credentials', scope: 'orders:read' },
    })
    const body = res.json<{ access_token: string; expires_in: number; token_type: string }>()
    assert.equal(body.token_type, 'Bearer')
    const { payload } = await jwtVerify(body.access_token, jwks, {
      issuer: server.issuer,
      audience: 'https://orders.example.test',
      typ: 'at+jwt',
    })
    assert.equal(payload.sub, 'shop')
    assert.equal(payload.client_id, 'shop')
    assert.equal(payload.scope, 'orders:read')
    assert.equal(typeof payload.jti, 'string')
    assert.equal((payload.exp as number) - (payload.iat as number), body.expires_in)
  })

  test('A-07 A-11 with resource=X the aud is exactly X; tokens for two resources name both, distinctly', async () => {
    const one = decodeJwt(
      await getToken(server, SHOP, { resource: 'https://billing.example.test' }),
    )
    assert.equal(one.aud, 'https://billing.example.test')
    const two = decodeJwt(await getToken(server, SHOP, { scope: 'orders:read billing:read' }))
    assert.deepEqual([...(two.aud as string[])].sort(), [
      'https://billing.example.test',
      'https://orders.example.test',
    ])
  })

  test('I-03 I-12 a JWT access token introspects like an opaque one: active for its resource, narrowed', async () => {
    const token = await getToken(server, SHOP, { scope: 'orders:read billing:read' })
    const res = (await introspect(server, token, ORDERS)).json()
    assert.equal(res.active, true)
    assert.equal(res.scope, 'orders:read')
    assert.deepEqual(res.aud, ['https://orders.example.test'])
    assert.equal(res.jti, decodeJwt(token).jti)
    assert.equal((await introspect(server, token, BILLING)).json().scope, 'billing:read')
  })

  test('R-01 a revoked JWT access token is inactive at the very next introspection', async () => {
    const token = await getToken(server)
    assert.equal((await introspect(server, token)).json().active, true)
    assert.equal((await revoke(server, token)).status, 200)
    assert.deepEqual((await introspect(server, token)).json(), { active: false })
  })

  test('I-19 I-13 a tampered, a re-signed and a foreign JWT are all inactive', async () => {
    const token = await getToken(server)
    const [h, p, s] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'orders:write' })).toString(
      'base64url',
    )
    const tampered = `${h}.${widened}.${s}`
    // Signed by someone else, naming one of the server's key ids.
    const { privateKey } = await generateKeyPair('ES256')
    const header = decodeProtectedHeader(token)
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: header.kid as string, typ: 'at+jwt' })
      .sign(privateKey)
    const foreign = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'someone-else', typ: 'at+jwt' })
      .sign(privateKey)
    for (const candidate of [tampered, forged, foreign]) {
      assert.deepEqual((await introspect(server, candidate)).json(), { active: false })
    }
  })

  test('R-04 another client cannot revoke a JWT access token (200, and it stays active)', async () => {
    const token = await getToken(server)
    assert.equal((await revoke(server, token, ['other', 'other-secret'])).status, 200)
    assert.equal((await introspect(server, token)).json().active, true)
  })

  test('a client configured for opaque tokens still gets kh_at_ tokens', async () => {
    const token = await getToken(server, ['other', 'other-secret'])
    assert.match(token, /^kh_at_/)
  })
})
