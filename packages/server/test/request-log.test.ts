/**
 * Request logs are written to stdout in batches (log.ts): they must still show up promptly, and
 * none may be lost when the server is stopped (SIGTERM, as a supervisor does).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  fixtureConfig,
  getToken,
  introspect,
  startServer,
} from '../../../conformance/support/harness.ts'

const requestLines = (output: string) =>
  output.split('\n').filter((line) => line.includes('"msg":"request"')).length

test('a request line shows up in the output well under a second after the answer', async () => {
  const server = await startServer(fixtureConfig())
  try {
    const token = await getToken(server)
    while (requestLines(server.output()) < 1) await sleep(5) // the token request's line
    assert.equal((await introspect(server, token)).status, 200)
    const answered = performance.now()
    while (requestLines(server.output()) < 2 && performance.now() - answered < 1000) {
      await sleep(5)
    }
    const waited = performance.now() - answered
    assert.equal(requestLines(server.output()), 2)
    assert.ok(waited < 250, `the line took ${Math.round(waited)} ms`)
  } finally {
    await server.stop()
  }
})

test('every request line is in the output when the server exits on SIGTERM', async () => {
  const server = await startServer(fixtureConfig())
  const token = await getToken(server)
  const count = 400
  const answers = await Promise.all(Array.from({ length: count }, () => introspect(server, token)))
  assert.ok(answers.every((res) => res.status === 200))
  await server.stop()
  // The process is gone; what it wrote may still be in the pipe for a moment.
  const stopped = performance.now()
  while (requestLines(server.output()) < count + 1 && performance.now() - stopped < 2000) {
    await sleep(10)
  }
  // the token request, then the introspections
  assert.equal(requestLines(server.output()), count + 1)
})
