/**
 * `redis://[user][:password@]host[:port][/database]` (or `rediss://` for TLS), read without the
 * driver, so that the config is checked before anything connects and an operator without Redis
 * never loads it.
 *
 * The URL may hold a password: no message here quotes any part of it. What messages and logs may
 * name is `where` (host and port), which is neither the user nor the password.
 */

export interface RedisConfig {
  /** As written in the config, for the driver only: never in a message or a log line. */
  readonly url: string
  /** `host:port`, for messages. */
  readonly where: string
}

const USAGE = 'must be a URL like redis://:password@host:6379/0 (rediss:// for TLS)'

/** The config, or what is wrong with the URL (a message that quotes nothing of it). */
export function parseRedisUrl(value: string): RedisConfig | string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `${USAGE} (this one cannot be parsed)`
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return USAGE
  if (!value.slice(url.protocol.length).startsWith('//') || url.hostname === '') {
    return `${USAGE} (the host is missing)`
  }
  // Nothing would read them, and a password pasted there would then sit unused in plain sight.
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    return `${USAGE} (without ?parameters or a #fragment)`
  }
  if (!/^\/?(?:[0-9]{1,5})?$/.test(url.pathname)) {
    return `${USAGE} (the path, if any, is a database number)`
  }
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    return `${USAGE} (a %-escape in it is not valid)`
  }
  const port = url.port === '' ? 6379 : Number(url.port)
  return { url: value, where: `${url.hostname}:${port}` }
}
