/**
 * Token buckets keyed by caller, for what token scanning produces (RFC 7662 §4, RFC 6749 §2.3.1:
 * "MUST protect ... against brute force"). A bucket holds `limit` tokens and refills at
 * limit / windowSeconds a second; each counted event takes one. An empty bucket means 429 with
 * Retry-After until it holds one again. Only failures are counted, so a caller that does nothing
 * wrong is never throttled, however fast it goes.
 *
 * The key table is bounded (least recently used keys are dropped), so made-up keys cannot grow memory.
 */
import { LRUCache } from 'lru-cache'

export interface RateLimit {
  /** Events allowed in a burst, and per window on average. */
  readonly limit: number
  readonly windowSeconds: number
}

interface Bucket {
  tokens: number
  at: number
}

export interface RateLimiter {
  /** Seconds to wait before `key` may try again, or 0 when it may go ahead now. */
  retryAfter(key: string): number
  /** Count one event against `key`. */
  hit(key: string): void
}

export function createRateLimiter(
  rule: RateLimit,
  now: () => number = () => performance.now() / 1000,
  maxKeys = 50_000,
): RateLimiter {
  const buckets = new LRUCache<string, Bucket>({ max: maxKeys })
  const rate = rule.limit / rule.windowSeconds

  function current(key: string, t: number): Bucket | undefined {
    const bucket = buckets.get(key)
    if (bucket === undefined) return undefined
    bucket.tokens = Math.min(rule.limit, bucket.tokens + (t - bucket.at) * rate)
    bucket.at = t
    return bucket
  }

  return {
    retryAfter(key) {
      const bucket = current(key, now())
      if (bucket === undefined || bucket.tokens >= 1) return 0
      return Math.max(1, Math.ceil((1 - bucket.tokens) / rate))
    },
    hit(key) {
      const t = now()
      const bucket = current(key, t)
      if (bucket === undefined) buckets.set(key, { tokens: rule.limit - 1, at: t })
      else bucket.tokens = Math.max(0, bucket.tokens - 1)
    },
  }
}
