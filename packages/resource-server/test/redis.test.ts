import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createTokenVerifier, type TokenVerifier } from '@keyhole/resource-server'
import { createRedisCache } from '@keyhole/resource-server/redis'
import { createClient } from 'redis'
import { getToken, type RunningServer, startServer } from '../../../conformance/support/harness.ts'
import { type RunningRedis, startRedis } from './support/redis.ts'

type Client = ReturnType<typeof createClient>

describe('Q-04 Redis second cache level', () => {
  let as: RunningServer
  let redis: RunningRedis
  const clients: Client[] = []
  const verifiers: TokenVerifier[] = []

  async function processWithRedis(): Promise<TokenVerifier> {
    const client = createClient({ url: redis.url })
    client.on('error', () => {})
    await client.connect()
    clients.push(client)
    const verifier = createTokenVerifier({
      issuer: as.issuer,
      audience: 'https://orders.example.test',
      credentials: { clientId: 'orders', clientSecret: 'orders-secret' },
      cache: { secondLevel: createRedisCache(client) },
    })
    verifiers.push(verifier)
    return verifier
  }

  const request = (token: string) => ({
    method: 'GET',
    url: '/orders',
    headers: { authorization: `Bearer ${token}` },
  })

  before(async () => {
    ;[as, redis] = await Promise.all([startServer(), startRedis()])
  })
  after(async () => {
    await Promise.all(verifiers.map((v) => v.close()))
    for (const client of clients) if (client.isOpen) client.destroy()
    await Promise.all([as.stop(), redis.stop()])
  })

  test('a token introspected by one process is served to another from Redis without a call', async () => {
    const [first, second] = [await processWithRedis(), await processWithRedis()]
    const token = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    assert.equal((await first.verify(request(token), { scopes: ['orders:read'] })).ok, true)
    const result = await second.verify(request(token), { scopes: ['orders:read'] })
    assert.equal(result.ok, true)
    assert.equal(result.ok && result.token.source, 'cache')
    assert.equal(
      second.metrics().introspection_duration_seconds.count,
      0,
      'second process made no call',
    )
  })

  test('BCP-04 Redis holds the token hash and a TTL, never the raw token', async () => {
    const verifier = await processWithRedis()
    const token = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    await verifier.verify(request(token))
    const probe = clients[0] as Client
    const keys = await probe.keys('keyhole:rs:*')
    assert.ok(keys.length > 0)
    for (const key of keys) {
      assert.ok(!key.includes(token))
      assert.ok(!String(await probe.get(key)).includes(token))
      const ttl = await probe.ttl(key)
      assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`)
    }
  })

  test('a policy is applied again to an answer from Redis', async () => {
    const [first, second] = [await processWithRedis(), await processWithRedis()]
    const token = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    assert.equal((await first.verify(request(token), { scopes: ['orders:read'] })).ok, true)
    const denied = await second.verify(request(token), { scopes: ['orders:write'] })
    assert.equal(denied.ok, false)
    assert.equal(!denied.ok && denied.status, 403)
  })

  test('purge in one process removes the token from Redis for every process', async () => {
    const [first, second] = [await processWithRedis(), await processWithRedis()]
    const token = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    await first.verify(request(token))
    await first.purge(token)
    await second.verify(request(token))
    assert.equal(
      second.metrics().introspection_duration_seconds.count,
      1,
      'second process had to ask',
    )
  })

  test('when Redis is gone, verification still works and the failure is counted', async () => {
    const verifier = await processWithRedis()
    await redis.stop()
    const token = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    const result = await verifier.verify(request(token), { scopes: ['orders:read'] })
    assert.equal(result.ok, true)
    assert.ok(verifier.metrics().counters.second_level_error > 0)
  })
})
