/**
 * Structured logs, one JSON object a line. Request lines carry method, path, status and timing only:
 * never query strings, bodies or Authorization headers (the http/ module is the only caller that logs
 * requests, and it never passes those in).
 *
 * Lines for stdout are written in batches: a write to a pipe is a system call (and wakes the reader),
 * which at one request line each cost more than the request itself. A batch goes out at the end of
 * the current turn of the event loop (setImmediate, well under a millisecond later) or at 64 KiB,
 * whichever comes first; a warning or an error goes out at once with everything before it, and
 * whatever is left is written when the process exits (process.exit included, as on SIGTERM).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void
  /** Write out lines still buffered (before the process goes, or before other output). */
  flush?(): void
}

export interface LoggerOptions {
  level: LogLevel
  /** Where each line goes, one call a line. Default: stdout, in batches. */
  write?: (line: string) => void
}

export function createLogger(options: LoggerOptions): Logger {
  const min = ORDER[options.level]
  const custom = options.write
  if (custom !== undefined) {
    return {
      log(level, msg, fields) {
        if (ORDER[level] < min) return
        custom(formatLine(level, msg, fields))
      },
    }
  }
  return {
    log(level, msg, fields) {
      if (ORDER[level] < min) return
      stdout.add(formatLine(level, msg, fields))
      if (ORDER[level] >= ORDER.warn) stdout.flush()
    },
    flush: () => stdout.flush(),
  }
}

/**
 * `JSON.stringify({ time, level, msg, ...fields })` and a newline, without building the merged
 * object for every request line. Fields that would change that object's member order (a name of
 * its own, or an integer-like name, which objects list first) take the literal path.
 */
function formatLine(level: LogLevel, msg: string, fields: LogFields | undefined): string {
  const time = isoNow()
  if (fields !== undefined && !plainNames(fields)) {
    return `${JSON.stringify({ time, level, msg, ...fields })}\n`
  }
  const head = `{"time":"${time}","level":"${level}","msg":${JSON.stringify(msg)}`
  const rest = fields === undefined ? '{}' : JSON.stringify(fields)
  return rest === '{}' ? `${head}}\n` : `${head},${rest.slice(1)}\n`
}

function plainNames(fields: LogFields): boolean {
  for (const name in fields) {
    const first = name.charCodeAt(0)
    if (name === 'time' || name === 'level' || name === 'msg' || (first >= 48 && first <= 57)) {
      return false
    }
  }
  return true
}

// new Date().toISOString() costs about as much as the rest of a line; lines come in bursts.
let isoMs = Number.NaN
let iso = ''
function isoNow(): string {
  const ms = Date.now()
  if (ms !== isoMs) {
    isoMs = ms
    iso = new Date(ms).toISOString()
  }
  return iso
}

const BATCH_CHARS = 64 * 1024

/** One buffer for every logger of the process, so that lines keep their order. */
const stdout = (() => {
  let pending = ''
  let scheduled = false
  let hooked = false
  const flush = () => {
    if (pending === '') return
    const out = pending
    pending = ''
    process.stdout.write(out)
  }
  const flushScheduled = () => {
    scheduled = false
    flush()
  }
  return {
    add(line: string) {
      if (!hooked) {
        hooked = true
        process.once('exit', flush)
      }
      pending += line
      if (pending.length >= BATCH_CHARS) flush()
      else if (!scheduled) {
        scheduled = true
        setImmediate(flushScheduled)
      }
    },
    flush,
  }
})()

export const silentLogger: Logger = { log() {} }

/** The message of an unexpected error, for the log. Errors we raise never contain tokens or secrets. */
export function describeError(err: unknown): LogFields {
  if (err instanceof Error) return { error: err.message, stack: err.stack ?? null }
  return { error: String(err) }
}
