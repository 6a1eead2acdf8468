/**
 * Credentials verified moments ago, so that a caller presenting the same ones on every request
 * (a resource server introspecting) is not looked up and hashed again each time.
 *
 * Bounded staleness, by design (docs/architecture.md): an entry lives `ttlMs` from the moment its
 * secret was checked against the store, and using it does not extend it. A credential removed or
 * re-keyed in the store by another process keeps working for at most that long in this process;
 * changes made through this process (syncPrincipals) empty the cache at once. Only successes are
 * remembered; credentials that passed are no guesses, so the failed-authentication throttle does not
 * hold them back (authenticate.ts).
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
  /** Verified less than `ttlMs` ago: taken as verified without a check. */
  get(key: string): VerifiedCredential | undefined
  /**
   * These exact credentials passed a check within the last hour. They are checked against the
   * store again, but the failed-authentication throttle does not hold them back: it is there for
   * guesses, and a guess never has this key (the key is a hash of the credentials themselves).
   * So a flood of wrong secrets from one address (a proxy every caller shares) locks out no
   * caller that has authenticated before.
   */
  known(key: string): boolean
  remember(key: string, verified: VerifiedCredential): void
  /** These credentials failed a check: they are known no more. */
  forget(key: string): void
  clear(): void
}

const MAX_ENTRIES = 10_000
/** How long credentials that passed a check stay known (not verified: known). */
const KNOWN_FOR_MS = 60 * 60 * 1000

/** `ttlMs` 0 turns the verified cache off: every request is checked against the store. */
export function createVerifiedCredentials(ttlMs: number): VerifiedCredentials {
  // No ttlAutopurge (it halves set speed); expired entries are dropped when read. updateAgeOnGet
  // stays off: the age counts from the check against the store, not from the last use.
  const entries =
    ttlMs === 0
      ? undefined
      : new LRUCache<string, VerifiedCredential>({ max: MAX_ENTRIES, ttl: ttlMs })
  const knownKeys = new LRUCache<string, true>({ max: MAX_ENTRIES, ttl: KNOWN_FOR_MS })
  return {
    get: (key) => entries?.get(key),
    known: (key) => knownKeys.has(key),
    remember(key, verified) {
      entries?.set(key, verified)
      knownKeys.set(key, true)
    },
    forget(key) {
      entries?.delete(key)
      knownKeys.delete(key)
    },
    clear() {
      entries?.clear()
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
    claimAssertionId: (key, expiresAt, now) => store.claimAssertionId(key, expiresAt, now),
    ping: () => store.ping(),
    close: () => store.close(),
    ...(store.revocations === undefined ? {} : { revocations: store.revocations }),
  }
}
