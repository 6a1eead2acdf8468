/**
 * A second cache level in Redis (`@keyhole/resource-server/redis`), shared by every process of an
 * API: one introspection per token for the whole fleet, and a purge reaches everyone.
 *
 * Typed structurally, so this package has no Redis dependency: pass a connected node-redis v5
 * client (`createClient().connect()`). For other clients, implement SecondLevelCache directly.
 */
import type { SecondLevelCache } from './cache.ts'

/** The slice of node-redis v5 this needs. */
export interface RedisClientLike {
  get(key: string): Promise<unknown>
  set(
    key: string,
    value: string,
    options: { expiration: { type: 'EX'; value: number } },
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
