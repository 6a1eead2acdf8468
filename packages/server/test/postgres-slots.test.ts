/**
 * The PostgreSQL store's operation slots (store/postgres/slots.ts): never more operations in
 * flight than the pool has connections, the others served in arrival order, and a queue that
 * stays correct across its compaction.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createSlots } from '../src/store/postgres/slots.ts'

test('at most `size` operations run at once; the rest run in arrival order', async () => {
  const slots = createSlots(3)
  let running = 0
  let most = 0
  const started: number[] = []
  const results = await Promise.all(
    Array.from({ length: 5_000 }, (_, i) =>
      slots.run(async () => {
        started.push(i)
        running += 1
        most = Math.max(most, running)
        await new Promise((resolve) => setImmediate(resolve))
        running -= 1
        return i * 2
      }),
    ),
  )
  assert.equal(most, 3)
  assert.deepEqual(
    started,
    Array.from({ length: 5_000 }, (_, i) => i),
    'in arrival order',
  )
  assert.deepEqual(
    results,
    Array.from({ length: 5_000 }, (_, i) => i * 2),
  )
})

test('a failing operation gives its slot back, and its error to its caller only', async () => {
  const slots = createSlots(1)
  const failed = slots.run(async () => {
    throw new Error('refused')
  })
  const next = slots.run(async () => 'ran')
  await assert.rejects(failed, /refused/)
  assert.equal(await next, 'ran')
  assert.equal(await slots.run(async () => 'free again'), 'free again')
})
