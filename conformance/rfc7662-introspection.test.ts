/**
 * RFC 7662 (OAuth 2.0 Token Introspection), black box: the real `keyhole serve` over real HTTP.
 * Test names start with the checklist ids they cover (shared/spec/checklist.md §1, §14).
 *
 * Not tested here, and why:
 * - I-01, I-22 (TLS): `keyhole serve` speaks plain HTTP on loopback; TLS is terminated in front of
 *   it by the deployment. There is no TLS listener to scan.
 * - I-15, I-24, I-25 (caching at the resource server): resource-server library behaviour, tested
 *   in packages/resource-server against a stub AS, not at the authorization server.
 * - I-17 (bearer-token authorization of the caller): Keyhole authenticates introspection callers
 *   with client credentials only, so there is no bearer to expire. That a Bearer header is refused
 *   and yields no introspection body is tested under I-08.
 * - I-19 not-before and signature checks: every token is minted with nbf = iat (no future nbf can
 *   be produced over HTTP) and tokens are opaque (no signature to tamper with). Expiry, revocation,
 *   audience and the checksum of tampered tokens are tested.
 * - I-21 (reusing client credentials as a resource): a principal is either a resource or a client,
 *   so separate credentials are always required; nothing to configure or observe here.
 * - I-27: registry contents, nothing to test (the allowed member set is asserted under I-10/I-11).
 * - I-08 "response time must not reveal whether the token exists": not asserted with timings (flaky
 *   by nature); the no-credentials answer is checked to be byte-identical for existing and unknown tokens.
 * - RFC 9701 (JWT responses, J-xx): not implemented by this server yet.
 * - Refresh tokens: this server issues none yet (client_credentials only, RFC 6749 §4.4.3), so
 *   "a refresh token is active only to its own client" cannot be exercised; unknown
 *   well-formed kh_rt_ tokens and refresh-hinted lookups are tested.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  assertJson,
  assertNoStore,
  assertNotEchoed,
  assertError as assertOAuthError,
} from './support/assertions.ts'
import {
  BILLING,
  BILLING_AUD,
  type Caller,
  fixtureConfig,
  get,
  getToken,
  type HttpResult,
  introspect,
  ORDERS,
  ORDERS_AUD,
  OTHER,
  post,
  type RunningServer,
  revoke,
  SECRETS,
  SHOP,
  SHORT,
  startServer,
} from './support/harness.ts'
import { checksum, tamper, wellFormedToken } from './support/token-format.ts'

/** Every member RFC 7662 §3.1.2 registers; an active answer must not carry anything else here. */
const ACTIVE_MEMBERS = [
  'active',
  'aud',
  'client_id',
  'exp',
  'iat',
  'iss',
  'jti',
  'nbf',
  'scope',
  'sub',
  'token_type',
]

// --- assertions -----------------------------------------------------------------------------

function assertInactive(res: HttpResult): void {
  assert.equal(res.status, 200, res.text)
  assertJson(res)
  assertNoStore(res)
  assert.deepEqual(res.json(), { active: false })
}

/** An error never carries an introspection member. */
function assertError(res: HttpResult, status: number, error: string): Record<string, unknown> {
  const body = assertOAuthError(res, status, error)
  assert.equal('active' in body, false, 'an error never carries an introspection member')
  return body
}

/** RFC 7662 §2.2 + checklist table 1a: member set and JSON types of an active answer. */
function assertActive(res: HttpResult): Record<string, unknown> {
  assert.equal(res.status, 200, res.text)
  assertJson(res)
  assertNoStore(res)
  const body = res.json()
  assert.equal(body.active, true)
  assert.deepEqual(Object.keys(body).sort(), ACTIVE_MEMBERS)
  assert.equal(typeof body.scope, 'string')
  assert.match(body.scope as string, /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/)
  assert.equal(typeof body.client_id, 'string')
  assert.equal(body.token_type, 'Bearer')
  for (const name of ['exp', 'iat', 'nbf']) {
    assert.ok(Number.isInteger(body[name]), `${name} is an integer`)
    // seconds, not milliseconds (checklist P-04)
    assert.ok((body[name] as number) < 1e11, `${name} is in seconds`)
  }
  const now = Math.floor(Date.now() / 1000)
  assert.ok((body.iat as number) <= now + 1, 'iat is not in the future')
  assert.ok((body.nbf as number) <= now + 1, 'nbf has passed')
  assert.ok((body.exp as number) > (body.iat as number), 'exp is after iat')
  assert.equal(typeof body.sub, 'string')
  assert.notEqual(body.sub, '')
  assert.ok(Array.isArray(body.aud), 'aud is an array')
  for (const aud of body.aud as unknown[]) assert.equal(typeof aud, 'string')
  assert.equal(typeof body.iss, 'string')
  assert.equal(typeof body.jti, 'string')
  assert.notEqual(body.jti, '')
  return body
}

function scopes(body: Record<string, unknown>): string[] {
  return (body.scope as string).split(' ').sort()
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

// --- the suite ------------------------------------------------------------------------------

let server: RunningServer
let throttled: RunningServer

before(async () => {
  ;[server, throttled] = await Promise.all([
    startServer(),
    startServer(
      fixtureConfig({
        throttle: {
          inactiveIntrospection: { limit: 5, windowSeconds: 3600 },
          failedAuth: { limit: 3, windowSeconds: 3600 },
        },
      }),
    ),
  ])
})
after(async () => {
  await Promise.all([server?.stop(), throttled?.stop()])
})

describe('RFC 7662 introspection', () => {
  /** Every token issued by this suite, to check none of them ever reaches the logs. */
  const issued: string[] = []
  const issue = async (
    client: Caller = SHOP,
    form: Record<string, string | readonly string[]> = {},
  ): Promise<string> => {
    const token = await getToken(server, client, form)
    issued.push(token)
    return token
  }
  const endpoint = () => `${server.issuer}/introspect`

  let shortToken: string
  let shortIssuedAt: number
  before(async () => {
    // Minted first, so it has expired (ttl 1 s) by the time the expiry test runs.
    shortIssuedAt = Date.now()
    shortToken = await issue(SHORT)
  })

  describe('§2.1 the request', () => {
    test('I-02 I-23 GET is refused with 405 and Allow: POST, and the token is not echoed', async () => {
      const token = await issue()
      const res = await get(`${endpoint()}?token=${token}`, {
        authorization: `Basic ${Buffer.from('orders:orders-secret').toString('base64')}`,
      })
      assert.equal(res.status, 405)
      assert.equal(res.headers.get('allow'), 'POST')
      assertNoStore(res)
      assertJson(res)
      assert.equal('active' in res.json(), false)
      assertNotEchoed(res, token, 'orders-secret')
    })

    test('I-02 a JSON body is 400 invalid_request', async () => {
      const token = await issue()
      const res = await post(endpoint(), {
        basic: ORDERS,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      })
      assertError(res, 400, 'invalid_request')
      assertNotEchoed(res, token)
    })

    test('I-02 a body that is not application/x-www-form-urlencoded is 400 invalid_request', async () => {
      const token = await issue()
      for (const contentType of [
        'text/plain',
        'multipart/form-data; boundary=x',
        'application/xml',
      ]) {
        const res = await post(endpoint(), {
          basic: ORDERS,
          headers: { 'content-type': contentType },
          body: `token=${token}`,
        })
        assertError(res, 400, 'invalid_request')
        assertNotEchoed(res, token)
      }
    })

    test('I-02 a body without Content-Type is 400 invalid_request', async () => {
      const token = await issue()
      const response = await fetch(endpoint(), {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from('orders:orders-secret').toString('base64')}`,
        },
        body: new TextEncoder().encode(`token=${token}`),
      })
      assert.equal(response.headers.get('content-type')?.startsWith('application/json'), true)
      const text = await response.text()
      assert.equal(response.status, 400)
      assert.equal((JSON.parse(text) as { error: string }).error, 'invalid_request')
      assert.equal(text.includes(token), false)
    })

    test('I-02 a form body in a charset other than UTF-8 is 400 invalid_request; charset=utf-8 is fine', async () => {
      const token = await issue()
      const latin1 = await post(endpoint(), {
        basic: ORDERS,
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' },
        body: `token=${token}`,
      })
      assertError(latin1, 400, 'invalid_request')
      const utf8 = await post(endpoint(), {
        basic: ORDERS,
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
        body: `token=${token}`,
      })
      assertActive(utf8)
    })

    test('I-02 I-23 a token in the query string of a POST is refused and not echoed', async () => {
      const token = await issue()
      const res = await post(`${endpoint()}?token=${token}`, { basic: ORDERS, form: { token } })
      assertError(res, 400, 'invalid_request')
      assertNotEchoed(res, token)
    })

    test('I-03 a missing token is 400 invalid_request', async () => {
      const res = await post(endpoint(), { basic: ORDERS, form: {} })
      assertError(res, 400, 'invalid_request')
    })

    test('I-03 an empty token (token=) is treated as missing: 400 invalid_request', async () => {
      const res = await post(endpoint(), { basic: ORDERS, body: 'token=' })
      assertError(res, 400, 'invalid_request')
    })

    test('I-03 a repeated token parameter is 400 invalid_request (RFC 6749 §3.2)', async () => {
      const [a, b] = [await issue(), await issue()]
      const res = await post(endpoint(), { basic: ORDERS, form: { token: [a, b] } })
      assertError(res, 400, 'invalid_request')
      assertNotEchoed(res, a, b)
    })

    test('I-04 an unknown token_type_hint gives the normal answer, not an error', async () => {
      const token = await issue()
      const plain = assertActive(await introspect(server, token, ORDERS))
      const hinted = assertActive(
        await introspect(server, token, ORDERS, { token_type_hint: 'foo' }),
      )
      assert.deepEqual(hinted, plain)
      assertInactive(
        await introspect(server, wellFormedToken(), ORDERS, { token_type_hint: 'foo' }),
      )
    })

    test('I-04 I-05 an access token sent with token_type_hint=refresh_token is still found and active', async () => {
      const token = await issue()
      const plain = assertActive(await introspect(server, token, ORDERS))
      for (const hint of ['refresh_token', 'access_token']) {
        const hinted = assertActive(
          await introspect(server, token, ORDERS, { token_type_hint: hint }),
        )
        assert.deepEqual(hinted, plain)
      }
    })

    test('I-05 I-13 I-14 refresh-hinted lookups of tokens that do not exist are exactly {"active":false}', async () => {
      for (const token of [wellFormedToken('kh_rt_'), wellFormedToken('kh_at_')]) {
        for (const caller of [ORDERS, SHOP]) {
          assertInactive(
            await introspect(server, token, caller, { token_type_hint: 'refresh_token' }),
          )
        }
      }
    })

    test('I-06 an extra context parameter is ignored', async () => {
      const token = await issue()
      const res = await introspect(server, token, ORDERS, { foo: 'bar', client_ip: '192.0.2.7' })
      assertActive(res)
    })
  })

  describe('§2.1 I-08 I-16 I-20 Q-01 caller authentication', () => {
    test('I-08 Q-01 no credentials is 401 invalid_client and never an introspection body', async () => {
      const token = await issue()
      const res = await post(endpoint(), { form: { token } })
      assertError(res, 401, 'invalid_client')
      assertNotEchoed(res, token)
    })

    test('I-08 the no-credentials answer is the same for an existing and an unknown token', async () => {
      const existing = await post(endpoint(), { form: { token: await issue() } })
      const unknown = await post(endpoint(), { form: { token: wellFormedToken() } })
      const garbage = await post(endpoint(), { form: { token: 'garbage' } })
      for (const res of [unknown, garbage]) {
        assert.equal(res.status, existing.status)
        assert.equal(res.text, existing.text)
        assert.equal(res.headers.get('www-authenticate'), existing.headers.get('www-authenticate'))
      }
    })

    test('I-08 I-17 a Bearer Authorization header does not authenticate a caller: 401 invalid_client', async () => {
      const token = await issue()
      const res = await post(endpoint(), {
        headers: { authorization: `Bearer ${token}` },
        form: { token },
      })
      assertError(res, 401, 'invalid_client')
      assertNotEchoed(res, token)
    })

    test('I-16 Q-01 a wrong secret over Basic is 401 invalid_client with WWW-Authenticate: Basic, secret not echoed', async () => {
      const token = await issue()
      const probe = 'Wr0ng-Secret-Echo-Probe'
      const res = await introspect(server, token, ['orders', probe])
      assertError(res, 401, 'invalid_client')
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic( |$)/)
      assertNotEchoed(res, probe, token, 'orders-secret')
    })

    test('I-16 Q-01 an unknown client id over Basic is 401 invalid_client with WWW-Authenticate: Basic', async () => {
      const token = await issue()
      const res = await introspect(server, token, ['nobody', 'nobody-secret'])
      assertError(res, 401, 'invalid_client')
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic( |$)/)
      assertNotEchoed(res, 'nobody-secret', token)
    })

    test('I-16 Q-01 a wrong client_secret_post secret is 401 invalid_client, secret not echoed', async () => {
      const token = await issue()
      const probe = 'Wr0ng-Post-Secret-Probe'
      const res = await post(endpoint(), {
        form: { token, client_id: 'orders', client_secret: probe },
      })
      assertError(res, 401, 'invalid_client')
      assertNotEchoed(res, probe, token)
    })

    test('I-08 a resource authenticates with client_secret_post as well as with Basic', async () => {
      const token = await issue()
      const viaPost = assertActive(
        await post(endpoint(), {
          form: { token, client_id: 'orders', client_secret: 'orders-secret' },
        }),
      )
      assert.deepEqual(viaPost, assertActive(await introspect(server, token, ORDERS)))
    })

    test('I-08 two authentication methods at once is 400 invalid_request (RFC 6749 §2.3)', async () => {
      const token = await issue()
      const res = await post(endpoint(), {
        basic: ORDERS,
        form: { token, client_id: 'orders', client_secret: 'orders-secret' },
      })
      assertError(res, 400, 'invalid_request')
      assertNotEchoed(res, token, 'orders-secret')
    })

    test('I-20 Q-01 a client that is not a resource learns nothing about another client’s token', async () => {
      const token = await issue(SHOP)
      assertInactive(await introspect(server, token, OTHER))
      // ... while the token's resource still sees it
      assertActive(await introspect(server, token, ORDERS))
    })
  })

  describe('§2.2 the answer', () => {
    test('I-09 I-10 I-11 an active answer is application/json with only registered members of the right types', async () => {
      const token = await issue()
      const body = assertActive(await introspect(server, token, ORDERS))
      assert.equal(body.client_id, 'shop')
      assert.equal(body.sub, 'shop')
      assert.equal(body.iss, server.issuer)
      assert.equal((body.exp as number) - (body.iat as number), 300, 'shop has accessTokenTtl 300')
    })

    test('I-07 I-13 I-14 I-18 a well-formed token the server never issued is exactly {"active":false}', async () => {
      // The helper really builds well-formed tokens: it reproduces the checksum of a real one.
      const real = await issue()
      assert.equal(checksum(real.slice(0, 49)), real.slice(49))
      for (const caller of [ORDERS, BILLING, SHOP]) {
        assertInactive(await introspect(server, wellFormedToken(), caller))
      }
    })

    test('I-13 I-14 I-18 malformed and garbage tokens are exactly {"active":false}, never 4xx or 5xx', async () => {
      const real = await issue()
      const garbage = [
        tamper(real),
        real.slice(0, -1),
        `${real}x`,
        real.toUpperCase(),
        'kh_at_',
        'garbage',
        'x'.repeat(5000),
        '🔑 not a token',
        "'; DROP TABLE tokens; --",
      ]
      for (const token of garbage) {
        assertInactive(await introspect(server, token, ORDERS))
        assertInactive(await introspect(server, token, SHOP))
      }
      // the real token is untouched by all that
      assertActive(await introspect(server, real, ORDERS))
    })

    test('I-13 I-14 I-19 an expired token is exactly {"active":false}', async () => {
      // one sleep for the whole suite: the short token was minted in before()
      await sleep(Math.max(0, shortIssuedAt + 2100 - Date.now()))
      for (const caller of [ORDERS, SHORT])
        assertInactive(await introspect(server, shortToken, caller))
    })

    test('I-13 I-14 I-19 a revoked token is exactly {"active":false}, to its resource and to its client', async () => {
      const token = await issue()
      assertActive(await introspect(server, token, ORDERS))
      const revoked = await revoke(server, token, SHOP)
      assert.equal(revoked.status, 200)
      assertInactive(await introspect(server, token, ORDERS))
      assertInactive(await introspect(server, token, SHOP))
    })

    test('I-13 I-14 I-19 Q-02 a token for another audience is exactly {"active":false} (billing introspects an orders-only token)', async () => {
      const byScope = await issue(SHOP, { scope: 'orders:read' })
      const byResource = await issue(SHOP, { resource: ORDERS_AUD })
      for (const token of [byScope, byResource]) {
        assertInactive(await introspect(server, token, BILLING))
        assert.deepEqual(assertActive(await introspect(server, token, ORDERS)).aud, [ORDERS_AUD])
      }
    })

    test('I-12 I-26 least disclosure: each resource sees only its own scopes and its own audience', async () => {
      const token = await issue(SHOP, { scope: 'orders:read billing:read' })
      const orders = assertActive(await introspect(server, token, ORDERS))
      const billing = assertActive(await introspect(server, token, BILLING))
      assert.equal(orders.scope, 'orders:read')
      assert.deepEqual(orders.aud, [ORDERS_AUD])
      assert.equal(billing.scope, 'billing:read')
      assert.deepEqual(billing.aud, [BILLING_AUD])
      // the same token underneath
      for (const name of ['client_id', 'sub', 'exp', 'iat', 'nbf', 'iss', 'jti', 'token_type']) {
        assert.equal(orders[name], billing[name], name)
      }
    })

    test('I-12 a resource sees all of its own scopes and none of the others', async () => {
      const token = await issue(SHOP) // every scope shop may have
      const orders = assertActive(await introspect(server, token, ORDERS))
      const billing = assertActive(await introspect(server, token, BILLING))
      assert.deepEqual(scopes(orders), ['orders:read', 'orders:write'])
      assert.deepEqual(scopes(billing), ['billing:read'])
      assert.deepEqual(orders.aud, [ORDERS_AUD])
      assert.deepEqual(billing.aud, [BILLING_AUD])
    })

    test('I-12 I-20 a client introspecting its own token gets the full view', async () => {
      const token = await issue(SHOP, { scope: 'orders:read billing:read' })
      const own = assertActive(await introspect(server, token, SHOP))
      assert.deepEqual(scopes(own), ['billing:read', 'orders:read'])
      assert.deepEqual([...(own.aud as string[])].sort(), [BILLING_AUD, ORDERS_AUD])
      assert.equal(own.client_id, 'shop')
      assert.equal(own.iss, server.issuer)
    })

    test('I-13 I-20 a client introspecting another client’s token gets exactly {"active":false}', async () => {
      const shops = await issue(SHOP, { scope: 'orders:read' })
      const others = await issue(OTHER)
      assertInactive(await introspect(server, shops, OTHER))
      assertInactive(await introspect(server, others, SHOP))
      // each still sees its own
      assertActive(await introspect(server, shops, SHOP))
      assertActive(await introspect(server, others, OTHER))
    })

    test('Q-11 every answer carries Cache-Control: no-store and Pragma: no-cache', async () => {
      const token = await issue()
      const answers = [
        await introspect(server, token, ORDERS), // active
        await introspect(server, wellFormedToken(), ORDERS), // inactive
        await post(endpoint(), { basic: ORDERS, form: {} }), // 400
        await post(endpoint(), { form: { token } }), // 401
      ]
      for (const res of answers) assertNoStore(res)
    })
  })

  test('I-26 BCP-04 no raw token or secret appears in the server log', () => {
    const log = server.output()
    assert.ok(
      log.includes('"msg":"request"'),
      'request logging is on, so there is something to check',
    )
    for (const token of issued) assert.equal(log.includes(token), false, 'a token was logged')
    for (const secret of SECRETS) assert.equal(log.includes(secret), false, 'a secret was logged')
  })
})

describe('RFC 7662 §4 I-08 token-scanning throttle (limit 5 inactive answers, 3 failed authentications)', () => {
  const introspectAt = (token: string, caller: Caller) => introspect(throttled, token, caller)

  function assertThrottled(res: HttpResult, ...notEchoed: string[]): void {
    const body = assertError(res, 429, 'temporarily_unavailable')
    assert.deepEqual(
      Object.keys(body).filter((k) => k !== 'error' && k !== 'error_description'),
      [],
    )
    const retryAfter = res.headers.get('retry-after') ?? ''
    assert.match(retryAfter, /^[1-9][0-9]*$/, 'Retry-After is a whole number of seconds')
    assert.ok(Number(retryAfter) <= 3600, 'Retry-After is within the window')
    assertNotEchoed(res, ...notEchoed)
  }

  /** A token issued to `client` and revoked: inactive, and meant for its audience. */
  async function revokedToken(client: Caller, scope?: string): Promise<string> {
    const token = await getToken(throttled, client, scope === undefined ? {} : { scope })
    assert.equal((await revoke(throttled, token, client)).status, 200)
    return token
  }

  test("I-08 I-18 tokens nobody issued, malformed ones and other callers' tokens are not counted: a flood of them throttles no one", async () => {
    const own = await getToken(throttled, OTHER)
    const shops = await getToken(throttled, SHOP, { scope: 'orders:read' })
    const billingOnly = await getToken(throttled, SHOP, { scope: 'billing:read' })
    for (let i = 0; i < 20; i++) {
      // what an API passes on from anonymous callers: garbage, and forged checksums
      assertInactive(await introspectAt(tamper(wellFormedToken()), OTHER))
      assertInactive(await introspectAt(wellFormedToken(), OTHER))
      assertInactive(await introspectAt(wellFormedToken(), ORDERS))
      // tokens that exist but are someone else's: another client's, another audience's
      assertInactive(await introspectAt(shops, OTHER))
      assertInactive(await introspectAt(billingOnly, ORDERS))
    }
    assertActive(await introspectAt(own, OTHER))
    assertActive(await introspectAt(shops, ORDERS))
  })

  test("I-08 inactive answers about a caller's own tokens are counted, for clients too: the sixth is 429", async () => {
    const dead = await Promise.all(Array.from({ length: 6 }, () => revokedToken(OTHER)))
    for (const token of dead.slice(0, 5)) assertInactive(await introspectAt(token, OTHER))
    const last = dead[5] as string
    assertThrottled(await introspectAt(last, OTHER), last, 'other-secret')
  })

  test('I-08 a caller introspecting a valid token 200 times quickly is never throttled', async () => {
    const token = await getToken(throttled, SHOP)
    const first = assertActive(await introspectAt(token, ORDERS))
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => introspectAt(token, ORDERS)),
      )
      for (const res of answers) assert.deepEqual(assertActive(res), first)
    }
  })

  test('I-08 after 5 inactive answers about its own tokens every introspection by that resource is 429 with Retry-After, other callers are unaffected', async () => {
    const token = await getToken(throttled, SHOP)
    const dead = await Promise.all(Array.from({ length: 6 }, () => revokedToken(SHOP)))
    for (const revoked of dead.slice(0, 5)) assertInactive(await introspectAt(revoked, ORDERS))
    const last = dead[5] as string
    assertThrottled(await introspectAt(last, ORDERS), last, 'orders-secret')
    // every introspection: a valid token, a malformed one, a missing one
    assertThrottled(await introspectAt(token, ORDERS), token)
    assertThrottled(await introspectAt('garbage', ORDERS))
    // the bucket is per caller
    assertActive(await introspectAt(token, BILLING))
    assertActive(await introspectAt(token, SHOP))
  })

  test('I-08 R-12 failed client authentications are throttled per source address: 429 with Retry-After', async () => {
    // Runs last: it locks out 127.0.0.1 on this instance for credentials it has not seen pass.
    const token = await getToken(throttled, SHOP)
    const probe = 'Wr0ng-Secret-Throttle-Probe'
    for (let i = 0; i < 3; i++) {
      assertError(await introspectAt(token, ['billing', probe]), 401, 'invalid_client')
    }
    assertThrottled(await introspectAt(token, ['billing', probe]), probe, token)
    // Every guess from that address now waits, the right secret of a caller never seen included
    // (so a throttled guesser cannot tell a right guess from a wrong one).
    assertThrottled(await introspectAt(token, SHORT), 'short-secret', token)
    assertThrottled(await introspectAt(token, ['orders', 'another-guess']), 'another-guess', token)
    // Credentials that passed here before are no guesses: a flood of wrong secrets from an
    // address every caller shares (a proxy) locks none of them out.
    assertActive(await introspectAt(token, BILLING))
    assertActive(await introspectAt(token, SHOP))
  })
})
