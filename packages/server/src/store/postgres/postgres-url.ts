/**
 * `postgres://user:password@host:port/database?max=10&sslmode=require` (or `postgresql://`), read
 * without the driver, so that the config can be checked before anything connects.
 *
 * The URL may hold a password: no message here quotes any part of it. What messages may name is
 * `where` (host and port), which is neither the user nor the password.
 */

export type PostgresSsl = false | 'prefer' | 'require' | 'verify-full'

export interface PostgresTarget {
  readonly host: string
  readonly port: number
  readonly database: string
  /** Undefined: the driver's default (PGUSER, then the user running the process). */
  readonly username: string | undefined
  /** Undefined: none, or PGPASSWORD. */
  readonly password: string | undefined
  /** Connections in the pool (the revocation listener has one more of its own). */
  readonly max: number
  readonly ssl: PostgresSsl
  /** `host:port`, for messages. Never the user or the password. */
  readonly where: string
}

export const DEFAULT_POOL_SIZE = 10
const MAX_POOL_SIZE = 1000
const SSL_MODES: Record<string, PostgresSsl> = {
  disable: false,
  prefer: 'prefer',
  require: 'require',
  'verify-full': 'verify-full',
}

export function isPostgresUrl(value: string): boolean {
  return /^postgres(?:ql)?:/i.test(value)
}

/** The target, or what is wrong with the URL (a message that quotes nothing of it). */
export function parsePostgresUrl(value: string): PostgresTarget | string {
  const usage = 'must be a URL like postgres://user:password@host:5432/database'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `${usage} (this one cannot be parsed)`
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return usage
  if (!value.slice(url.protocol.length).startsWith('//') || url.hostname === '') {
    return `${usage} (the host is missing)`
  }
  if (url.hash !== '') return `${usage} (without a #fragment)`
  let database: string
  let username: string | undefined
  let password: string | undefined
  try {
    database = decodeURIComponent(url.pathname.replace(/^\//, ''))
    username = url.username === '' ? undefined : decodeURIComponent(url.username)
    password = url.password === '' ? undefined : decodeURIComponent(url.password)
  } catch {
    return `${usage} (a %-escape in it is not valid)`
  }
  if (database === '' || database.includes('/')) return `${usage} (the database name is missing)`
  const port = url.port === '' ? 5432 : Number(url.port)

  let max = DEFAULT_POOL_SIZE
  let ssl: PostgresSsl = false
  const seen = new Set<string>()
  for (const [name, given] of url.searchParams) {
    if (seen.has(name)) return 'a URL parameter is given twice'
    seen.add(name)
    if (name === 'max') {
      if (!/^[0-9]{1,4}$/.test(given) || Number(given) < 1 || Number(given) > MAX_POOL_SIZE) {
        return `max (the pool size) must be a whole number from 1 to ${MAX_POOL_SIZE}`
      }
      max = Number(given)
    } else if (name === 'sslmode') {
      const mode = SSL_MODES[given]
      if (mode === undefined) return 'sslmode must be disable, prefer, require or verify-full'
      ssl = mode
    } else {
      // The name is not quoted either: a password pasted in the wrong place would be.
      return 'the URL parameters understood are max and sslmode'
    }
  }
  // An IPv6 literal keeps its brackets in `hostname`; the driver wants the bare address.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  return {
    host,
    port,
    database,
    username,
    password,
    max,
    ssl,
    where: `${url.hostname}:${port}`,
  }
}
