/**
 * RFC 8414 discovery: the metadata URL is built by inserting the well-known segment between the host
 * and the issuer's path (§3, pitfall P-11), and the document is used only if its `issuer` is
 * identical to the configured one, code point for code point (§3.3, §4).
 */
import type { AuthorizationServerMetadata } from '@keyhole/protocol'
import { type AsHttpClient, AsUnavailableError } from './http-client.ts'

export function metadataUrl(issuer: string): URL {
  const url = new URL(issuer)
  const path = url.pathname.replace(/\/$/, '')
  return new URL(`/.well-known/oauth-authorization-server${path}`, url.origin)
}

/** Misconfiguration: retrying will not help, but it is still the AS side failing, never the token. */
export class DiscoveryError extends AsUnavailableError {
  constructor(message: string) {
    super(message)
    this.name = 'DiscoveryError'
  }
}

export async function fetchMetadata(
  issuer: string,
  http: AsHttpClient,
  deadline: number,
): Promise<AuthorizationServerMetadata> {
  const res = await http.request(
    metadataUrl(issuer),
    { method: 'GET', headers: { accept: 'application/json' } },
    deadline,
  )
  if (res.status !== 200) throw new DiscoveryError(`metadata request answered ${res.status}`)
  let doc: unknown
  try {
    doc = JSON.parse(res.body.toString('utf8'))
  } catch {
    throw new DiscoveryError('the metadata document is not JSON')
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new DiscoveryError('the metadata document is not a JSON object')
  }
  const metadata = doc as AuthorizationServerMetadata
  // RFC 8414 §3.3: MUST be identical, or the data MUST NOT be used.
  if (metadata.issuer !== issuer) {
    throw new DiscoveryError('the metadata issuer is not identical to the configured issuer')
  }
  return metadata
}

/** Metadata fetched on first use, shared by concurrent callers, refetched after `refreshMs`. Failures are not kept. */
export function createMetadataSource(
  issuer: string,
  http: AsHttpClient,
  refreshMs = 3_600_000,
): (deadline: number) => Promise<AuthorizationServerMetadata> {
  let cached: { value: AuthorizationServerMetadata; at: number } | undefined
  let pending: Promise<AuthorizationServerMetadata> | undefined
  return (deadline) => {
    if (cached !== undefined && Date.now() - cached.at < refreshMs)
      return Promise.resolve(cached.value)
    pending ??= fetchMetadata(issuer, http, deadline)
      .then((value) => {
        cached = { value, at: Date.now() }
        return value
      })
      .finally(() => {
        pending = undefined
      })
    return pending
  }
}
