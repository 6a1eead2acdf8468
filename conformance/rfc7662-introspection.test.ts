import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { getToken, introspect, type RunningServer, startServer } from './support/harness.ts'

describe('RFC 7662 introspection', () => {
  let server: RunningServer
  before(async () => {
    server = await startServer()
  })
  after(() => server.stop())

  test('I-13 a fresh token is active for its resource', async () => {
    const token = await getToken(server)
    const res = await introspect(server, token)
    assert.equal(res.status, 200)
    assert.equal(res.json().active, true)
  })
})
