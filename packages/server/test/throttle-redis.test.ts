/**
 * The throttles shared through Redis (`redis` option): real `keyhole serve` processes and a real
 * redis-server (with a password, which must never reach a log line), all on loopback.
 *
 * Failed authentications are keyed by source address, so each test sends its own
 * X-Forwarded-For (the servers trust 127.0.0.1 as a proxy) and none locks out another. Inactive
 * introspection is keyed by caller, so each test introspects as its own principal. Each server
 * has its own SQLite file (the tokens it issues stay its own); what they share is the budget.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ConfigError, parseConfig } from '@keyhole/server'
import { createClient } from 'redis'
import {
  BILLING,
  base,
  type Caller,
  fixtureConfig,
  getToken,
  type HttpResult,
  ORDERS,
  post,
  type RunningServer,
  revoke,
  SHOP,
  startServer,
} from '../../../conformance/support/harness.ts'
import { type RunningRedis, startRedis } from '../../../conformance/support/redis.ts'

const REDIS_PASSWORD = 'redis-Pa55word-never-logged'
const LIMIT = 4
const WINDOW_SECONDS = 600

function sharedConfig(redisUrl: string): Record<string, unknown> {
  return fixtureConfig({
    redis: redisUrl,
    trustedProxies: ['127.0.0.1'],
    throttle: {
      failedAuth: { limit: LIMIT, windowSeconds: WINDOW_SECONDS },
      inactiveIntrospection: { limit: LIMIT, windowSeconds: WINDOW_SECONDS },
    },
  })
}

/** Introspect as `caller`, seen as coming from `address` (through the trusted proxy). */
function introspectFrom(
  server: RunningServer,
  token: string,
  caller: Caller,
  address = '192.0.2.1',
): Promise<HttpResult> {
  return post(`${base(server)}/introspect`, {
    basic: caller,
    form: { token },
    headers: { 'x-forwarded-for': address },
  })
}

function assertThrottled(res: HttpResult): void {
  assert.equal(res.status, 429, res.text)
  assert.equal(res.json().error, 'temporarily_unavailable')
  const retryAfter = Number(res.headers.get('retry-after'))
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${retryAfter}`)
  assert.ok(retryAfter <= WINDOW_SECONDS / LIMIT, `Retry-After ${retryAfter}: one event's refill`)
}

function assertInactive(res: HttpResult): void {
  assert.equal(res.status, 200, res.text)
  assert.deepEqual(res.json(), { active: false })
}

function assertActive(res: HttpResult): void {
  assert.equal(res.status, 200, res.text)
  assert.equal(res.json().active, true)
}

async function revokedToken(server: RunningServer, scope: string): Promise<string> {
  const token = await getToken(server, SHOP, { scope })
  assert.equal((await revoke(server, token, SHOP)).status, 200)
  return token
}

function assertNoPassword(server: RunningServer): void {
  const output = server.output()
  assert.ok(!output.includes(REDIS_PASSWORD), 'the Redis password is in the log')
  assert.ok(!output.includes('redis://'), 'the Redis URL is in the log')
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('O-04 I-08 two servers sharing one Redis share one throttle budget', () => {
  let redis: RunningRedis
  let a: RunningServer
  let b: RunningServer
  let inspector: ReturnType<typeof createClient>

  before(async () => {
    redis = await startRedis({ password: REDIS_PASSWORD })
    ;[a, b] = await Promise.all([
      startServer(sharedConfig(redis.url)),
      startServer(sharedConfig(redis.url)),
    ])
    inspector = createClient({ url: redis.url })
    inspector.on('error', () => {})
    await inspector.connect()
  })
  after(async () => {
    inspector.destroy()
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  })

  test('O-04 failed authentications at A count at B: once the limit is spent across both, B answers 429, and so does A', async () => {
    const from = '192.0.2.10'
    for (const [server, i] of [
      [a, 0],
      [b, 1],
      [a, 2],
      [b, 3],
    ] as const) {
      const res = await introspectFrom(server, 'kh_at_x', ['billing', `wrong-${i}`], from)
      assert.equal(res.status, 401, res.text)
    }
    assertThrottled(await introspectFrom(b, 'kh_at_x', ['billing', 'wrong-4'], from))
    assertThrottled(await introspectFrom(a, 'kh_at_x', ['billing', 'wrong-5'], from))
    // The right secret of a caller never seen to pass is refused too (no oracle for guessers),
    // at both servers; another address is not held back.
    assertThrottled(await introspectFrom(b, 'kh_at_x', ['other', 'other-secret'], from))
    assertInactive(await introspectFrom(a, 'kh_at_x', ['other', 'other-secret'], '192.0.2.11'))
    assertNoPassword(a)
    assertNoPassword(b)
  })

  test('I-08 the inactive-introspection budget of a caller is shared: spent across A and B, the next counted answer is 429 at either, and then every introspection there', async () => {
    const scope = 'orders:read'
    const live = await getToken(a, SHOP, { scope })
    for (const server of [a, b, a, b]) {
      assertInactive(await introspectFrom(server, await revokedToken(server, scope), ORDERS))
    }
    assertThrottled(await introspectFrom(b, await revokedToken(b, scope), ORDERS))
    assertThrottled(await introspectFrom(b, live, ORDERS))
    // A learns it at its own next counted answer (active answers cost no Redis call, so until
    // then A still answers the caller's valid tokens: docs/architecture.md) ...
    assertActive(await introspectFrom(a, live, ORDERS))
    assertThrottled(await introspectFrom(a, await revokedToken(a, scope), ORDERS))
    // ... and from then on every introspection by that caller is 429 there too.
    assertThrottled(await introspectFrom(a, live, ORDERS))
    // Other callers are unaffected.
    assertActive(await introspectFrom(a, live, SHOP))
  })

  test('O-04 a pool opening many connections at once is never throttled: only failures count, not first checks in flight', async () => {
    const from = '192.0.2.13'
    const answers = await Promise.all(
      Array.from({ length: 10 * LIMIT }, () =>
        introspectFrom(b, 'kh_at_x', ['short', 'short-secret'], from),
      ),
    )
    for (const res of answers) assertInactive(res)
  })

  test('I-08 introspecting an active token makes no Redis call', async () => {
    const token = await getToken(b, SHOP, { scope: 'billing:read' })
    assertActive(await introspectFrom(b, token, BILLING))
    const before = await scriptCalls(inspector)
    for (let i = 0; i < 50; i++) {
      assertActive(await introspectFrom(b, token, BILLING))
    }
    assert.equal(await scriptCalls(inspector), before)
  })

  test('O-04 Redis keys are namespaced, expire within the window, and never hold an over-long client id', async () => {
    const longId = `c${'x'.repeat(999)}`
    const res = await introspectFrom(a, 'kh_at_x', [longId, 'wrong'], '192.0.2.12')
    assert.equal(res.status, 401, res.text)
    const keys = await inspector.keys('*')
    assert.ok(keys.length > 0)
    for (const key of keys) {
      assert.match(key, /^keyhole:throttle:(failedAuth|inactiveIntrospection):/)
      assert.ok(key.length < 320, `key of ${key.length} characters`)
      const ttl = await inspector.pTTL(key)
      assert.ok(ttl > 0 && ttl <= WINDOW_SECONDS * 1000, `${key}: TTL ${ttl} ms`)
    }
    assert.ok(keys.includes('keyhole:throttle:failedAuth:ip:192.0.2.12'), keys.join('\n'))
    assert.ok(
      keys.some((key) => key.startsWith('keyhole:throttle:failedAuth:client:#')),
      'the long id is hashed',
    )
  })
})

test('O-04 I-08 a restarted server keeps the counts: they are in Redis, not in the process', async () => {
  const redis = await startRedis({ password: REDIS_PASSWORD })
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-throttle-restart-'))
  try {
    const first = await startServer(sharedConfig(redis.url), { dir })
    const from = '192.0.2.20'
    for (let i = 0; i < LIMIT; i++) {
      const res = await introspectFrom(first, 'kh_at_x', ['billing', `wrong-${i}`], from)
      assert.equal(res.status, 401, res.text)
    }
    const dead = await Promise.all(
      Array.from({ length: LIMIT + 1 }, () => revokedToken(first, 'billing:read')),
    )
    for (const token of dead.slice(0, LIMIT)) {
      assertInactive(await introspectFrom(first, token, BILLING))
    }
    await first.kill()

    const second = await startServer(sharedConfig(redis.url), { dir })
    try {
      assertThrottled(await introspectFrom(second, 'kh_at_x', ['billing', 'wrong-9'], from))
      assertThrottled(await introspectFrom(second, dead[LIMIT] as string, BILLING))
      assertNoPassword(second)
    } finally {
      await second.stop()
    }
  } finally {
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('O-04 with Redis away the server keeps serving, counts in its own memory, says so once without the password, and shares again when Redis is back', async () => {
  let redis = await startRedis({ password: REDIS_PASSWORD })
  const server = await startServer(sharedConfig(redis.url))
  try {
    const token = await getToken(server, SHOP, { scope: 'orders:read' })
    await redis.stop()
    await until('the outage is logged', () => server.output().includes('redis unavailable'))

    // Valid callers are served; guesses are still throttled, by this process alone.
    assertActive(await introspectFrom(server, token, ORDERS))
    const from = '192.0.2.30'
    for (let i = 0; i < LIMIT; i++) {
      const res = await introspectFrom(server, token, ['billing', `wrong-${i}`], from)
      assert.equal(res.status, 401, res.text)
    }
    assertThrottled(await introspectFrom(server, token, ['billing', 'wrong-x'], from))
    assertActive(await introspectFrom(server, token, ORDERS))

    const warnings = server
      .output()
      .split('\n')
      .filter((line) => line.includes('redis unavailable'))
    assert.equal(warnings.length, 1, 'one warning per outage')
    const warning = JSON.parse(warnings[0] as string) as Record<string, unknown>
    assert.equal(warning.level, 'warn')
    assert.equal(warning.redis, `127.0.0.1:${redis.port}`)
    assertNoPassword(server)

    // Back on the same address: the server reconnects and counts there again.
    redis = await startRedis({ port: redis.port, password: REDIS_PASSWORD })
    await until('the recovery is logged', () => server.output().includes('redis answers again'))
    const res = await introspectFrom(server, token, ['billing', 'wrong-y'], '192.0.2.31')
    assert.equal(res.status, 401, res.text)
    const inspector = createClient({ url: redis.url })
    inspector.on('error', () => {})
    await inspector.connect()
    try {
      assert.equal(await inspector.exists('keyhole:throttle:failedAuth:ip:192.0.2.31'), 1)
    } finally {
      inspector.destroy()
    }
    assertNoPassword(server)
  } finally {
    await server.stop()
    await redis.stop()
  }
})

test('O-04 a server started while Redis is away starts at once with its own counts, and shares them once Redis comes', async () => {
  const later = await startRedis({ password: REDIS_PASSWORD })
  const { port, url } = later
  await later.stop()
  const started = Date.now()
  const server = await startServer(sharedConfig(url))
  let redis: RunningRedis | undefined
  try {
    assert.ok(server.output().includes('redis unavailable'), server.output())
    assert.ok(Date.now() - started < 10_000)
    const from = '192.0.2.40'
    for (let i = 0; i < LIMIT; i++) {
      const res = await introspectFrom(server, 'kh_at_x', ['billing', `wrong-${i}`], from)
      assert.equal(res.status, 401, res.text)
    }
    assertThrottled(await introspectFrom(server, 'kh_at_x', ['billing', 'wrong-x'], from))

    redis = await startRedis({ port, password: REDIS_PASSWORD })
    await until('the connection is logged', () => server.output().includes('redis answers again'))
    const res = await introspectFrom(server, 'kh_at_x', ['billing', 'wrong-y'], '192.0.2.41')
    assert.equal(res.status, 401, res.text)
    assertNoPassword(server)
  } finally {
    await server.stop()
    await redis?.stop()
  }
})

test('O-04 a Redis that stops answering holds no request: a call waits at most its deadline, then the server counts alone', async () => {
  const redis = await startRedis({ password: REDIS_PASSWORD })
  const server = await startServer(sharedConfig(redis.url))
  try {
    const token = await getToken(server, SHOP, { scope: 'orders:read' })
    redis.pause()
    const from = '192.0.2.50'
    for (let i = 0; i < LIMIT; i++) {
      const started = performance.now()
      const res = await introspectFrom(server, token, ['billing', `wrong-${i}`], from)
      assert.equal(res.status, 401, res.text)
      assert.ok(performance.now() - started < 1_000, `${performance.now() - started} ms`)
    }
    assertThrottled(await introspectFrom(server, token, ['billing', 'wrong-x'], from))
    assertActive(await introspectFrom(server, token, ORDERS))
    assert.ok(server.output().includes('"reason":"no answer within'), server.output())
    assertNoPassword(server)
  } finally {
    await server.stop()
    await redis.stop()
  }
})

describe('redis option: a bad URL is a config error naming the option, never quoting it', () => {
  const secret = 'Sup3r-Secret-in-url'
  for (const url of [
    `http://:${secret}@127.0.0.1:6379`,
    `redis://:${secret}@`,
    `redis://:${secret}@127.0.0.1:6379/0?password=${secret}`,
    `redis://:${secret}@127.0.0.1:6379/zero`,
    `redis://:%zz${secret}@127.0.0.1:6379`,
    `not a url ${secret}`,
  ]) {
    test(`refused: ${url.replaceAll(secret, '…')}`, () => {
      assert.throws(
        () => parseConfig(fixtureConfig({ redis: url }), '/tmp'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.equal(err.problems.length, 1, err.message)
          assert.match(err.problems[0] as string, /^redis: must be a URL like redis:\/\//)
          assert.ok(!err.message.includes(secret), err.message)
          return true
        },
      )
    })
  }

  test('accepted: redis:// and rediss:// with or without a password and a database', () => {
    for (const url of [
      'redis://127.0.0.1',
      'redis://:pw@127.0.0.1:6380/2',
      'rediss://user:pw@redis.internal:6379',
      'redis://[::1]:6379/0',
    ]) {
      const config = parseConfig(fixtureConfig({ redis: url }), '/tmp')
      assert.equal(config.redis?.url, url)
    }
    assert.equal(parseConfig(fixtureConfig(), '/tmp').redis, undefined)
  })

  test('keyhole serve exits 2 naming `redis`, without the password', async () => {
    await assert.rejects(startServer(fixtureConfig({ redis: `redis://:${secret}@` })), (err) => {
      assert.ok(err instanceof Error)
      assert.match(err.message, /exited with 2/)
      assert.match(err.message, /redis: must be a URL/)
      assert.ok(!err.message.includes(secret), err.message)
      return true
    })
  })
})

/** How many times Redis ran a script (EVALSHA or EVAL), from INFO commandstats. */
async function scriptCalls(client: ReturnType<typeof createClient>): Promise<number> {
  const info = await client.info('commandstats')
  let calls = 0
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=([0-9]+)/gm)) {
    calls += Number(match[1])
  }
  return calls
}
