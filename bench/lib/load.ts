/** One autocannon run against a target, reduced to the figures the bench reports. */
import autocannon, { type Result } from 'autocannon'
import type { FormPost } from './http.ts'

export const CONNECTIONS = 50
export const PIPELINING = 1

export interface LoadFigures {
  /** Mean of autocannon's per-second samples. */
  readonly requestsPerSec: number
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly mean: number }
  readonly completed: number
  /** Anything but a 2xx with the expected body; the bench fails when this is not 0. */
  readonly failures: {
    readonly errors: number
    readonly timeouts: number
    readonly non2xx: number
    readonly mismatches: number
    readonly resets: number
  }
}

export function failureCount(figures: LoadFigures): number {
  const f = figures.failures
  return f.errors + f.timeouts + f.non2xx + f.mismatches + f.resets
}

/**
 * Load `request` for `seconds` with 50 connections, pipelining 1. Every response body must equal
 * `expectBody` (counted as a mismatch otherwise), so a run that degrades into errors or
 * `{"active":false}` cannot pass as fast.
 */
export function load(request: FormPost, seconds: number, expectBody: string): Promise<LoadFigures> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: request.url,
        method: 'POST',
        headers: { ...request.headers },
        body: request.body,
        connections: CONNECTIONS,
        pipelining: PIPELINING,
        duration: seconds,
        expectBody,
      },
      (err, result) => (err ? reject(err) : resolve(figuresOf(result))),
    )
  })
}

function figuresOf(result: Result): LoadFigures {
  return {
    requestsPerSec: result.requests.average,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, mean: result.latency.mean },
    completed: result.requests.total,
    failures: {
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      mismatches: result.mismatches,
      resets: result.resets,
    },
  }
}
