/**
 * Structured logs, one JSON object a line. Request lines carry method, path, status and timing only:
 * never query strings, bodies or Authorization headers (the http/ module is the only caller that logs
 * requests, and it never passes those in).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void
}

export interface LoggerOptions {
  level: LogLevel
  write?: (line: string) => void
}

export function createLogger(options: LoggerOptions): Logger {
  const min = ORDER[options.level]
  const write = options.write ?? ((line: string) => process.stdout.write(line))
  return {
    log(level, msg, fields) {
      if (ORDER[level] < min) return
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`)
    },
  }
}

export const silentLogger: Logger = { log() {} }

/** The message of an unexpected error, for the log. Errors we raise never contain tokens or secrets. */
export function describeError(err: unknown): LogFields {
  if (err instanceof Error) return { error: err.message, stack: err.stack ?? null }
  return { error: String(err) }
}
