/**
 * Checklist Q-04 / I-25: the shared (second) cache level never brings a revoked token back into
 * a process that was told of the revocation. Two caches stand for two processes of one API; the
 * shared level is a plain Map behind the `{get, set, delete}` contract (the Redis one is tested
 * against redis-server in redis.test.ts), and the clock is injected.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createTokenCache, type SecondLevelCache, type TokenCache } from '../src/cache.ts'
import type { TokenInfo } from '../src/normalize.ts'

const HASH = 'x'.repeat(43)
const ACTIVE: TokenInfo = { active: true, scopes: ['orders:read'], audience: ['api'], claims: {} }

function sharedLevel(): SecondLevelCache & { readonly entries: Map<string, string> } {
  const entries = new Map<string, string>()
  return {
    entries,
    async get(key) {
      return entries.get(key) ?? null
    },
    async set(key, value) {
      entries.set(key, value)
    },
    async delete(key) {
      entries.delete(key)
    },
  }
}

function processes(l2: SecondLevelCache, clock: { t: number }): [TokenCache, TokenCache] {
  const events = { secondLevelError() {} }
  const make = () => createTokenCache('ns', { secondLevel: l2 }, events, () => clock.t)
  return [make(), make()]
}

test('control: an answer one process stored is found by the other in the shared level', async () => {
  const clock = { t: 1_000_000 }
  const [a, b] = processes(sharedLevel(), clock)
  await b.store(HASH, ACTIVE, b.mark())
  assert.deepEqual((await a.lookup(HASH)).fresh, ACTIVE)
})

test('an answer loaded before a purge this process heard of is not taken from the shared level', async () => {
  const clock = { t: 1_000_000 }
  const l2 = sharedLevel()
  const [a, b] = processes(l2, clock)
  // B asks the AS before the revocation; A hears of it; B, not yet told, stores what it got.
  const loading = b.mark()
  clock.t += 50
  await a.purge(HASH)
  clock.t += 50
  await b.store(HASH, ACTIVE, loading)
  assert.equal(l2.entries.size, 1, 'B put it in the shared level')
  assert.equal((await a.lookup(HASH)).fresh, undefined, 'A does not take it back')
  // Still refused later, for as long as such an entry can live there.
  clock.t += 59_000
  assert.equal((await a.lookup(HASH)).fresh, undefined)
})

test('an answer loaded well after the purge is used again', async () => {
  const clock = { t: 1_000_000 }
  const [a, b] = processes(sharedLevel(), clock)
  await a.purge(HASH)
  clock.t += 10_000
  await b.store(HASH, ACTIVE, b.mark())
  assert.deepEqual((await a.lookup(HASH)).fresh, ACTIVE)
})

test('after clear() (a `reset`), shared entries loaded before it are not used', async () => {
  const clock = { t: 1_000_000 }
  const [a, b] = processes(sharedLevel(), clock)
  await b.store(HASH, ACTIVE, b.mark())
  clock.t += 1_000
  a.clear()
  assert.equal((await a.lookup(HASH)).fresh, undefined)
  // B, which cleared nothing, still uses it: the line is A's knowledge, not a deletion.
  assert.deepEqual((await b.lookup(HASH)).fresh, ACTIVE)
})

test('an entry stored without loadedAt (an older version) counts as loaded long ago', async () => {
  const clock = { t: 1_000_000 }
  const l2 = sharedLevel()
  const [a] = processes(l2, clock)
  const entry = { value: ACTIVE, freshUntil: clock.t + 60_000, staleUntil: clock.t + 60_000 }
  l2.entries.set(`keyhole:rs:ns:${HASH}`, JSON.stringify(entry))
  assert.deepEqual((await a.lookup(HASH)).fresh, ACTIVE, 'used while nothing was purged')
  clock.t += 10
  await a.purge(HASH)
  l2.entries.set(`keyhole:rs:ns:${HASH}`, JSON.stringify(entry))
  assert.equal((await a.lookup(HASH)).fresh, undefined, 'not after a purge')
})

test('a shared-level read under way when the token is purged is not used, nor kept in process', async () => {
  const clock = { t: 1_000_000 }
  const l2 = sharedLevel()
  let release: () => void = () => {}
  let holding = false
  const held: SecondLevelCache = {
    ...l2,
    async get(key) {
      const value = await l2.get(key)
      if (holding) await new Promise<void>((resolve) => (release = resolve))
      return value
    },
  }
  const [a, b] = processes(held, clock)
  await b.store(HASH, ACTIVE, b.mark())
  clock.t += 10_000
  holding = true
  const reading = a.lookup(HASH)
  await new Promise((resolve) => setImmediate(resolve))
  await a.purge(HASH)
  release()
  holding = false
  assert.equal((await reading).fresh, undefined, 'what it read predates the purge')
  assert.equal(a.freshLocal(HASH, clock.t), undefined, 'but it is not kept in process')
})
