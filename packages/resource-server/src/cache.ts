/**
 * The introspection cache (checklist Q-04, I-24, P-15). It stores what the AS said about a token,
 * never a decision: policy runs on every request, cached or not.
 *
 * - Key: SHA-256 of the token, namespaced by issuer + audience + client (the raw token is never a key).
 * - Positive TTL: min(maxTtl, exp − now); a token without `exp` gets maxTtl, never "forever".
 *   `exp` is checked again on every hit (clock drift, I-24).
 * - Negative TTL: separate and short, in a separate, smaller LRU so a flood of garbage tokens can
 *   never evict good entries.
 * - Transport errors and 5xx are never cached (the caller simply does not store them).
 * - Stale-if-error (opt-in): after its TTL, a positive entry is kept for `staleIfError` more
 *   seconds, never past `exp`, to be served only when the AS cannot be reached.
 * - Single-flight: concurrent misses for one token share one introspection call.
 * - Second level: any `{get, set, delete}` store (Redis), shared by every process.
 */
import { LRUCache } from 'lru-cache'
import type { Introspected, TokenInfo } from './normalize.ts'

/** A shared cache level: node-redis, ioredis (through a wrapper), Memcached, ... */
export interface SecondLevelCache {
  get(key: string): Promise<string | null | undefined>
  set(key: string, value: string, ttlSeconds: number): Promise<unknown>
  delete(key: string): Promise<unknown>
}

export interface CacheOptions {
  /** Longest a positive answer is reused, seconds. Default 60. 0 turns caching off. */
  readonly maxTtl?: number
  /** How long an inactive answer is reused, seconds. Default 5. 0 turns negative caching off. */
  readonly negativeTtl?: number
  /** Entries kept in process. Default 10000 (negatives: a tenth of it, at least 100). */
  readonly maxEntries?: number
  /** Serve a positive entry up to this many seconds past its TTL while the AS is unreachable. Default 0 (off). */
  readonly staleIfError?: number
  readonly secondLevel?: SecondLevelCache
  /** How long to wait for the second level (get, set) before giving up on it, ms. Default 100. */
  readonly secondLevelTimeoutMs?: number
}

interface Entry {
  readonly value: Introspected
  /** epoch ms */
  readonly freshUntil: number
  readonly staleUntil: number
}

export interface Lookup {
  /** A fresh answer, or undefined on a miss. */
  readonly fresh?: Introspected
  /** A positive answer past its TTL but inside the stale-if-error window. */
  readonly stale?: TokenInfo
  readonly level?: 'l1' | 'l2'
}

export interface TokenCache {
  /**
   * A fresh answer from the in-process level alone, without waiting (the warm path of every
   * request), or undefined: then `lookup` decides (stale entries, the second level).
   */
  freshLocal(hash: string, nowMs?: number): Introspected | undefined
  lookup(hash: string): Promise<Lookup>
  store(hash: string, value: Introspected): Promise<void>
  purge(hash: string): Promise<void>
  /** Run `load` once for concurrent callers with the same hash. */
  singleFlight<T>(hash: string, load: () => Promise<T>): Promise<T>
}

export interface CacheEvents {
  secondLevelError(operation: 'get' | 'set' | 'delete', error: unknown): void
}

function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false
  const e = value as Record<string, unknown>
  const v = e.value as Record<string, unknown> | undefined
  return (
    typeof e.freshUntil === 'number' &&
    typeof e.staleUntil === 'number' &&
    typeof v === 'object' &&
    v !== null &&
    (v.active === false ||
      (v.active === true &&
        Array.isArray(v.scopes) &&
        Array.isArray(v.audience) &&
        typeof v.claims === 'object'))
  )
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export function createTokenCache(
  namespace: string,
  options: CacheOptions,
  events: CacheEvents,
  now: () => number = Date.now,
): TokenCache {
  const maxTtl = (options.maxTtl ?? 60) * 1000
  const negativeTtl = (options.negativeTtl ?? 5) * 1000
  const staleIfError = (options.staleIfError ?? 0) * 1000
  const maxEntries = options.maxEntries ?? 10_000
  const positives = new LRUCache<string, Entry>({ max: maxEntries })
  const negatives = new LRUCache<string, Entry>({ max: Math.max(100, Math.floor(maxEntries / 10)) })
  const inflight = new Map<string, Promise<unknown>>()
  const l2 = options.secondLevel
  const l2Timeout = options.secondLevelTimeoutMs ?? 100
  const l2Key = (hash: string) => `keyhole:rs:${namespace}:${hash}`

  // I-24: never past exp, whatever the entry says.
  const expired = ({ value }: Entry, t: number) =>
    value.active && value.exp !== undefined && value.exp * 1000 <= t

  function classify(entry: Entry, t: number): Lookup | undefined {
    const { value } = entry
    if (expired(entry, t)) return undefined
    if (t < entry.freshUntil) return { fresh: value }
    if (value.active && t < entry.staleUntil) return { stale: value }
    return undefined
  }

  function entryFor(value: Introspected, t: number): Entry | undefined {
    if (!value.active) {
      return negativeTtl > 0
        ? { value, freshUntil: t + negativeTtl, staleUntil: t + negativeTtl }
        : undefined
    }
    const expMs = value.exp === undefined ? Number.POSITIVE_INFINITY : value.exp * 1000
    const freshUntil = Math.min(t + maxTtl, expMs)
    if (freshUntil <= t) return undefined
    return { value, freshUntil, staleUntil: Math.min(freshUntil + staleIfError, expMs) }
  }

  /** One in-process level: what it knows of `hash` (dropping an entry past use), or undefined. */
  function local(level: LRUCache<string, Entry>, hash: string, t: number): Lookup | undefined {
    const entry = level.get(hash)
    if (entry === undefined) return undefined
    const found = classify(entry, t)
    if (found === undefined) {
      level.delete(hash)
      return undefined
    }
    return found.fresh === undefined ? found : { fresh: found.fresh, level: 'l1' }
  }

  return {
    freshLocal(hash, nowMs) {
      const t = nowMs ?? now()
      // Checked in the order `lookup` uses; anything but a fresh first find is left to `lookup`.
      const entry = positives.get(hash) ?? negatives.get(hash)
      if (entry === undefined || expired(entry, t) || t >= entry.freshUntil) return undefined
      return entry.value
    },

    async lookup(hash) {
      const t = now()
      const known = local(positives, hash, t) ?? local(negatives, hash, t)
      if (known !== undefined) return known
      if (l2 === undefined) return {}
      let raw: string | null | undefined
      try {
        // A slow shared cache must not slow every request: past the timeout it is a miss.
        raw = await withTimeout(l2.get(l2Key(hash)), l2Timeout)
      } catch (err) {
        events.secondLevelError('get', err)
        return {}
      }
      if (typeof raw !== 'string') return {}
      let entry: unknown
      try {
        entry = JSON.parse(raw)
      } catch {
        return {}
      }
      if (!isEntry(entry)) return {}
      const found = classify(entry, now())
      if (found === undefined) return {}
      ;(entry.value.active ? positives : negatives).set(hash, entry)
      return found.fresh === undefined ? found : { ...found, level: 'l2' }
    },

    async store(hash, value) {
      if (maxTtl === 0) return
      const t = now()
      const entry = entryFor(value, t)
      if (entry === undefined) return
      if (value.active) {
        negatives.delete(hash)
        positives.set(hash, entry)
      } else {
        positives.delete(hash)
        negatives.set(hash, entry)
      }
      if (l2 === undefined) return
      const ttlSeconds = Math.ceil((entry.staleUntil - t) / 1000)
      try {
        await withTimeout(l2.set(l2Key(hash), JSON.stringify(entry), ttlSeconds), l2Timeout)
      } catch (err) {
        events.secondLevelError('set', err)
      }
    },

    async purge(hash) {
      positives.delete(hash)
      negatives.delete(hash)
      if (l2 === undefined) return
      try {
        // A purge must reach the shared level, so it waits longer, then reports the failure.
        await withTimeout(l2.delete(l2Key(hash)), Math.max(l2Timeout, 1000))
      } catch (err) {
        events.secondLevelError('delete', err)
        throw err
      }
    },

    singleFlight<T>(hash: string, load: () => Promise<T>): Promise<T> {
      const pending = inflight.get(hash)
      if (pending !== undefined) return pending as Promise<T>
      const started = load().finally(() => inflight.delete(hash))
      inflight.set(hash, started)
      return started
    },
  }
}
