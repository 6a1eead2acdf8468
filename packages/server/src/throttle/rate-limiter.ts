/**
 * Token buckets keyed by caller, for what token scanning produces (RFC 7662 §4, RFC 6749 §2.3.1:
 * "MUST protect ... against brute force"). A bucket holds `limit` tokens and refills at
 * limit / windowSeconds a second; each counted event takes one. An empty bucket means 429 with
 * Retry-After until it holds one again. Only failures are counted, so a caller that does nothing
 * wrong is never throttled, however fast it goes.
 *
 * This file holds the contract and the in-process buckets (the default, and what a shared limiter
 * falls back to: shared-rate-limiter.ts). The key table is bounded (least recently used keys are
 * dropped), so made-up keys cannot grow memory.
 */
import { LRUCache } from 'lru-cache'

export interface RateLimit {
  /** Events allowed in a burst, and per window on average. */
  readonly limit: number
  readonly windowSeconds: number
}

export interface RateLimiter {
  /**
   * Seconds to wait before `key` may try again as far as this process knows, or 0 when it may go
   * ahead now. Never waits for anything: every introspection asks.
   */
  retryAfter(key: string): number
  /**
   * Seconds to wait before any of `keys` may try again, or 0; a shared limiter asks the shared
   * count. For attempts rare enough to afford a round trip (credentials not seen to pass here).
   */
  check(keys: readonly string[]): Promise<number>
  /**
   * Count one event against every key (an empty bucket stays empty). Answers the seconds the keys
   * had to wait already (0 when each had room): a shared count may tell here that other servers
   * spent the budget.
   */
  hit(keys: readonly string[]): Promise<number>
}

export interface LocalRateLimiter extends RateLimiter {
  /** `check`, answered at once. */
  checkNow(keys: readonly string[]): number
  /** `hit`, answered at once. */
  hitNow(keys: readonly string[]): number
}

interface Bucket {
  tokens: number
  at: number
}

export function createRateLimiter(
  rule: RateLimit,
  now: () => number = () => performance.now() / 1000,
  maxKeys = 50_000,
): LocalRateLimiter {
  const buckets = new LRUCache<string, Bucket>({ max: maxKeys })
  const rate = rule.limit / rule.windowSeconds

  function current(key: string, t: number): Bucket | undefined {
    const bucket = buckets.get(key)
    if (bucket === undefined) return undefined
    bucket.tokens = Math.min(rule.limit, bucket.tokens + (t - bucket.at) * rate)
    bucket.at = t
    return bucket
  }

  function retryAfter(key: string): number {
    const bucket = current(key, now())
    if (bucket === undefined || bucket.tokens >= 1) return 0
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate))
  }

  function checkNow(keys: readonly string[]): number {
    let wait = 0
    for (const key of keys) wait = Math.max(wait, retryAfter(key))
    return wait
  }

  function hitNow(keys: readonly string[]): number {
    const wait = checkNow(keys)
    const t = now()
    for (const key of keys) {
      const bucket = current(key, t)
      if (bucket === undefined) buckets.set(key, { tokens: rule.limit - 1, at: t })
      else bucket.tokens = Math.max(0, bucket.tokens - 1)
    }
    return wait
  }

  return {
    retryAfter,
    checkNow,
    hitNow,
    check: (keys) => Promise.resolve(checkNow(keys)),
    hit: (keys) => Promise.resolve(hitNow(keys)),
  }
}
