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
 * - Purges win races: an answer whose load began before a purge of its token (or a `clear()`) is
 *   handed to its callers but never stored, and later callers do not join that load. A pushed
 *   revocation (revocation-events.ts) can overtake the introspection it makes stale.
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
  /**
   * epoch ms: when the load that produced it began (before the AS was asked). An entry from the
   * shared level loaded before a purge or clear this process knows of is not used: another
   * process may have stored it without having heard of the revocation yet.
   */
  readonly loadedAt?: number
}

export interface Lookup {
  /** A fresh answer, or undefined on a miss. */
  readonly fresh?: Introspected
  /** A positive answer past its TTL but inside the stale-if-error window. */
  readonly stale?: TokenInfo
  readonly level?: 'l1' | 'l2'
}

/** A point in the cache's history, taken before asking the AS (see `TokenCache.mark`). */
export interface CacheMark {
  /** Orders purges and loads in this process (a counter: same-millisecond events stay ordered). */
  readonly seq: number
  /** epoch ms: orders them against entries other processes put in the shared level. */
  readonly at: number
}

export interface TokenCache {
  /**
   * A fresh answer from the in-process level alone, without waiting (the warm path of every
   * request), or undefined: then `lookup` decides (stale entries, the second level).
   */
  freshLocal(hash: string, nowMs?: number): Introspected | undefined
  lookup(hash: string): Promise<Lookup>
  /**
   * Take before asking the AS and pass to `store`: an answer whose load began before a purge of
   * the same hash, or before a `clear()`, may already be stale and is not stored.
   */
  mark(): CacheMark
  store(hash: string, value: Introspected, since?: CacheMark): Promise<void>
  /** Drop one answer from both levels; loads of it already under way will not store theirs. */
  purge(hash: string): Promise<void>
  /**
   * Drop every answer of the in-process level (and make loads under way not store theirs). The
   * second level has no "delete everything in this namespace" in its `{get, set, delete}`
   * contract, so its entries stay until their own TTL, but this process no longer uses those
   * loaded before the clear (see `loadedAt`).
   */
  clear(): void
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
    (e.loadedAt === undefined || typeof e.loadedAt === 'number') &&
    (v.active === false ||
      (v.active === true &&
        Array.isArray(v.scopes) &&
        Array.isArray(v.audience) &&
        typeof v.claims === 'object'))
  )
}

/**
 * How long a purge is remembered by hash, at least: longer than one introspection (its deadline
 * is `http.timeoutMs`, 2 s by default). It is also kept as long as a shared-level entry loaded
 * before it can live (`maxTtl` + `staleIfError` + this margin). Older or evicted purges are not
 * forgotten but folded into one "everything before" mark, which is only more conservative.
 */
const PURGE_MEMORY_MIN_MS = 30_000
const PURGE_MEMORY_ENTRIES = 10_000
/**
 * How far the clocks of an API's processes may disagree: a shared-level entry whose load began
 * less than this after a purge (or clear) is not trusted either.
 */
const CLOCK_SKEW_MS = 5_000

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
  // A counter, not a clock: a purge and a load in the same millisecond are still ordered.
  let sequence = 0
  /** Loads whose mark is below this store nothing (a clear, or purges no longer remembered one by one). */
  let floor = 0
  /** The same line in wall-clock time (epoch ms), for entries other processes stored; 0: none. */
  let wallFloor = 0
  const purgeMemoryMs = Math.max(PURGE_MEMORY_MIN_MS, maxTtl + staleIfError + 30_000)
  /** Recent purges by hash, oldest first (a Map keeps insertion order). */
  const purged = new Map<string, { readonly seq: number; readonly at: number }>()

  function rememberPurge(hash: string, t: number) {
    purged.delete(hash)
    purged.set(hash, { seq: ++sequence, at: t })
    for (const [oldest, { seq, at }] of purged) {
      if (purged.size <= PURGE_MEMORY_ENTRIES && t - at < purgeMemoryMs) break
      purged.delete(oldest)
      floor = Math.max(floor, seq)
      wallFloor = Math.max(wallFloor, at)
    }
  }

  /** Whether an answer loaded since `since` may have been overtaken by a purge or a clear. */
  function overtaken(hash: string, since: CacheMark): boolean {
    if (since.seq < floor) return true
    const purge = purged.get(hash)
    return purge !== undefined && purge.seq > since.seq
  }

  /**
   * Whether a shared-level entry began loading before a purge of its token or a clear that this
   * process knows of (within the clock margin). Another process may have stored it before it
   * heard of the revocation, or never heard of it at all, so it is not used.
   */
  function loadedBeforePurge(hash: string, loadedAt: number): boolean {
    const line = Math.max(wallFloor, purged.get(hash)?.at ?? 0)
    return line > 0 && loadedAt < line + CLOCK_SKEW_MS
  }

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

  function entryFor(value: Introspected, t: number, loadedAt: number): Entry | undefined {
    if (!value.active) {
      return negativeTtl > 0
        ? { value, freshUntil: t + negativeTtl, staleUntil: t + negativeTtl, loadedAt }
        : undefined
    }
    const expMs = value.exp === undefined ? Number.POSITIVE_INFINITY : value.exp * 1000
    const freshUntil = Math.min(t + maxTtl, expMs)
    if (freshUntil <= t) return undefined
    return { value, freshUntil, staleUntil: Math.min(freshUntil + staleIfError, expMs), loadedAt }
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
      const since: CacheMark = { seq: sequence, at: t }
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
      // An entry from before the version that records loadedAt counts as loaded long ago.
      if (loadedBeforePurge(hash, entry.loadedAt ?? 0)) return {}
      const found = classify(entry, now())
      if (found === undefined) return {}
      // A purge that came while the second level was read may have made this entry stale: the
      // caller gets what it read, but it does not come back into the first level.
      if (!overtaken(hash, since)) (entry.value.active ? positives : negatives).set(hash, entry)
      return found.fresh === undefined ? found : { ...found, level: 'l2' }
    },

    mark: () => ({ seq: sequence, at: now() }),

    async store(hash, value, since) {
      if (maxTtl === 0) return
      if (since !== undefined && overtaken(hash, since)) return
      const t = now()
      const entry = entryFor(value, t, since?.at ?? t)
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
      rememberPurge(hash, now())
      // Later callers start a fresh load instead of joining one that began before the purge.
      inflight.delete(hash)
      if (l2 === undefined) return
      try {
        // A purge must reach the shared level, so it waits longer, then reports the failure.
        await withTimeout(l2.delete(l2Key(hash)), Math.max(l2Timeout, 1000))
      } catch (err) {
        events.secondLevelError('delete', err)
        throw err
      }
    },

    clear() {
      positives.clear()
      negatives.clear()
      purged.clear()
      floor = ++sequence
      // Shared-level entries loaded before now are not used either (they may be of tokens
      // revoked while this process heard nothing); they are asked for again.
      wallFloor = now()
      inflight.clear()
    },

    singleFlight<T>(hash: string, load: () => Promise<T>): Promise<T> {
      const pending = inflight.get(hash)
      if (pending !== undefined) return pending as Promise<T>
      const started: Promise<T> = load().finally(() => {
        // A purge may have detached this load and a newer one taken its place.
        if (inflight.get(hash) === started) inflight.delete(hash)
      })
      inflight.set(hash, started)
      return started
    },
  }
}
