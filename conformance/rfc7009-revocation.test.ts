/**
 * RFC 7009 (OAuth 2.0 Token Revocation), black box: the real `keyhole serve` over real HTTP.
 * Test names start with the checklist ids they cover (shared/spec/checklist.md §3, §14).
 *
 * Not tested here, and why:
 * - R-01 refresh-token part, R-06 (revoking an RT revokes the grant's ATs): this server issues no
 *   refresh tokens yet (client_credentials only, RFC 6749 §4.4.3). Access-token revocation (R-01
 *   SHOULD) is tested; an unknown well-formed kh_rt_ token is tested under R-07.
 * - R-02 HTTPS part: `keyhole serve` speaks plain HTTP on loopback, TLS is terminated in front of it,
 *   and the published `revocation_endpoint` is derived from the configured issuer. POST-only (405 for
 *   GET) and the published endpoint are tested.
 * - R-10 (503 handling): a client-library behaviour, not the server's.
 * - R-11 CORS (MAY): not offered. Only "no JSONP" is asserted.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { assertError, assertNoStore, assertNotEchoed } from './support/assertions.ts'
import {
  BILLING,
  type Caller,
  fixtureConfig,
  get,
  getToken,
  type HttpResult,
  introspect,
  ORDERS,
  OTHER,
  post,
  type RunningServer,
  revoke,
  SECRETS,
  SHOP,
  SHORT,
  startServer,
} from './support/harness.ts'
import { tamper, wellFormedToken } from './support/token-format.ts'

// --- assertions -----------------------------------------------------------------------------

/** RFC 7009 §2.2: 200; the body carries nothing (the client ignores it anyway). */
function assertRevokedAnswer(res: HttpResult): void {
  assert.equal(res.status, 200, res.text)
  assert.equal(res.text, '')
  assertNoStore(res)
}

async function assertStillActive(server: RunningServer, token: string): Promise<void> {
  const res = await introspect(server, token, ORDERS)
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json().active, true, 'the token is still active')
}

async function assertNowInactive(server: RunningServer, token: string): Promise<void> {
  for (const caller of [ORDERS, SHOP]) {
    const res = await introspect(server, token, caller)
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(res.json(), { active: false })
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

// --- the suite ------------------------------------------------------------------------------

let server: RunningServer
let noAccessTokens: RunningServer
let disabled: RunningServer

before(async () => {
  ;[server, noAccessTokens, disabled] = await Promise.all([
    startServer(),
    startServer(
      fixtureConfig({
        features: { revocation: { accessTokens: false } },
        throttle: { failedAuth: { limit: 3, windowSeconds: 3600 } },
      }),
    ),
    startServer(fixtureConfig({ features: { revocation: { enabled: false } } })),
  ])
})
after(async () => {
  await Promise.all([server?.stop(), noAccessTokens?.stop(), disabled?.stop()])
})

describe('RFC 7009 revocation', () => {
  const issued: string[] = []
  const issue = async (
    client: Caller = SHOP,
    form: Record<string, string | readonly string[]> = {},
  ): Promise<string> => {
    const token = await getToken(server, client, form)
    issued.push(token)
    return token
  }
  const endpoint = () => `${server.issuer}/revoke`

  let shortToken: string
  let shortIssuedAt: number
  before(async () => {
    // Minted first, so it has expired (ttl 1 s) by the time the expiry test runs.
    shortIssuedAt = Date.now()
    shortToken = await issue(SHORT)
  })

  describe('§2 the endpoint', () => {
    test('R-02 the endpoint is published in the metadata with its authentication methods', async () => {
      const res = await get(`${server.url}/.well-known/oauth-authorization-server`)
      assert.equal(res.status, 200)
      const metadata = res.json()
      assert.equal(metadata.revocation_endpoint, `${server.issuer}/revoke`)
      assert.ok(
        (metadata.revocation_endpoint_auth_methods_supported as string[]).includes(
          'client_secret_basic',
        ),
      )
    })

    test('R-02 GET is refused with 405 and Allow: POST, and nothing is revoked', async () => {
      const token = await issue()
      const res = await get(`${endpoint()}?token=${token}`, {
        authorization: `Basic ${Buffer.from('shop:shop-secret').toString('base64')}`,
      })
      assert.equal(res.status, 405)
      assert.equal(res.headers.get('allow'), 'POST')
      assertNoStore(res)
      assertNotEchoed(res, token, 'shop-secret')
      await assertStillActive(server, token)
    })

    test('R-02 R-03 a JSON body is 400 invalid_request and nothing is revoked', async () => {
      const token = await issue()
      const res = await post(endpoint(), {
        basic: SHOP,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      })
      assertError(res, 400, 'invalid_request')
      assertNotEchoed(res, token)
      await assertStillActive(server, token)
    })

    test('R-03 a missing or empty token is 400 invalid_request', async () => {
      assertError(await post(endpoint(), { basic: SHOP, form: {} }), 400, 'invalid_request')
      assertError(await post(endpoint(), { basic: SHOP, body: 'token=' }), 400, 'invalid_request')
    })

    test('R-03 a token in the query string is refused, not echoed, and not revoked', async () => {
      const token = await issue()
      const res = await post(`${endpoint()}?token=${token}`, { basic: SHOP, form: { token } })
      assertError(res, 400, 'invalid_request')
      assertNotEchoed(res, token)
      await assertStillActive(server, token)
    })
  })

  describe('§2.1 client authentication and ownership', () => {
    test('R-04 no credentials is 401 invalid_client and nothing is revoked', async () => {
      const token = await issue()
      const res = await post(endpoint(), { form: { token } })
      assertError(res, 401, 'invalid_client')
      assertNotEchoed(res, token)
      await assertStillActive(server, token)
    })

    test('R-04 a wrong secret is 401 invalid_client with WWW-Authenticate: Basic, secret not echoed, nothing revoked', async () => {
      const token = await issue()
      const probe = 'Wr0ng-Secret-Echo-Probe'
      const res = await revoke(server, token, ['shop', probe])
      assertError(res, 401, 'invalid_client')
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic( |$)/)
      assertNotEchoed(res, probe, token)
      await assertStillActive(server, token)
    })

    test('R-04 two authentication methods at once is 400 invalid_request and nothing is revoked', async () => {
      const token = await issue()
      const res = await post(endpoint(), {
        basic: SHOP,
        form: { token, client_id: 'shop', client_secret: 'shop-secret' },
      })
      assertError(res, 400, 'invalid_request')
      assertNotEchoed(res, token, 'shop-secret')
      await assertStillActive(server, token)
    })

    test('R-04 a resource’s credentials may not revoke: 400 unauthorized_client, token stays active', async () => {
      const token = await issue()
      for (const resource of [ORDERS, BILLING]) {
        const res = await revoke(server, token, resource)
        assertError(res, 400, 'unauthorized_client')
        assertNotEchoed(res, token)
      }
      await assertStillActive(server, token)
    })

    test('R-04 R-12 Q-03 revoking another client’s token answers 200 and leaves it active', async () => {
      const token = await issue(SHOP, { scope: 'orders:read' })
      assertRevokedAnswer(await revoke(server, token, OTHER))
      assertRevokedAnswer(await revoke(server, token, OTHER, { token_type_hint: 'access_token' }))
      await assertStillActive(server, token)
      const own = await introspect(server, token, SHOP)
      assert.equal(own.json().active, true, 'its own client still sees it active')
    })

    test('R-04 Q-03 the answer for another client’s token is the same as for an unknown token', async () => {
      const token = await issue()
      const foreign = await revoke(server, token, OTHER)
      const unknown = await revoke(server, wellFormedToken(), OTHER)
      assert.equal(foreign.status, unknown.status)
      assert.equal(foreign.text, unknown.text)
      await assertStillActive(server, token)
    })
  })

  describe('§2.1 §2.2 revoking', () => {
    test('R-01 R-05 a revoked access token is inactive at the very next introspection', async () => {
      const token = await issue()
      await assertStillActive(server, token)
      assertRevokedAnswer(await revoke(server, token, SHOP))
      await assertNowInactive(server, token)
    })

    test('R-01 R-04 a client authenticating with client_secret_post revokes its own token', async () => {
      const token = await issue()
      const res = await post(endpoint(), {
        form: { token, client_id: 'shop', client_secret: 'shop-secret' },
      })
      assertRevokedAnswer(res)
      await assertNowInactive(server, token)
    })

    test('R-03 an access token sent with token_type_hint=refresh_token is still revoked', async () => {
      const token = await issue()
      assertRevokedAnswer(await revoke(server, token, SHOP, { token_type_hint: 'refresh_token' }))
      await assertNowInactive(server, token)
    })

    test('R-03 token_type_hint=access_token revokes the access token', async () => {
      const token = await issue()
      assertRevokedAnswer(await revoke(server, token, SHOP, { token_type_hint: 'access_token' }))
      await assertNowInactive(server, token)
    })

    test('R-08 an unknown token_type_hint is ignored: 200 and the token is revoked', async () => {
      const token = await issue()
      assertRevokedAnswer(await revoke(server, token, SHOP, { token_type_hint: 'foo' }))
      await assertNowInactive(server, token)
    })

    test('R-05 revocation is exact: the client’s other tokens stay active', async () => {
      const [a, b] = [await issue(), await issue()]
      assertRevokedAnswer(await revoke(server, a, SHOP))
      await assertNowInactive(server, a)
      await assertStillActive(server, b)
    })

    test('R-07 revoking the same token twice answers 200 both times', async () => {
      const token = await issue()
      assertRevokedAnswer(await revoke(server, token, SHOP))
      assertRevokedAnswer(await revoke(server, token, SHOP))
      await assertNowInactive(server, token)
    })

    test('R-07 an unknown well-formed token answers 200, whatever its type and hint', async () => {
      for (const token of [wellFormedToken('kh_at_'), wellFormedToken('kh_rt_')]) {
        assertRevokedAnswer(await revoke(server, token, SHOP))
        assertRevokedAnswer(await revoke(server, token, SHOP, { token_type_hint: 'refresh_token' }))
      }
    })

    test('R-07 malformed and garbage tokens answer 200 and revoke nothing', async () => {
      const real = await issue()
      const garbage = [
        tamper(real),
        real.slice(0, -1),
        `${real}x`,
        'garbage',
        'x'.repeat(5000),
        '🔑 not a token',
      ]
      for (const token of garbage) assertRevokedAnswer(await revoke(server, token, SHOP))
      await assertStillActive(server, real)
    })

    test('R-07 an expired token answers 200', async () => {
      // one sleep for the whole suite: the short token was minted in before()
      await sleep(Math.max(0, shortIssuedAt + 2100 - Date.now()))
      assert.deepEqual((await introspect(server, shortToken, ORDERS)).json(), { active: false })
      assertRevokedAnswer(await revoke(server, shortToken, SHORT))
      assertRevokedAnswer(await revoke(server, shortToken, SHORT))
    })

    test('R-11 no JSONP: a callback parameter changes nothing and no script is returned', async () => {
      const token = await issue()
      const res = await revoke(server, token, SHOP, { callback: 'alert' })
      assertRevokedAnswer(res)
      assert.equal(res.headers.get('content-type')?.includes('javascript') ?? false, false)
      await assertNowInactive(server, token)
    })

    test('BCP-04 no raw token or secret appears in the server log', () => {
      const log = server.output()
      assert.ok(
        log.includes('"msg":"request"'),
        'request logging is on, so there is something to check',
      )
      for (const token of issued) assert.equal(log.includes(token), false, 'a token was logged')
      for (const secret of SECRETS) assert.equal(log.includes(secret), false, 'a secret was logged')
    })
  })
})

describe('RFC 7009 with features.revocation.accessTokens: false', () => {
  test('R-09 revoking an access token is 400 unsupported_token_type and the token stays active', async () => {
    const token = await getToken(noAccessTokens, SHOP)
    for (const form of [
      {},
      { token_type_hint: 'access_token' },
      { token_type_hint: 'refresh_token' },
    ]) {
      const res = await revoke(noAccessTokens, token, SHOP, form)
      assertError(res, 400, 'unsupported_token_type')
      assertNotEchoed(res, token)
    }
    await assertStillActive(noAccessTokens, token)
  })

  test('R-07 R-09 malformed tokens and unknown refresh tokens still answer 200', async () => {
    assertRevokedAnswer(await revoke(noAccessTokens, 'garbage', SHOP))
    assertRevokedAnswer(await revoke(noAccessTokens, wellFormedToken('kh_rt_'), SHOP))
  })

  test('R-12 failed client authentications are throttled: 429 with Retry-After, even for a right secret never seen to pass', async () => {
    // Runs last: it locks out 127.0.0.1 on this instance for credentials it has not seen pass.
    const token = await getToken(noAccessTokens, SHOP)
    const probe = 'Wr0ng-Secret-Throttle-Probe'
    for (let i = 0; i < 3; i++) {
      assertError(await revoke(noAccessTokens, token, ['shop', probe]), 401, 'invalid_client')
    }
    for (const caller of [['shop', probe] as const, OTHER]) {
      const res = await revoke(noAccessTokens, token, caller)
      assertError(res, 429, 'temporarily_unavailable')
      assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/)
      assertNotEchoed(res, probe, token, ...SECRETS)
    }
    // shop's own credentials passed here before: they are no guess, and get the endpoint's answer
    assertError(await revoke(noAccessTokens, token, SHOP), 400, 'unsupported_token_type')
  })
})

describe('RFC 7009 with features.revocation.enabled: false', () => {
  test('R-02 there is no revocation endpoint: POST /revoke is 404 and nothing is revoked', async () => {
    const token = await getToken(disabled, SHOP)
    const res = await revoke(disabled, token, SHOP)
    assert.equal(res.status, 404)
    assertNotEchoed(res, token)
    await assertStillActive(disabled, token)
  })

  test('R-02 M-07 the metadata does not publish a revocation endpoint', async () => {
    const res = await get(`${disabled.url}/.well-known/oauth-authorization-server`)
    assert.equal(res.status, 200)
    const metadata = res.json()
    assert.equal('revocation_endpoint' in metadata, false)
    assert.equal('revocation_endpoint_auth_methods_supported' in metadata, false)
    assert.equal(metadata.introspection_endpoint, `${disabled.issuer}/introspect`)
  })
})
