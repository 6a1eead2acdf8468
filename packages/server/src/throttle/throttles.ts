/**
 * The server's two throttles (failed client authentication; inactive introspection answers, RFC
 * 7662 §4), counted in this process, or in Redis when the `redis` option is given so that every
 * server behind a load balancer shares one budget per caller.
 */
import type { ServerConfig } from '../config.ts'
import type { Logger } from '../log.ts'
import { createRateLimiter, type RateLimiter } from './rate-limiter.ts'
import { connectRedis } from './redis-connection.ts'
import { createSharedRateLimiter } from './shared-rate-limiter.ts'

export interface Throttles {
  readonly failedAuth: RateLimiter
  readonly inactiveIntrospection: RateLimiter
  close(): Promise<void>
}

export async function openThrottles(
  config: Pick<ServerConfig, 'throttle' | 'redis'>,
  logger: Logger,
): Promise<Throttles> {
  const { failedAuth, inactiveIntrospection } = config.throttle
  if (config.redis === undefined) {
    return {
      failedAuth: createRateLimiter(failedAuth),
      inactiveIntrospection: createRateLimiter(inactiveIntrospection),
      close: () => Promise.resolve(),
    }
  }
  const redis = await connectRedis(config.redis, logger)
  return {
    failedAuth: createSharedRateLimiter('failedAuth', failedAuth, redis),
    inactiveIntrospection: createSharedRateLimiter(
      'inactiveIntrospection',
      inactiveIntrospection,
      redis,
    ),
    close: () => redis.close(),
  }
}
