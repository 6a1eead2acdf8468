import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createRateLimiter } from '../src/throttle/rate-limiter.ts'

test('a bucket allows `limit` events, then asks to wait until one has refilled', () => {
  let now = 1_000
  const limiter = createRateLimiter({ limit: 3, windowSeconds: 60 }, () => now)
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.retryAfter('k'), 0)
    limiter.hit('k')
  }
  assert.equal(limiter.retryAfter('k'), 20, 'one event refills every 60/3 s')
  now += 10
  assert.equal(limiter.retryAfter('k'), 10)
  now += 10
  assert.equal(limiter.retryAfter('k'), 0)
})

test('keys are independent, and an untouched key is never limited', () => {
  const limiter = createRateLimiter({ limit: 1, windowSeconds: 60 }, () => 0)
  limiter.hit('a')
  assert.ok(limiter.retryAfter('a') > 0)
  assert.equal(limiter.retryAfter('b'), 0)
})

test('the key table is bounded: the oldest keys are forgotten', () => {
  const limiter = createRateLimiter({ limit: 1, windowSeconds: 60 }, () => 0, 2)
  limiter.hit('a')
  limiter.hit('b')
  limiter.hit('c')
  assert.equal(limiter.retryAfter('a'), 0)
  assert.ok(limiter.retryAfter('c') > 0)
})
