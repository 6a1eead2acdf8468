/**
 * Counters and a latency histogram, fed by the verifier's events, in a shape prom-client can
 * export from a `collect()` callback (docs/resource-server.md shows how).
 */
import type { VerifierEvent } from './options.ts'

/** Upper bounds of the introspection latency buckets, seconds (prom-client's defaults, trimmed). */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
] as const

export interface MetricsSnapshot {
  readonly counters: {
    readonly active: number
    readonly inactive: number
    readonly cache_hit: number
    readonly cache_miss: number
    readonly cache_stale_served: number
    readonly as_error: number
    readonly rejected: Readonly<Record<string, number>>
    readonly second_level_error: number
    /** `revoked` events applied (one per event, whatever the number of tokens in it). */
    readonly revocation_pushed: number
    /** Tokens those events dropped from the caches. */
    readonly revocation_pushed_tokens: number
    /** Revocation stream attempts that ended (failed connections included). */
    readonly revocation_stream_disconnects: number
    /** `reset` events (every in-process answer of the issuer dropped). */
    readonly revocation_reset: number
  }
  /** Introspection round trips: cumulative bucket counts, as Prometheus histograms are. */
  readonly introspection_duration_seconds: {
    readonly buckets: readonly { readonly le: number; readonly count: number }[]
    readonly sum: number
    readonly count: number
  }
}

export interface Metrics {
  record(event: VerifierEvent): void
  snapshot(): MetricsSnapshot
}

export function createMetrics(): Metrics {
  const c = {
    active: 0,
    inactive: 0,
    cache_hit: 0,
    cache_miss: 0,
    cache_stale_served: 0,
    as_error: 0,
    second_level_error: 0,
    revocation_pushed: 0,
    revocation_pushed_tokens: 0,
    revocation_stream_disconnects: 0,
    revocation_reset: 0,
  }
  const rejected: Record<string, number> = {}
  const bucketCounts = LATENCY_BUCKETS.map(() => 0)
  let sum = 0
  let count = 0
  return {
    record(event) {
      switch (event.type) {
        case 'active':
          c.active++
          break
        case 'inactive':
          c.inactive++
          break
        case 'cache':
          if (event.result === 'hit') c.cache_hit++
          else if (event.result === 'miss') c.cache_miss++
          else c.cache_stale_served++
          break
        case 'as_error':
          c.as_error++
          break
        case 'second_level_error':
          c.second_level_error++
          break
        case 'revocation_pushed':
          c.revocation_pushed++
          c.revocation_pushed_tokens += event.tokens
          break
        case 'revocation_stream':
          if (event.state === 'disconnected') c.revocation_stream_disconnects++
          break
        case 'revocation_reset':
          c.revocation_reset++
          break
        case 'rejected': {
          const key = `${event.status} ${event.error}`
          rejected[key] = (rejected[key] ?? 0) + 1
          break
        }
        case 'introspection': {
          const seconds = event.durationMs / 1000
          sum += seconds
          count++
          LATENCY_BUCKETS.forEach((le, i) => {
            if (seconds <= le) bucketCounts[i] = (bucketCounts[i] ?? 0) + 1
          })
          break
        }
      }
    },
    snapshot() {
      return {
        counters: { ...c, rejected: { ...rejected } },
        introspection_duration_seconds: {
          buckets: [
            ...LATENCY_BUCKETS.map((le, i) => ({ le, count: bucketCounts[i] ?? 0 })),
            { le: Number.POSITIVE_INFINITY, count },
          ],
          sum,
          count,
        },
      }
    },
  }
}
