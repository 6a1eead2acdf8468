import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createRateLimiter } from '../src/throttle/rate-limiter.ts'

test('a bucket allows `limit` events, then asks to wait until one has refilled', () => {
  let now = 1_000
  const limiter = createRateLimiter({ limit: 3, windowSeconds: 60 }, () => now)
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.retryAfter('k'), 0)
    limiter.hitNow(['k'])
  }
  assert.equal(limiter.retryAfter('k'), 20, 'one event refills every 60/3 s')
  now += 10
  assert.equal(limiter.retryAfter('k'), 10)
  now += 10
  assert.equal(limiter.retryAfter('k'), 0)
})

test('keys are independent, and an untouched key is never limited', () => {
  const limiter = createRateLimiter({ limit: 1, windowSeconds: 60 }, () => 0)
  limiter.hitNow(['a'])
  assert.ok(limiter.retryAfter('a') > 0)
  assert.equal(limiter.retryAfter('b'), 0)
})

test('the key table is bounded: the oldest keys are forgotten', () => {
  const limiter = createRateLimiter({ limit: 1, windowSeconds: 60 }, () => 0, 2)
  limiter.hitNow(['a'])
  limiter.hitNow(['b'])
  limiter.hitNow(['c'])
  assert.equal(limiter.retryAfter('a'), 0)
  assert.ok(limiter.retryAfter('c') > 0)
})

test('check and hit take several keys: the longest wait counts, and hit says what it was before', async () => {
  const limiter = createRateLimiter({ limit: 2, windowSeconds: 60 }, () => 0)
  assert.equal(await limiter.hit(['ip', 'client-a']), 0)
  assert.equal(await limiter.hit(['ip', 'client-b']), 0)
  assert.equal(await limiter.check(['ip', 'client-c']), 30, 'the shared key is out of room')
  assert.equal(await limiter.check(['client-a']), 0, 'one of two spent')
  assert.equal(await limiter.hit(['ip', 'client-a']), 30, 'counted, and it had to wait already')
  assert.equal(limiter.retryAfter('client-a'), 30)
})
