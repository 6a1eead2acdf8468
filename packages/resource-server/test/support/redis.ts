/** Moved to conformance/support/redis.ts, which every package's tests share. */
export { type RunningRedis, startRedis } from '../../../../conformance/support/redis.ts'
