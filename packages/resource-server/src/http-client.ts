/**
 * HTTP to authorization servers: undici pools with keep-alive (one per origin), a hard deadline per
 * call, retries only while the deadline allows, and a cap on concurrent requests per AS (the pool's
 * connection count; further requests queue inside the same deadline).
 */
import { Pool } from 'undici'

export interface AsHttpOptions {
  /** Hard limit for one call to the AS, retries included, milliseconds. Default 2000. */
  readonly timeoutMs?: number
  /** Concurrent requests per AS origin. Default 32. */
  readonly maxConcurrency?: number
  /** Extra attempts after a transport error, 5xx or 429, inside the time budget. Default 1. */
  readonly retries?: number
  /** Largest response body accepted, bytes. Default 1 MiB. */
  readonly maxResponseBytes?: number
}

export interface AsResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: Buffer
}

export interface AsRequest {
  readonly method: 'GET' | 'POST'
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}

/** The AS could not give an answer: unreachable, too slow, 5xx, 429. Never means "inactive". */
export class AsUnavailableError extends Error {
  readonly retryAfter: number | undefined
  constructor(message: string, retryAfter?: number) {
    super(message)
    this.name = 'AsUnavailableError'
    this.retryAfter = retryAfter
  }
}

export interface AsHttpClient {
  readonly timeoutMs: number
  /** `deadline` is epoch ms; the call fails with AsUnavailableError once it passes. */
  request(url: URL, init: AsRequest, deadline: number): Promise<AsResponse>
  close(): Promise<void>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function retryAfterSeconds(value: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value
  if (raw === undefined) return undefined
  if (/^\d+$/.test(raw)) return Number(raw)
  const date = Date.parse(raw)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

export function createAsHttpClient(options: AsHttpOptions = {}): AsHttpClient {
  const timeoutMs = options.timeoutMs ?? 2000
  const retries = options.retries ?? 1
  const maxBytes = options.maxResponseBytes ?? 1_048_576
  const pools = new Map<string, Pool>()

  function poolFor(origin: string): Pool {
    let pool = pools.get(origin)
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: options.maxConcurrency ?? 32,
        keepAliveTimeout: 30_000,
        connectTimeout: timeoutMs,
      })
      pools.set(origin, pool)
    }
    return pool
  }

  async function once(url: URL, init: AsRequest, deadline: number): Promise<AsResponse> {
    const remaining = deadline - Date.now()
    if (remaining <= 0)
      throw new AsUnavailableError('the authorization server did not answer in time')
    const signal = AbortSignal.timeout(remaining)
    try {
      const res = await poolFor(url.origin).request({
        path: url.pathname + url.search,
        method: init.method,
        headers: init.headers ?? {},
        body: init.body ?? null,
        signal,
        headersTimeout: remaining,
        bodyTimeout: remaining,
      })
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > maxBytes) {
          res.body.destroy()
          throw new AsUnavailableError('the authorization server sent an oversized response')
        }
        chunks.push(chunk as Buffer)
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }
    } catch (err) {
      if (err instanceof AsUnavailableError) throw err
      // Transport failures carry no token: undici's messages name the host and the failure.
      const reason = signal.aborted ? 'timed out' : ((err as { code?: string }).code ?? 'failed')
      throw new AsUnavailableError(`the request to the authorization server ${reason}`)
    }
  }

  return {
    timeoutMs,
    async request(url, init, deadline) {
      for (let attempt = 0; ; attempt++) {
        let failure: AsUnavailableError
        try {
          const res = await once(url, init, deadline)
          if (res.status < 500 && res.status !== 429) return res
          failure = new AsUnavailableError(
            `the authorization server answered ${res.status}`,
            retryAfterSeconds(res.headers['retry-after']),
          )
        } catch (err) {
          if (!(err instanceof AsUnavailableError)) throw err
          failure = err
        }
        // Retry with jitter only if the wait and a useful attempt still fit in the budget.
        const backoff = 25 + Math.random() * 75 * (attempt + 1)
        const waitHint = (failure.retryAfter ?? 0) * 1000
        if (attempt >= retries || Date.now() + Math.max(backoff, waitHint) + 50 >= deadline) {
          throw failure
        }
        await sleep(Math.max(backoff, waitHint))
      }
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()))
      pools.clear()
    },
  }
}
