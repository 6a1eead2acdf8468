/**
 * Revocation events (docs/revocation-events.md), black box: the real `keyhole serve`, a resource
 * subscribing over real HTTP and reading the Server-Sent Events as they arrive. Then the event
 * hub on its own, for what needs many events or a short heartbeat.
 */
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { after, before, describe, test } from 'node:test'
import { createAuthorizationServer, createLogger, parseConfig } from '@keyhole/server'
import {
  BILLING,
  BILLING_AUD,
  base,
  fixtureConfig,
  get,
  getToken,
  ORDERS,
  ORDERS_AUD,
  post,
  type RunningServer,
  revoke,
  SHOP,
  startServer,
} from '../../../conformance/support/harness.ts'
import type { TokenHash } from '../src/brand.ts'
import { createRevocationEvents, type EventSink } from '../src/events/revocation-events.ts'
import { hashOf, subscribe } from './support/event-stream.ts'

async function tokenFor(server: RunningServer, audience: string, scope: string): Promise<string> {
  return getToken(server, SHOP, { scope, resource: audience })
}

describe('revocation events: keyhole serve', () => {
  let server: RunningServer
  before(async () => {
    server = await startServer(fixtureConfig({ limits: { revocationStreamsPerResource: 4 } }))
  })
  after(async () => {
    await server.stop()
  })

  test('the metadata names the endpoint (an RFC 8414 §2 extension member)', async () => {
    const res = await get(`${base(server)}/.well-known/oauth-authorization-server`)
    assert.equal(res.json().keyhole_revocation_events_endpoint, `${base(server)}/revocation-events`)
  })

  test('a resource gets a stream that starts with `ready`: an id and the heartbeat', async () => {
    const stream = await subscribe(server)
    try {
      assert.equal(stream.status, 200)
      assert.equal(stream.headers.get('content-type'), 'text/event-stream')
      assert.equal(stream.headers.get('cache-control'), 'no-store')
      const ready = await stream.next()
      assert.equal(ready.event, 'ready')
      assert.match(ready.id ?? '', /^[A-Za-z0-9_-]+\.\d+$/)
      assert.deepEqual(JSON.parse(ready.data), { heartbeat: 15 })
    } finally {
      stream.close()
    }
  })

  test('a revoked token is told at once, by its hash, to the resources it was meant for only', async () => {
    const orders = await subscribe(server, ORDERS)
    const billing = await subscribe(server, BILLING)
    try {
      await orders.next()
      await billing.next()
      const forOrders = await tokenFor(server, ORDERS_AUD, 'orders:read')
      const before = Date.now()
      assert.equal((await revoke(server, forOrders)).status, 200)
      const event = await orders.next()
      assert.equal(event.event, 'revoked')
      const data = JSON.parse(event.data) as { token_hashes: string[]; revoked_at: number }
      assert.deepEqual(data.token_hashes, [hashOf(forOrders)])
      assert.ok(data.revoked_at >= before - 1_000 && data.revoked_at <= Date.now() + 1_000)
      assert.ok(!event.data.includes(forOrders), 'never the token itself')

      // Billing heard nothing of it: the first event it gets is about its own token.
      const forBilling = await tokenFor(server, BILLING_AUD, 'billing:read')
      await revoke(server, forBilling)
      const billingEvent = await billing.next()
      assert.deepEqual(JSON.parse(billingEvent.data).token_hashes, [hashOf(forBilling)])
    } finally {
      orders.close()
      billing.close()
    }
  })

  test('revoking twice, or another client’s token, tells nobody anything', async () => {
    const orders = await subscribe(server, ORDERS)
    try {
      await orders.next()
      const token = await tokenFor(server, ORDERS_AUD, 'orders:read')
      await revoke(server, token, ['other', 'other-secret']) // not its client: nothing revoked
      const first = await tokenFor(server, ORDERS_AUD, 'orders:read')
      await revoke(server, first)
      assert.deepEqual(
        JSON.parse((await orders.next()).data).token_hashes,
        [hashOf(first)],
        'the other client’s attempt told nothing',
      )
      await revoke(server, token)
      await revoke(server, token) // already revoked: nothing changed
      const marker = await tokenFor(server, ORDERS_AUD, 'orders:read')
      await revoke(server, marker)
      assert.deepEqual(JSON.parse((await orders.next()).data).token_hashes, [hashOf(token)])
      assert.deepEqual(
        JSON.parse((await orders.next()).data).token_hashes,
        [hashOf(marker)],
        'the second revocation told nothing',
      )
    } finally {
      orders.close()
    }
  })

  test('reconnecting with last_event_id replays what was revoked in between', async () => {
    const first = await subscribe(server)
    const ready = await first.next()
    first.close()
    const missed = await tokenFor(server, ORDERS_AUD, 'orders:read')
    await revoke(server, missed)
    const again = await subscribe(server, ORDERS, { last_event_id: ready.id ?? '' })
    try {
      const replayed = await again.next()
      assert.equal(replayed.event, 'revoked')
      assert.deepEqual(JSON.parse(replayed.data).token_hashes, [hashOf(missed)])
      const nowReady = await again.next()
      assert.equal(nowReady.event, 'ready')
      assert.equal(nowReady.id, replayed.id, 'the position is the last event')
    } finally {
      again.close()
    }
  })

  for (const [name, id] of [
    ['another server’s (or an earlier boot’s) id', 'AAAAAAAA.1'],
    ['a malformed id', 'not an id'],
    ['an over-long id', `x.${'1'.repeat(200)}`],
  ] as const) {
    test(`${name} gets \`reset\` (drop everything), then \`ready\``, async () => {
      const stream = await subscribe(server, ORDERS, { last_event_id: id })
      try {
        assert.equal(stream.status, 200)
        assert.equal((await stream.next()).event, 'reset')
        assert.equal((await stream.next()).event, 'ready')
      } finally {
        stream.close()
      }
    })
  }

  test('an id from the future of this boot gets `reset`', async () => {
    const probe = await subscribe(server)
    const ready = await probe.next()
    probe.close()
    const [boot] = (ready.id ?? '').split('.')
    const stream = await subscribe(server, ORDERS, { last_event_id: `${boot}.999999` })
    try {
      assert.equal((await stream.next()).event, 'reset')
    } finally {
      stream.close()
    }
  })

  test('only an authenticated resource may subscribe', async () => {
    const url = `${base(server)}/revocation-events`
    const none = await post(url)
    assert.equal(none.status, 401)
    assert.equal(none.json().error, 'invalid_client')
    const wrong = await post(url, { basic: ['orders', 'wrong-secret'] })
    assert.equal(wrong.status, 401)
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic /)
    const client = await post(url, { basic: SHOP })
    assert.equal(client.status, 400)
    assert.equal(client.json().error, 'unauthorized_client')
    const viaGet = await get(url)
    assert.equal(viaGet.status, 405)
  })

  test('a resource may hold limits.revocationStreamsPerResource streams; one more is 429 with Retry-After', async () => {
    const streams = await Promise.all(Array.from({ length: 4 }, () => subscribe(server, BILLING)))
    try {
      for (const s of streams) assert.equal((await s.next()).event, 'ready')
      const refused = await post(`${base(server)}/revocation-events`, { basic: BILLING })
      assert.equal(refused.status, 429)
      assert.equal(refused.headers.get('retry-after'), '30')
      assert.equal(refused.json().error, 'temporarily_unavailable')
      // Another resource is not held back by billing's streams.
      const orders = await subscribe(server, ORDERS)
      assert.equal(orders.status, 200)
      orders.close()
    } finally {
      for (const s of streams) s.close()
    }
    // Closed streams give their places back.
    await waitFor(async () => {
      const s = await subscribe(server, BILLING)
      s.close()
      return s.status === 200
    })
  })
})

describe('revocation events: switched off', () => {
  let server: RunningServer
  before(async () => {
    server = await startServer(fixtureConfig({ features: { revocationEvents: false } }))
  })
  after(async () => {
    await server.stop()
  })

  test('no endpoint, and none in the metadata', async () => {
    const res = await get(`${base(server)}/.well-known/oauth-authorization-server`)
    assert.equal(res.json().keyhole_revocation_events_endpoint, undefined)
    const stream = await post(`${base(server)}/revocation-events`, { basic: ORDERS })
    assert.equal(stream.status, 404)
  })
})

test('revocation events: shutting the server down ends open streams at once, cleanly', async () => {
  const config = parseConfig(
    { ...fixtureConfig(), storage: 'sqlite::memory:', log: { level: 'error', requests: false } },
    tmpdir(),
    { port: 0, host: '127.0.0.1' },
  )
  const server = await createAuthorizationServer(config, {
    logger: createLogger({ level: 'error', write: () => {} }),
  })
  const running = { url: server.url, issuer: server.issuer } as RunningServer
  const stream = await subscribe(running)
  assert.equal((await stream.next()).event, 'ready')
  const closing = server.close()
  // Ended by the server as it closes, not cut with the connection when the 5 s grace period
  // for busy connections runs out (which would hold every shutdown up that long).
  const first = await Promise.race([
    stream.ended.then(() => 'ended'),
    new Promise((resolve) => setTimeout(() => resolve('still open after 2.5 s'), 2_500)),
  ])
  assert.equal(first, 'ended')
  await closing
})

async function waitFor(check: () => Promise<boolean>, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// --- the hub on its own -----------------------------------------------------------------------

interface RecordingSink extends EventSink {
  readonly frames: string[]
  ended: boolean
}

function recordingSink(accept = () => true): RecordingSink {
  const sink: RecordingSink = {
    frames: [],
    ended: false,
    write(frame) {
      sink.frames.push(frame)
      return accept()
    },
    end() {
      sink.ended = true
    },
  }
  return sink
}

const revokedToken = (
  audience: string[],
  kind: 'access_token' | 'refresh_token' = 'access_token',
) => ({
  hash: hashOf(`${Math.random()}`) as TokenHash,
  kind,
  audience,
})
const ORDERS_SUB = { resourceId: 'orders', audience: ORDERS_AUD }
const idIn = (frame: string) => /\nid: (\S+)\n/.exec(frame)?.[1] ?? ''

describe('revocation events: the hub', () => {
  test('events older than what is kept cannot be replayed: `reset`', () => {
    const hub = createRevocationEvents({ retain: 2 })
    const sink = recordingSink()
    assert.equal(typeof hub.subscribe(ORDERS_SUB, undefined, sink), 'function')
    const start = idIn(sink.frames[0] ?? '')
    for (let i = 0; i < 3; i++) hub.publish([revokedToken([ORDERS_AUD])], Date.now())
    const late = recordingSink()
    hub.subscribe(ORDERS_SUB, start, late)
    assert.match(late.frames[0] ?? '', /^event: reset\n/)
    // One event behind, though, is still here.
    const second = idIn(sink.frames[2] ?? '')
    const near = recordingSink()
    hub.subscribe(ORDERS_SUB, second, near)
    assert.deepEqual(
      near.frames.map((f) => f.split('\n')[0]),
      ['event: revoked', 'event: ready'],
    )
    hub.close()
  })

  test('reset (revocations lost upstream) tells every stream, and old ids are not resumed from', () => {
    const hub = createRevocationEvents()
    const live = recordingSink()
    hub.subscribe(ORDERS_SUB, undefined, live)
    hub.publish([revokedToken([ORDERS_AUD])], 1)
    const lastBefore = idIn(live.frames[1] ?? '')
    hub.reset()
    assert.match(live.frames[2] ?? '', /^event: reset\n/)
    assert.equal(live.ended, false, 'the stream goes on')
    const back = recordingSink()
    hub.subscribe(ORDERS_SUB, lastBefore, back)
    assert.match(back.frames[0] ?? '', /^event: reset\n/, 'what came before cannot be trusted')
    // Ids given after the reset are resumed from as usual.
    hub.publish([revokedToken([ORDERS_AUD])], 2)
    const after = idIn(live.frames[3] ?? '')
    assert.match(live.frames[3] ?? '', /^event: revoked\n/)
    const resumed = recordingSink()
    hub.subscribe(ORDERS_SUB, after, resumed)
    assert.match(resumed.frames[0] ?? '', /^event: ready\n/)
    hub.close()
  })

  test('heartbeats carry the position: a quiet subscriber resumes from there, not from `reset`', async () => {
    const hub = createRevocationEvents({ heartbeatMs: 20, retain: 2 })
    const quiet = recordingSink()
    hub.subscribe(ORDERS_SUB, undefined, quiet)
    // Revocations that do not concern it, more than the hub keeps.
    for (let i = 0; i < 5; i++) hub.publish([revokedToken([BILLING_AUD])], i)
    await waitFor(async () => quiet.frames.some((f) => f.startsWith('event: heartbeat\n')))
    const beat = quiet.frames.find((f) => f.startsWith('event: heartbeat\n')) ?? ''
    assert.match(beat, /^event: heartbeat\nid: \S+\.5\ndata: \{\}\n\n$/)
    const back = recordingSink()
    hub.subscribe(ORDERS_SUB, idIn(beat), back)
    assert.match(back.frames[0] ?? '', /^event: ready\n/, 'no reset')
    // The id of `ready` alone, from before those revocations, could not be resumed from.
    const stale = recordingSink()
    hub.subscribe(ORDERS_SUB, idIn(quiet.frames[0] ?? ''), stale)
    assert.match(stale.frames[0] ?? '', /^event: reset\n/)
    hub.close()
  })

  test('refresh tokens and other audiences are left out; an event naming nothing is not sent', () => {
    const hub = createRevocationEvents()
    const sink = recordingSink()
    hub.subscribe(ORDERS_SUB, undefined, sink)
    hub.publish([revokedToken([BILLING_AUD]), revokedToken([ORDERS_AUD], 'refresh_token')], 1)
    assert.equal(sink.frames.length, 1, 'only `ready`')
    const both = revokedToken([BILLING_AUD, ORDERS_AUD])
    hub.publish([both, revokedToken([BILLING_AUD])], 2)
    assert.equal(sink.frames.length, 2)
    assert.match(sink.frames[1] ?? '', new RegExp(`"token_hashes":\\["${both.hash}"\\]`))
    hub.close()
  })

  test('a reader too slow to keep up is dropped, and its place given back', () => {
    const hub = createRevocationEvents({ perResource: 1 })
    let room = true
    const slow = recordingSink(() => room)
    hub.subscribe(ORDERS_SUB, undefined, slow)
    assert.equal(hub.accepts(ORDERS_SUB), false)
    room = false
    hub.publish([revokedToken([ORDERS_AUD])], 1)
    assert.equal(slow.ended, true)
    assert.equal(hub.open, 0)
    assert.equal(hub.accepts(ORDERS_SUB), true)
    hub.close()
  })

  test('heartbeats keep an idle stream alive; close() ends every stream and refuses new ones', async () => {
    const hub = createRevocationEvents({ heartbeatMs: 20 })
    const sink = recordingSink()
    hub.subscribe(ORDERS_SUB, undefined, sink)
    assert.match(sink.frames[0] ?? '', /"heartbeat":0.02/)
    await waitFor(async () => sink.frames.some((f) => f.startsWith('event: heartbeat\n')))
    hub.close()
    assert.equal(sink.ended, true)
    assert.equal(hub.subscribe(ORDERS_SUB, undefined, recordingSink()), 'too_many')
  })
})
