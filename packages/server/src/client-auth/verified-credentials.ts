/**
 * Credentials verified moments ago, so that a caller presenting the same ones on every request
 * (a resource server introspecting) is not looked up and hashed again each time.
 *
 * Bounded staleness, by design (docs/architecture.md): an entry lives `ttlMs` from the moment its
 * secret was checked against the store, and using it does not extend it. A credential removed or
 * re-keyed in the store by another process keeps working for at most that long in this process;
 * changes made through this process (syncPrincipals) empty the cache at once. Only successes are
 * remembered, and the failed-authentication throttle is checked before an entry is used.
 *
 * Keys are SHA-256 of what the caller presented (the Authorization header value, or the client_id
 * and secret of client_secret_post), never the raw secret. The table is bounded.
 */
import { hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Store } from '../store/store.ts'
import type { AuthenticatedCaller } from './authenticate.ts'

export interface VerifiedCredential {
  readonly caller: AuthenticatedCaller
  /**
   * The client ids the presented credentials named, in the order they were tried: the throttle
   * key and the client_id-in-body check read them, exactly as they would after parsing again.
   */
  readonly clientIds: readonly string[]
}

export interface VerifiedCredentials {
  get(key: string): VerifiedCredential | undefined
  remember(key: string, verified: VerifiedCredential): void
  clear(): void
}

const MAX_ENTRIES = 10_000

/** `ttlMs` 0 turns the cache off: every request is checked against the store. */
export function createVerifiedCredentials(ttlMs: number): VerifiedCredentials {
  if (ttlMs === 0) return { get: () => undefined, remember() {}, clear() {} }
  // No ttlAutopurge (it halves set speed); expired entries are dropped when read. updateAgeOnGet
  // stays off: the age counts from the check against the store, not from the last use.
  const entries = new LRUCache<string, VerifiedCredential>({ max: MAX_ENTRIES, ttl: ttlMs })
  return {
    get: (key) => entries.get(key),
    remember(key, verified) {
      entries.set(key, verified)
    },
    clear() {
      entries.clear()
    },
  }
}

/** The key for a client_secret_basic Authorization header value. */
export function basicCredentialKey(authorization: string): string {
  return hash('sha256', `basic\n${authorization}`, 'base64')
}

/** The key for client_secret_post credentials (the id's length keeps id and secret apart). */
export function postCredentialKey(clientId: string, secret: string): string {
  return hash('sha256', `post\n${clientId.length}:${clientId}${secret}`, 'base64')
}

/** `store`, with every syncPrincipals also emptying `verified` (changes made in this process). */
export function forgettingOnSync(store: Store, verified: VerifiedCredentials): Store {
  return {
    async syncPrincipals(source, principals) {
      try {
        await store.syncPrincipals(source, principals)
      } finally {
        verified.clear()
      }
    },
    findPrincipal: (id) => store.findPrincipal(id),
    listResources: () => store.listResources(),
    insertToken: (record) => store.insertToken(record),
    findToken: (hash) => store.findToken(hash),
    revokeGrant: (hash, at) => store.revokeGrant(hash, at),
    deleteExpiredTokens: (before) => store.deleteExpiredTokens(before),
    ping: () => store.ping(),
    close: () => store.close(),
  }
}
