/**
 * The server's one Redis connection (the `redis` option), for the shared throttles.
 *
 * The driver (`redis`, an optional peer dependency) is loaded by a dynamic import only when the
 * option is given, so an operator on SQLite alone never needs it.
 *
 * A throttle must never hold a request, and must never stop the server: every call has a hard
 * deadline, and a call that fails or is late answers `undefined`, on which the callers count in
 * this process instead (fail open to the in-process buckets, not to no limit). The log says so
 * once per outage, and again when Redis answers, naming host and port only: the URL may hold a
 * password, so neither it nor the driver's messages are ever logged.
 */
import { createHash } from 'node:crypto'
import { ConfigError } from '../config.ts'
import type { Logger } from '../log.ts'
import type { RedisConfig } from './redis-url.ts'

type RedisClient = ReturnType<typeof import('redis').createClient>

export interface LuaScript {
  readonly source: string
  readonly sha1: string
}

export function luaScript(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') }
}

export interface RedisConnection {
  /** False from a failure until Redis answers again: callers rely on what this process knows. */
  readonly available: boolean
  /** The script's reply, or undefined when Redis is away or did not answer in time. */
  run(script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown>
  close(): Promise<void>
}

/** Redis on a LAN answers in well under a millisecond; a throttle must not hold a request. */
const CALL_DEADLINE_MS = 100
/** After a failure, one call tries Redis again this much later, not every request meanwhile. */
const RETRY_AFTER_FAILURE_MS = 1_000
/** How long a start waits for Redis before it serves with in-process throttles (and says so). */
const CONNECT_WAIT_MS = 2_000
const MAX_RECONNECT_DELAY_MS = 2_000

class DeadlineError extends Error {}

export async function connectRedis(config: RedisConfig, logger: Logger): Promise<RedisConnection> {
  let createClient: typeof import('redis').createClient
  try {
    ;({ createClient } = await import('redis'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new ConfigError([
      'redis: the `redis` package is not installed beside @keyhole/server (npm install redis@5.9.0)',
    ])
  }
  const client: RedisClient = createClient({
    url: config.url,
    // While disconnected, a command fails at once instead of waiting in a queue for a reconnection.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_WAIT_MS,
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS),
    },
  })

  let available = true
  let retryAt = 0
  let closed = false
  const down = (reason: string) => {
    retryAt = performance.now() + RETRY_AFTER_FAILURE_MS
    // Calls cut short by close() are no outage.
    if (!available || closed) return
    available = false
    logger.log('warn', 'redis unavailable: throttles count in this process until it answers', {
      redis: config.where,
      reason,
    })
  }
  const up = () => {
    if (available) return
    available = true
    logger.log('info', 'redis answers again: throttles are shared', { redis: config.where })
  }
  // Without a listener, the driver's connection errors would end the process.
  client.on('error', (err: unknown) => down(reasonOf(err)))
  client.on('ready', up)

  // The start waits for the first connection, not for Redis to come back: the first failure (a
  // refused connection) or CONNECT_WAIT_MS, whichever is first, and the driver keeps trying.
  const connected = await new Promise<boolean>((resolve) => {
    const settle = (value: boolean) => {
      clearTimeout(timer)
      client.off('error', failed)
      resolve(value)
    }
    const failed = () => settle(false)
    const timer = setTimeout(failed, CONNECT_WAIT_MS)
    client.once('error', failed)
    client.connect().then(
      () => settle(true),
      (err: unknown) => {
        down(reasonOf(err))
        settle(false)
      },
    )
  })
  if (!connected) down('no connection')

  return {
    get available() {
      return available
    },
    async run(script, keys, args) {
      if (!available && performance.now() < retryAt) return undefined
      if (!client.isReady) {
        down('disconnected')
        return undefined
      }
      try {
        const reply = await withDeadline(evalScript(client, script, keys, args), CALL_DEADLINE_MS)
        up()
        return reply
      } catch (err) {
        down(reasonOf(err))
        return undefined
      }
    },
    async close() {
      closed = true
      // Nothing is waiting on a throttle call that matters at shutdown: drop them all.
      if (client.isOpen) client.destroy()
    },
  }
}

/** EVALSHA, and EVAL (which caches the script) once after Redis lost it (a restart, SCRIPT FLUSH). */
async function evalScript(
  client: RedisClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  const rest = [String(keys.length), ...keys, ...args]
  try {
    return await client.sendCommand(['EVALSHA', script.sha1, ...rest])
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
    return client.sendCommand(['EVAL', script.source, ...rest])
  }
}

/** The driver's own timeout covers only commands not yet sent; this covers the answer too. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError()), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

/**
 * Why a call failed, in words that cannot hold the URL or its password: a system error code
 * (ECONNREFUSED), the first word of a Redis error (WRONGPASS, NOAUTH, LOADING), else the error's
 * class. Driver messages are not logged: some quote what they were given.
 */
function reasonOf(err: unknown): string {
  if (err instanceof DeadlineError) return `no answer within ${CALL_DEADLINE_MS} ms`
  if (!(err instanceof Error)) return 'unknown'
  const code = (err as NodeJS.ErrnoException).code
  if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return code
  const word = /^[A-Z][A-Z_]{2,30}(?= |$)/.exec(err.message)
  if (word !== null) return word[0]
  // The driver's classes keep the name `Error`; theirs says more (SocketClosedUnexpectedlyError).
  return err.name === 'Error' ? err.constructor.name : err.name
}
