/**
 * close() under traffic: a keep-alive client that keeps sending (a resource server's connection
 * pool) must not hold the server open. Requests that arrive while closing are answered with
 * `Connection: close`, which ends their connection.
 */
import assert from 'node:assert/strict'
import { Agent, type IncomingMessage, request } from 'node:http'
import { test } from 'node:test'
import { createAuthorizationServer, createLogger, parseConfig } from '@keyhole/server'
import { fixtureConfig } from '../../../conformance/support/harness.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Answer {
  readonly status: number
  readonly connection: string
}

function get(url: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume()
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection ?? '' }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

test('close() with a request in flight on a keep-alive connection that keeps sending: the next answer says Connection: close, and close() does not wait for the client to stop', async () => {
  const config = parseConfig(
    {
      ...fixtureConfig({ log: { level: 'error', requests: false } }),
      port: 0,
      storage: 'sqlite::memory:',
    },
    '/',
  )
  const server = await createAuthorizationServer(config, {
    logger: createLogger({ level: 'error' }),
  })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  let stop = false
  try {
    assert.equal((await get(`${server.url}/healthz`, agent)).status, 200)
    // A request whose body is still arriving when close() begins.
    const body = 'token=kh_at_x'
    const inFlight = request(`${server.url}/introspect`, {
      agent,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': String(body.length),
      },
    })
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      inFlight.on('response', resolve)
      inFlight.on('error', reject)
    })
    inFlight.write(body.slice(0, 4))
    await sleep(50)
    const closed = server.close().then(() => 'closed' as const)
    inFlight.end(body.slice(4))
    const res = await answered
    res.resume()
    assert.equal(res.statusCode, 401)
    // The client keeps sending on its connection, as a pool does; the server must not keep
    // serving it for ever.
    const later: Answer[] = []
    const traffic = (async () => {
      while (!stop) {
        await get(`${server.url}/healthz`, agent).then(
          (answer) => later.push(answer),
          () => sleep(5),
        )
      }
    })()
    const outcome = await Promise.race([closed, sleep(2_000).then(() => 'still open' as const)])
    stop = true
    await traffic
    assert.equal(outcome, 'closed', `${later.length} requests served after close()`)
    assert.ok(later.length <= 1, `${later.length} requests served after close()`)
    for (const answer of later) assert.equal(answer.connection, 'close')
  } finally {
    stop = true
    agent.destroy()
  }
})
