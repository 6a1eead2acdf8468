/** Assertions on verify() results and a request shape, shared by the resource-server suites. */
import assert from 'node:assert/strict'
import type { VerifyFailure, VerifyResult } from '@keyhole/resource-server'

/** A GET /orders request carrying `token` as a Bearer token. */
export const request = (token: string) => ({
  method: 'GET',
  url: '/orders',
  headers: { authorization: `Bearer ${token}` },
})

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function accepted(result: VerifyResult): Extract<VerifyResult, { ok: true }> {
  if (!result.ok)
    assert.fail(`expected success, got ${result.status} ${result.error}: ${result.description}`)
  return result
}

export function refused(result: VerifyResult, status: VerifyFailure['status']): VerifyFailure {
  if (result.ok) assert.fail(`expected ${status}, got success`)
  assert.equal(result.status, status, `${result.error}: ${result.description}`)
  return result
}
