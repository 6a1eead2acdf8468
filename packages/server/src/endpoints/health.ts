/** Liveness (the process answers) and readiness (the store answers). */
import type { Deps } from '../deps.ts'
import { type Endpoint, json } from '../http/types.ts'
import { describeError } from '../log.ts'

const NO_CACHE = { 'Cache-Control': 'no-store' }

export function healthEndpoint(): Endpoint {
  return async () => json(200, { status: 'ok' }, NO_CACHE)
}

export function readinessEndpoint(deps: Pick<Deps, 'store' | 'logger'>): Endpoint {
  return async () => {
    try {
      await deps.store.ping()
      return json(200, { status: 'ready' }, NO_CACHE)
    } catch (err) {
      deps.logger.log('error', 'store not ready', describeError(err))
      return json(503, { status: 'unavailable' }, NO_CACHE)
    }
  }
}
