/**
 * The token buckets of rate-limiter.ts kept in Redis (the `redis` option), so that servers behind
 * one load balancer share one budget per caller, and a restart forgets nothing.
 *
 * - One Lua script per call: atomic, on Redis's clock (servers' clocks may disagree). A bucket is
 *   a hash `keyhole:throttle:<limiter>:<key>` whose TTL is the time it takes to fill up again,
 *   after which it is no different from no key: nothing grows without bound. Keys hold addresses
 *   and ids of at most 255 characters (client-auth hashes longer ones).
 * - The hot path never waits on Redis. `retryAfter`, asked on every introspection, reads a local
 *   mirror of the keys Redis said are out of room, and until when. Redis is asked only by `check`
 *   (before credentials not seen to pass here are checked) and `hit` (a failure counted), and
 *   each answer refreshes the mirror. So a server learns that others have spent a caller's
 *   introspection budget at its own next counted answer for that caller, which `hit` then
 *   refuses; until then it still answers that caller's active tokens (docs/architecture.md).
 * - When Redis does not answer, this process's own buckets decide. Every hit feeds them too, so
 *   the fallback starts from what this server has seen, not from nothing.
 */
import { LRUCache } from 'lru-cache'
import { createRateLimiter, type RateLimit, type RateLimiter } from './rate-limiter.ts'
import { luaScript, type RedisConnection } from './redis-connection.ts'

/**
 * KEYS: the buckets. ARGV: limit, window in ms, `hit` (count one event against every key) or
 * `peek`. Reply: the longest wait, in ms, of any key before this call (0: each had room), then
 * for each key its wait after it. `at` never moves backwards (a failover to a replica whose
 * clock is behind).
 */
const TOKEN_BUCKETS = luaScript(`
local limit = tonumber(ARGV[1])
local rate = limit / tonumber(ARGV[2])
local hit = ARGV[3] == 'hit'
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local reply = { 0 }
for i, key in ipairs(KEYS) do
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local n = limit
  if bucket[1] and bucket[2] then
    n = math.min(limit, tonumber(bucket[1]) + math.max(0, now - tonumber(bucket[2])) * rate)
  end
  if n < 1 then reply[1] = math.max(reply[1], math.ceil((1 - n) / rate)) end
  if hit then
    n = math.max(0, n - 1)
    redis.call('HSET', key, 'tokens', tostring(n), 'at', tostring(now))
    redis.call('PEXPIRE', key, math.ceil((limit - n) / rate))
  end
  if n < 1 then reply[i + 1] = math.ceil((1 - n) / rate) else reply[i + 1] = 0 end
end
return reply
`)

/**
 * @param name the limiter's part of the key (`failedAuth`, `inactiveIntrospection`)
 */
export function createSharedRateLimiter(
  name: string,
  rule: RateLimit,
  redis: RedisConnection,
  maxKeys = 50_000,
): RateLimiter {
  const local = createRateLimiter(rule, undefined, maxKeys)
  /** Key → when (performance.now(), ms) Redis said it may try again. Bounded like the buckets. */
  const blockedUntil = new LRUCache<string, number>({ max: maxKeys })
  const prefix = `keyhole:throttle:${name}:`
  const peekArgs = [String(rule.limit), String(rule.windowSeconds * 1000), 'peek']
  const hitArgs = [String(rule.limit), String(rule.windowSeconds * 1000), 'hit']
  const redisKeys = (keys: readonly string[]) => keys.map((key) => prefix + key)

  /** Milliseconds `key` must still wait by the mirror. */
  function mirrored(key: string, t: number): number {
    const until = blockedUntil.get(key)
    if (until === undefined) return 0
    if (until > t) return until - t
    blockedUntil.delete(key)
    return 0
  }

  function learn(keys: readonly string[], reply: readonly number[]): void {
    const t = performance.now()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      const ms = reply[i + 1] as number
      if (ms > 0) blockedUntil.set(key, t + ms)
      else blockedUntil.delete(key)
    }
  }

  return {
    retryAfter(key) {
      const ms = blockedUntil.size === 0 ? 0 : mirrored(key, performance.now())
      // During an outage this server's own buckets decide (what the mirror knew still holds).
      return redis.available ? seconds(ms) : Math.max(seconds(ms), local.retryAfter(key))
    },
    async check(keys) {
      const t = performance.now()
      let known = 0
      for (const key of keys) known = Math.max(known, mirrored(key, t))
      // Known to be out of room: refused without a round trip (a throttled guesser's flood).
      if (known > 0) return seconds(known)
      const reply = readReply(await redis.run(TOKEN_BUCKETS, redisKeys(keys), peekArgs), keys)
      if (reply === undefined) return local.checkNow(keys)
      learn(keys, reply)
      return seconds(reply[0] as number)
    },
    async hit(keys) {
      const reply = readReply(await redis.run(TOKEN_BUCKETS, redisKeys(keys), hitArgs), keys)
      const before = local.hitNow(keys)
      if (reply === undefined) return before
      learn(keys, reply)
      return seconds(reply[0] as number)
    },
  }
}

function seconds(ms: number): number {
  return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0
}

/** The script's reply, checked: anything else counts as no answer (local buckets decide). */
function readReply(answer: unknown, keys: readonly string[]): readonly number[] | undefined {
  if (!Array.isArray(answer) || answer.length !== keys.length + 1) return undefined
  for (const item of answer) {
    if (typeof item !== 'number' || !Number.isFinite(item)) return undefined
  }
  return answer as readonly number[]
}
