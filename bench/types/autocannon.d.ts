// The subset of autocannon 9's API that the bench uses (the package ships no types).
declare module 'autocannon' {
  export interface Options {
    url: string
    method?: 'GET' | 'POST'
    headers?: Record<string, string>
    body?: string
    connections?: number
    pipelining?: number
    /** Seconds. */
    duration?: number
    /** Seconds before a request counts as a timeout. */
    timeout?: number
    /** Every response body must equal this, or it counts as a mismatch. */
    expectBody?: string
  }

  export interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p99: number
  }

  export interface Result {
    duration: number
    errors: number
    timeouts: number
    mismatches: number
    non2xx: number
    resets: number
    '2xx': number
    statusCodeStats: Record<string, { count: number }>
    latency: Histogram
    requests: Histogram & { sent: number }
    throughput: Histogram
  }

  export interface Instance {
    stop(): void
  }

  function autocannon(options: Options, done: (err: Error | null, result: Result) => void): Instance
  export default autocannon
}
