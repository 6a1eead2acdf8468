/**
 * The address a request comes from, for the throttles. Behind a reverse proxy every connection
 * comes from the proxy, so for connections from configured proxies (`trustedProxies`) the client
 * is read from X-Forwarded-For: walking it from the right, past every trusted proxy, to the first
 * address that is not one (the de facto algorithm; a client can prepend anything it likes, but it
 * cannot forge what the trusted proxies append). Connections from anywhere else are taken at
 * their word, and their X-Forwarded-For is ignored.
 */
import { BlockList, isIP } from 'node:net'

export interface TrustedProxies {
  /** Whether a connection from `address` is one of the configured proxies. */
  has(address: string): boolean
}

/** Entries are IP addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`), already validated by config. */
export function trustedProxies(entries: readonly string[]): TrustedProxies | undefined {
  if (entries.length === 0) return undefined
  const list = new BlockList()
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined]
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
    if (prefix === undefined) list.addAddress(address, family)
    else list.addSubnet(address, Number(prefix), family)
  }
  return {
    has(address) {
      const plain = unmapped(address)
      const family = isIP(plain)
      return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4')
    },
  }
}

/** `::ffff:192.0.2.1` (an IPv4 client of a dual-stack socket) as `192.0.2.1`. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}

/**
 * The client address of a request that arrived from `socketAddress` with these X-Forwarded-For
 * values (every header, in order).
 */
export function clientAddress(
  socketAddress: string,
  forwardedFor: readonly string[],
  proxies: TrustedProxies | undefined,
): string {
  if (proxies === undefined || forwardedFor.length === 0 || !proxies.has(socketAddress)) {
    return socketAddress
  }
  const hops = forwardedFor.join(',').split(',')
  let client = socketAddress
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = unmapped((hops[i] as string).trim())
    // Garbage where an address belongs: stop at the last hop that is known.
    if (isIP(hop) === 0) return client
    client = hop
    if (!proxies.has(hop)) return client
  }
  return client
}
