/** Assertions every conformance suite shares. */
import assert from 'node:assert/strict'
import type { HttpResult } from './harness.ts'

/** RFC 6749 §5.1 and checklist Q-11: nothing a token endpoint answers may be cached. */
export function assertNoStore(res: HttpResult): void {
  assert.equal(res.headers.get('cache-control'), 'no-store')
  assert.equal(res.headers.get('pragma'), 'no-cache')
}

export function assertJson(res: HttpResult): void {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/)
}

/** An RFC 6749 §5.2 error: the status, a JSON body with `error`, never cacheable. */
export function assertError(
  res: HttpResult,
  status: number,
  error: string,
): Record<string, unknown> {
  assert.equal(res.status, status, res.text)
  assertJson(res)
  assertNoStore(res)
  const body = res.json()
  assert.equal(body.error, error)
  return body
}

/** Neither the body nor any header repeats one of `values` (tokens, secrets). */
export function assertNotEchoed(res: HttpResult, ...values: string[]): void {
  const headers = [...res.headers].map(([name, value]) => `${name}: ${value}`).join('\n')
  for (const value of values) {
    assert.equal(res.text.includes(value), false, 'the body does not echo a secret or a token')
    assert.equal(headers.includes(value), false, 'no header echoes a secret or a token')
  }
}
