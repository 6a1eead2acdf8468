/**
 * A second cache level in Redis (`@keyhole/resource-server/redis`), shared by every process of an
 * API: one introspection per token for the whole fleet, and a purge reaches everyone.
 *
 * Typed structurally, so this package has no Redis dependency: pass a connected node-redis v5
 * client (`createClient().connect()`). For other clients, implement SecondLevelCache directly.
 */
import type { SecondLevelCache } from './cache.ts'
import type { DpopReplayStore } from './dpop.ts'

/** The slice of node-redis v5 this needs. */
export interface RedisClientLike {
  get(key: string): Promise<unknown>
  set(
    key: string,
    value: string,
    options: { expiration: { type: 'EX' | 'PX'; value: number }; condition?: 'NX' },
  ): Promise<unknown>
  del(key: string): Promise<unknown>
}

export function createRedisCache(client: RedisClientLike): SecondLevelCache {
  return {
    async get(key) {
      const value = await client.get(key)
      return typeof value === 'string' ? value : null
    },
    async set(key, value, ttlSeconds) {
      await client.set(key, value, { expiration: { type: 'EX', value: Math.max(1, ttlSeconds) } })
    },
    async delete(key) {
      await client.del(key)
    },
  }
}

/**
 * The DPoP replay store (`dpop.replayStore`) in Redis: `SET key 1 NX PX ttl` is atomic, so of two
 * instances that see the same proof at once exactly one accepts it (RFC 9449 §11.1). Keys are
 * hashes of the target URI and the proof's `jti`, under `keyhole:rs:dpop:`.
 */
export function createRedisReplayStore(client: RedisClientLike): DpopReplayStore {
  return {
    async remember(key, ttlMs) {
      const reply = await client.set(`keyhole:rs:dpop:${key}`, '1', {
        expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttlMs)) },
        condition: 'NX',
      })
      // 'OK' when set; null when the key existed.
      return reply === 'OK'
    },
  }
}
