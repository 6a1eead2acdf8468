/**
 * Revocation events (Keyhole revocation events v1), the subscriber side, over real HTTP on
 * loopback: the test kit pushes `revoked` when a token is revoked and the verifier drops it at
 * once; reconnection with replay; `reset`; close(); the race with an introspection under way;
 * options; SSE framing cut anywhere; and what is reported. Scripted SSE servers (below) play the
 * AS where the kit cannot misbehave on purpose.
 *
 * Waits poll for what they wait for; the few fixed waits prove that something does NOT happen.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { generateKeyPairSync, hash } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { after, afterEach, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  createTokenVerifier,
  type SecondLevelCache,
  type TokenVerifier,
  type VerifierEvent,
  type VerifierOptions,
  VerifierOptionsError,
} from '@keyhole/resource-server'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@keyhole/resource-server/testing'
import type { JWK } from 'jose'
import { createSseParser, type SseEvent, SseOverflowError } from '../src/revocation-events.ts'
import { accepted, refused, request, sleep } from './support/results.ts'

const AUDIENCE = 'https://orders.example.test'
const sha256 = (token: string) => hash('sha256', token, 'base64url')
const now = () => Math.floor(Date.now() / 1000)
/** A subscriber that cannot be stopped would hang close(): a time limit makes that a failure. */
const LIMIT = { timeout: 20_000 }

let kit: TestAuthorizationServer
let open: TokenVerifier[] = []
before(async () => {
  kit = await startTestAuthorizationServer({ audience: AUDIENCE })
})
afterEach(async () => {
  await Promise.all(open.map((verifier) => verifier.close()))
  open = []
  await until(() => kit.revocationStreams === 0, 'the closed verifiers’ streams to end')
  kit.reset()
}, LIMIT)
after(() => kit.close())

/** Poll `check` every 10 ms; fail with `what` after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

interface Subscribed {
  readonly verifier: TokenVerifier
  readonly events: VerifierEvent[]
}

/** A verifier subscribed to `server`'s revocation events, recording its events. */
function subscribe(overrides: Partial<VerifierOptions> = {}, server = kit): Subscribed {
  const events: VerifierEvent[] = []
  const verifier = createTokenVerifier({
    issuer: server.issuer,
    audience: AUDIENCE,
    credentials: server.credentials,
    dpop: false,
    revocationEvents: true,
    // Far longer than any test: only a pushed revocation can drop an answer.
    cache: { maxTtl: 300 },
    onEvent: (event) => events.push(event),
    ...overrides,
  })
  open.push(verifier)
  return { verifier, events }
}

function ofType<T extends VerifierEvent['type']>(
  events: readonly VerifierEvent[],
  type: T,
): Extract<VerifierEvent, { type: T }>[] {
  return events.filter((e): e is Extract<VerifierEvent, { type: T }> => e.type === type)
}

const stream = (events: readonly VerifierEvent[], state: 'connected' | 'disconnected') =>
  ofType(events, 'revocation_stream').filter((e) => e.state === state)

const connected = (events: readonly VerifierEvent[], times = 1) =>
  until(() => stream(events, 'connected').length >= times, `connection #${times} to be ready`, 3000)

const pushed = (events: readonly VerifierEvent[], times = 1) =>
  until(() => ofType(events, 'revocation_pushed').length >= times, `revoked event #${times}`, 3000)

async function closeAll(...servers: TestAuthorizationServer[]) {
  await Promise.all(open.splice(0).map((verifier) => verifier.close()))
  await Promise.all(servers.map((server) => server.close()))
}

// ---------------------------------------------------------------------------------------------
// A scripted SSE endpoint: each subscription is recorded, then handed to `script`.

interface Subscription {
  readonly lastEventId: string | null
  readonly authorization: string | undefined
}

interface ScriptedEndpoint {
  readonly url: string
  readonly subscriptions: Subscription[]
  close(): Promise<void>
}

async function scriptedEndpoint(
  script: (res: ServerResponse, index: number) => Promise<void> | void,
  head: { readonly status: number; readonly contentType: string } = {
    status: 200,
    contentType: 'text/event-stream',
  },
): Promise<ScriptedEndpoint> {
  const subscriptions: Subscription[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
      subscriptions.push({
        lastEventId: form.get('last_event_id'),
        authorization: req.headers.authorization,
      })
      res.socket?.setNoDelay(true)
      res.writeHead(head.status, { 'content-type': head.contentType, 'cache-control': 'no-store' })
      res.flushHeaders()
      Promise.resolve(script(res, subscriptions.length - 1)).catch(() => res.destroy())
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/events`,
    subscriptions,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      await closed
    },
  }
}

/** Write `text` one byte per write, a millisecond apart: chunks cut lines, CRLFs and characters. */
async function trickle(res: ServerResponse, text: string) {
  for (const byte of Buffer.from(text, 'utf8')) {
    if (res.destroyed) return
    res.write(Buffer.of(byte))
    await sleep(1)
  }
}

// ---------------------------------------------------------------------------------------------
// Pushed revocations

test(
  'a cached token is refused as soon as the AS revokes it, without waiting for the cache TTL',
  LIMIT,
  async () => {
    const { verifier, events } = subscribe()
    await connected(events)
    assert.equal(kit.revocationStreams, 1)
    const subscription = kit.lastRevocationSubscription
    assert.equal(subscription?.clientId, kit.credentials.clientId)
    assert.equal(subscription?.authMethod, 'client_secret_basic')
    assert.equal(subscription?.accept, 'text/event-stream')
    assert.equal(subscription?.lastEventId, undefined)

    const revoked = kit.issueToken({ scope: 'orders:read' })
    const kept = kit.issueToken({ scope: 'orders:read' })
    accepted(await verifier.verify(request(revoked)))
    accepted(await verifier.verify(request(kept)))
    accepted(await verifier.verify(request(revoked)))
    assert.equal(kit.introspectionCount, 2, 'both answers are cached')

    kit.revoke(revoked)
    await pushed(events)
    const failure = refused(await verifier.verify(request(revoked)), 401)
    assert.equal(failure.error, 'invalid_token')
    accepted(await verifier.verify(request(kept)))
    assert.equal(kit.introspectionCount, 3, 'only the revoked token was asked about again')

    const [event] = ofType(events, 'revocation_pushed')
    assert.equal(event?.issuer, kit.issuer)
    assert.equal(event?.tokens, 1)
    assert.ok(event !== undefined && event.lagMs >= 0 && event.lagMs < 2000, `lag ${event?.lagMs}`)
    const { counters } = verifier.metrics()
    assert.equal(counters.revocation_pushed, 1)
    assert.equal(counters.revocation_pushed_tokens, 1)
    assert.equal(counters.revocation_stream_disconnects, 0)
    assert.equal(counters.revocation_reset, 0)
    for (const reported of events) {
      const text = JSON.stringify(reported)
      assert.ok(!text.includes(revoked) && !text.includes(kept), `token in event: ${text}`)
      assert.ok(!text.includes(kit.credentials.clientSecret), `secret in event: ${text}`)
    }
  },
)

test('a pushed revocation deletes the shared second-level entry too', LIMIT, async () => {
  const shared = new Map<string, string>()
  const secondLevel: SecondLevelCache = {
    get: async (key) => shared.get(key),
    set: async (key, value) => shared.set(key, value),
    delete: async (key) => shared.delete(key),
  }
  const { verifier, events } = subscribe({ cache: { maxTtl: 300, secondLevel } })
  await connected(events)
  const token = kit.issueToken()
  accepted(await verifier.verify(request(token)))
  const key = [...shared.keys()].find((k) => k.endsWith(`:${sha256(token)}`))
  assert.ok(key !== undefined, 'the answer is in the second level')

  kit.revoke(token)
  await until(() => !shared.has(key), 'the shared entry to be deleted')
  refused(await verifier.verify(request(token)), 401)
})

test(
  'a shared entry stored before the stream was ready is not trusted, even by a read under way when the token is purged',
  LIMIT,
  async () => {
    const shared = new Map<string, string>()
    let held: Promise<void> | undefined
    let reads = 0
    const secondLevel: SecondLevelCache = {
      async get(key) {
        const value = shared.get(key)
        reads++
        if (held !== undefined) await held
        return value
      },
      set: async (key, value) => shared.set(key, value),
      delete: async (key) => shared.delete(key),
    }
    // Another process (not subscribed) filled the shared level. That was before this verifier's
    // stream could tell it anything (its first `ready` clears), so the entry is not trusted:
    // the token may have been revoked in between. (The race of a read under way with a purge,
    // for entries loaded later, is covered with a controlled clock in cache-shared.test.ts.)
    const other = createTokenVerifier({
      issuer: kit.issuer,
      audience: AUDIENCE,
      credentials: kit.credentials,
      dpop: false,
      cache: { maxTtl: 300, secondLevel },
    })
    open.push(other)
    const { verifier, events } = subscribe({
      cache: { maxTtl: 300, secondLevel, secondLevelTimeoutMs: 5000 },
    })
    await connected(events)
    const token = kit.issueToken()
    accepted(await other.verify(request(token)))

    let release = () => {}
    held = new Promise<void>((resolve) => {
      release = resolve
    })
    const readsBefore = reads
    const pending = verifier.verify(request(token))
    await until(() => reads > readsBefore, 'the second-level read')
    kit.revoke(token)
    await pushed(events)
    release()
    held = undefined
    refused(await pending, 401) // the entry was not used: the AS was asked, after the revocation
    refused(await verifier.verify(request(token)), 401)
    assert.equal(kit.introspectionCount, 2, 'the stale entry did not come back in process')
  },
)

test(
  'the endpoint is discovered in the RFC 8414 metadata; an explicit endpoint skips discovery',
  LIMIT,
  async () => {
    const bare = await startTestAuthorizationServer({
      audience: AUDIENCE,
      metadata: ({ keyhole_revocation_events_endpoint: _, ...rest }) => rest,
    })
    try {
      const discovered = subscribe({}, bare)
      await until(() => stream(discovered.events, 'disconnected').length === 1, 'a failure report')
      assert.equal(
        stream(discovered.events, 'disconnected')[0]?.reason,
        'the authorization server publishes no keyhole_revocation_events_endpoint',
      )
      assert.equal(bare.revocationSubscriptionCount, 0)

      const explicit = subscribe(
        { revocationEvents: { endpoint: bare.revocationEventsEndpoint } },
        bare,
      )
      await connected(explicit.events)
      assert.equal(bare.revocationSubscriptionCount, 1)
    } finally {
      await closeAll(bare)
    }
  },
)

// ---------------------------------------------------------------------------------------------
// Reconnection, replay, reset, close

test(
  'after the AS drops the stream, the verifier reconnects with last_event_id and gets what was revoked meanwhile',
  LIMIT,
  async () => {
    const { verifier, events } = subscribe()
    await connected(events)
    const token = kit.issueToken()
    accepted(await verifier.verify(request(token)))
    const subscriptions = kit.revocationSubscriptionCount

    kit.endRevocationStreams()
    assert.equal(kit.revocationStreams, 0)
    kit.revoke(token) // no stream is open: only a replay can bring this event

    await pushed(events)
    assert.equal(kit.revocationSubscriptionCount, subscriptions + 1)
    assert.match(kit.lastRevocationSubscription?.lastEventId ?? '', /^[\w-]+\.\d+$/)
    refused(await verifier.verify(request(token)), 401)
    await connected(events, 2)
    assert.deepEqual(
      stream(events, 'disconnected').map((e) => e.reason),
      ['the authorization server ended the stream'],
    )
    assert.equal(verifier.metrics().counters.revocation_stream_disconnects, 1)
  },
)

test(
  'a restarted AS answers reset, and every answer of that issuer cached in process goes',
  LIMIT,
  async () => {
    const { verifier, events } = subscribe()
    await connected(events)
    const a = kit.issueToken()
    const b = kit.issueToken()
    accepted(await verifier.verify(request(a)))
    accepted(await verifier.verify(request(b)))
    accepted(await verifier.verify(request(a)))
    assert.equal(kit.introspectionCount, 2)

    kit.restartRevocationEvents()
    await until(() => ofType(events, 'revocation_reset').length === 1, 'the reset', 3000)
    assert.notEqual(kit.lastRevocationSubscription?.lastEventId, undefined)
    accepted(await verifier.verify(request(a)))
    accepted(await verifier.verify(request(b)))
    assert.equal(kit.introspectionCount, 4, 'both tokens were asked about again')
    assert.deepEqual(ofType(events, 'revocation_reset'), [
      { type: 'revocation_reset', issuer: kit.issuer },
    ])
    assert.equal(verifier.metrics().counters.revocation_reset, 1)
    await connected(events, 2)
  },
)

test(
  'answers cached before the first ready are dropped: no replay can cover that time',
  LIMIT,
  async () => {
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const endpoint = await scriptedEndpoint(async (res) => {
      await held
      res.write('event: ready\nid: s.1\ndata: {"heartbeat":15}\n\n')
    })
    try {
      const { verifier, events } = subscribe({ revocationEvents: { endpoint: endpoint.url } })
      await until(() => endpoint.subscriptions.length === 1, 'the subscription')
      const token = kit.issueToken()
      accepted(await verifier.verify(request(token)))
      accepted(await verifier.verify(request(token)))
      assert.equal(kit.introspectionCount, 1)

      release()
      await connected(events)
      accepted(await verifier.verify(request(token)))
      assert.equal(kit.introspectionCount, 2)
      assert.equal(ofType(events, 'revocation_reset').length, 0, 'not reported as an AS reset')
    } finally {
      await closeAll()
      await endpoint.close()
    }
  },
)

test('close() ends the stream, and no reconnection follows', LIMIT, async () => {
  const { verifier, events } = subscribe()
  await connected(events)
  assert.equal(kit.revocationStreams, 1)
  const subscriptions = kit.revocationSubscriptionCount

  await verifier.close()
  await until(() => kit.revocationStreams === 0, 'the kit to see the stream end')
  // A reconnection would come after the first backoff (at most 600 ms): wait past it once.
  await sleep(1000)
  assert.equal(kit.revocationSubscriptionCount, subscriptions)
  assert.equal(stream(events, 'disconnected').length, 0, 'closing is not a disconnection')
})

test('a process whose verifier is closed exits on its own', LIMIT, async () => {
  const fixture = fileURLToPath(new URL('./fixtures/closed-verifier.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    env: {
      ...process.env,
      KIT_ISSUER: kit.issuer,
      KIT_AUDIENCE: AUDIENCE,
      KIT_CLIENT_ID: kit.credentials.clientId,
      KIT_CLIENT_SECRET: kit.credentials.clientSecret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  try {
    assert.equal(await exited, 0, `the process did not exit by itself:\n${output}`)
  } finally {
    clearTimeout(timer)
  }
  assert.match(output, /^connected\nclosed\n$/)
  await until(() => kit.revocationStreams === 0, 'the kit to see the stream end')
})

test('a stream that goes silent for 3 × heartbeat is given up and reopened', LIMIT, async () => {
  const endpoint = await scriptedEndpoint((res, index) => {
    // The first stream says ready, then nothing more, not even heartbeats.
    if (index === 0) res.write('event: ready\nid: q.1\ndata: {"heartbeat":0.1}\n\n')
  })
  try {
    const { events } = subscribe({ revocationEvents: { endpoint: endpoint.url } })
    await until(() => endpoint.subscriptions.length === 2, 'a second subscription', 3000)
    assert.equal(endpoint.subscriptions[1]?.lastEventId, 'q.1')
    assert.deepEqual(
      stream(events, 'disconnected').map((e) => e.reason),
      ['the revocation events endpoint sent nothing for 0.3 s'],
    )
  } finally {
    await closeAll()
    await endpoint.close()
  }
})

test('heartbeats keep a quiet stream open', LIMIT, async () => {
  const beating = await startTestAuthorizationServer({
    audience: AUDIENCE,
    revocationHeartbeatSeconds: 0.1,
  })
  try {
    const { events } = subscribe({}, beating)
    await connected(events)
    // Silence would be given up after 0.3 s: ten heartbeats later, still the same stream.
    await sleep(1000)
    assert.equal(stream(events, 'disconnected').length, 0)
    assert.equal(beating.revocationSubscriptionCount, 1)
  } finally {
    await closeAll(beating)
  }
})

test('a heartbeat moves the position: the reconnection resumes from its id', LIMIT, async () => {
  const endpoint = await scriptedEndpoint((res, index) => {
    if (index > 0) return // the reconnection: held open
    res.write('event: ready\nid: s.1\ndata: {"heartbeat":15}\n\n')
    res.end('event: heartbeat\nid: s.7\ndata: {}\n\n')
  })
  try {
    const { events } = subscribe({ revocationEvents: { endpoint: endpoint.url } })
    await connected(events)
    await until(() => endpoint.subscriptions.length === 2, 'the reconnection', 5000)
    assert.equal(endpoint.subscriptions[1]?.lastEventId, 's.7')
    assert.equal(ofType(events, 'revocation_reset').length, 0)
  } finally {
    await closeAll()
    await endpoint.close()
  }
})

test(
  'an error answer whose body never ends, and a 200 that is not an event stream, are given up',
  LIMIT,
  async () => {
    const stalled = await scriptedEndpoint((res) => void res.write('{"error":'), {
      status: 400,
      contentType: 'application/json',
    })
    const html = await scriptedEndpoint((res) => void res.end('<html>sign in</html>'), {
      status: 200,
      contentType: 'text/html',
    })
    try {
      const first = subscribe({
        revocationEvents: { endpoint: stalled.url },
        http: { timeoutMs: 300 },
      })
      const second = subscribe({ revocationEvents: { endpoint: html.url } })
      await until(() => stream(first.events, 'disconnected').length === 1, 'the stalled refusal')
      await until(() => stream(second.events, 'disconnected').length === 1, 'the HTML answer')
      assert.equal(
        stream(first.events, 'disconnected')[0]?.reason,
        'the revocation events endpoint sent nothing for 0.3 s',
      )
      assert.equal(
        stream(second.events, 'disconnected')[0]?.reason,
        'the revocation events endpoint did not answer an event stream',
      )
    } finally {
      await closeAll()
      await Promise.all([stalled.close(), html.close()])
    }
  },
)

test('refused credentials are reported without the secret, and retried slowly', LIMIT, async () => {
  const secret = 'wrong-secret-MARKER-91b2'
  const { events } = subscribe({
    credentials: { clientId: kit.credentials.clientId, clientSecret: secret },
  })
  await until(() => stream(events, 'disconnected').length === 1, 'the refusal')
  assert.deepEqual(stream(events, 'disconnected')[0], {
    type: 'revocation_stream',
    issuer: kit.issuer,
    state: 'disconnected',
    reason: 'the revocation events endpoint answered 401 (invalid_client)',
  })
  // The fast backoff would try again within 600 ms; a refusal waits about 30 s.
  await sleep(1000)
  assert.equal(stream(events, 'disconnected').length, 1)
  assert.ok(!JSON.stringify(events).includes(secret))
})

test(
  'private_key_jwt: every connection signs a fresh assertion (the kit refuses a replayed jti)',
  LIMIT,
  async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const publicJwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), alg: 'ES256', kid: 'e1' }
    const privateJwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), alg: 'ES256', kid: 'e1' }
    const signed = await startTestAuthorizationServer({
      audience: AUDIENCE,
      clients: [{ clientId: 'signed-rs', publicJwk }],
    })
    try {
      const { events } = subscribe(
        { credentials: { clientId: 'signed-rs', privateKey: privateJwk } },
        signed,
      )
      await connected(events)
      assert.equal(signed.lastRevocationSubscription?.authMethod, 'private_key_jwt')
      signed.endRevocationStreams()
      await connected(events, 2)
      assert.equal(signed.revocationSubscriptionCount, 2)
    } finally {
      await closeAll(signed)
    }
  },
)

// ---------------------------------------------------------------------------------------------
// The race with an introspection under way

/**
 * A kit whose introspection answers after 1 s with an active answer computed "before" the
 * revocation (a forced answer), a verifier subscribed to it, and a token: the answer is in
 * flight when `revoke()` is pushed.
 */
async function inFlightRevocation() {
  const slow = await startTestAuthorizationServer({ audience: AUDIENCE, slowMs: 1000 })
  const { verifier, events } = subscribe({}, slow)
  await connected(events)
  const token = slow.issueToken({ scope: 'orders:read' })
  slow.respondWith({
    active: true,
    scope: 'orders:read',
    aud: AUDIENCE,
    iss: slow.issuer,
    token_type: 'Bearer',
    exp: now() + 3600,
  })
  slow.setMode('slow')
  const first = verifier.verify(request(token))
  await until(() => slow.introspectionCount === 1, 'the introspection to reach the AS')
  slow.revoke(token)
  await pushed(events)
  return { slow, verifier, token, first }
}

test(
  'an introspection answer that arrives after its token was purged is used once, never cached',
  LIMIT,
  async () => {
    const { slow, verifier, token, first } = await inFlightRevocation()
    try {
      accepted(await first) // the request gets the answer it got
      slow.respondWith(undefined)
      slow.setMode('normal')
      refused(await verifier.verify(request(token)), 401)
      assert.equal(slow.introspectionCount, 2, 'the stale answer was not cached')
    } finally {
      await closeAll(slow)
    }
  },
)

test(
  'a request after the purge does not join an introspection that began before it',
  LIMIT,
  async () => {
    const { slow, verifier, token, first } = await inFlightRevocation()
    try {
      const second = verifier.verify(request(token))
      await until(() => slow.introspectionCount === 2, 'an introspection of its own')
      await Promise.all([first, second])
    } finally {
      await closeAll(slow)
    }
  },
)

// ---------------------------------------------------------------------------------------------
// Options

test('revocationEvents is refused with the jwt strategy and with an endpoint that is not http(s)', () => {
  const base = { issuer: kit.issuer, audience: AUDIENCE, credentials: kit.credentials }
  const optionsError = (pattern: RegExp) => (err: unknown) =>
    err instanceof VerifierOptionsError && pattern.test(err.message)
  assert.throws(
    () => createTokenVerifier({ ...base, strategy: 'jwt', revocationEvents: true }),
    optionsError(/options\.revocationEvents needs a strategy that introspects \(not "jwt"\)/),
  )
  for (const endpoint of ['ftp://as.example.test/events', '/revocation-events', 'not a url']) {
    assert.throws(
      () => createTokenVerifier({ ...base, revocationEvents: { endpoint } }),
      optionsError(/options\.revocationEvents\.endpoint must be an absolute http\(s\) URL/),
      endpoint,
    )
  }
  assert.throws(
    () =>
      createTokenVerifier({
        audience: AUDIENCE,
        issuers: [
          { issuer: kit.issuer, credentials: kit.credentials, revocationEvents: true },
          { issuer: 'https://other.example.test', strategy: 'jwt', revocationEvents: {} },
        ],
      }),
    optionsError(/options\.issuers\[1\]\.revocationEvents needs a strategy that introspects/),
  )
  for (const strategy of ['introspect', 'jwt+introspect', 'auto'] as const) {
    open.push(createTokenVerifier({ ...base, strategy, revocationEvents: true }))
  }
  open.push(createTokenVerifier({ ...base, strategy: 'jwt', revocationEvents: false }))
})

// ---------------------------------------------------------------------------------------------
// Server-Sent Events framing

test(
  'SSE frames cut anywhere between chunks, and a character cut in two, are read the same',
  LIMIT,
  async () => {
    const token = kit.issueToken()
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const endpoint = await scriptedEndpoint(async (res, index) => {
      if (index > 0) return // the reconnection: held open, silent
      await trickle(
        res,
        ': hello\r\n\r\nevent: ready\r\nid: bööt.1\r\nretry: 10\r\ndata: {"heartbeat":15}\r\n\r\n',
      )
      await held
      await trickle(
        res,
        [
          // `data` over two lines (joined with "\n", still JSON), LF line ends.
          `event: revoked\nid: bööt.2\ndata: {"token_hashes":\ndata: ["${sha256(token)}"],"revoked_at":${Date.now()}}\n\n`,
          'event: from-a-later-version\ndata: {"anything":true}\n\n',
          // CR line ends, and data that is not JSON: it named revoked tokens we cannot read, so
          // every cached answer goes (as on `reset`), and the position moves past it.
          'event: revoked\rid: bööt.3\rdata: {"token_hashes": tru\r\r',
          ':heartbeat\n\n',
        ].join(''),
      )
      res.end()
    })
    try {
      const { verifier, events } = subscribe({ revocationEvents: { endpoint: endpoint.url } })
      await connected(events)
      const bystander = kit.issueToken()
      accepted(await verifier.verify(request(token)))
      accepted(await verifier.verify(request(token)))
      accepted(await verifier.verify(request(bystander)))
      assert.equal(kit.introspectionCount, 2)

      release()
      await until(() => endpoint.subscriptions.length === 2, 'the reconnection', 5000)
      assert.equal(endpoint.subscriptions[1]?.lastEventId, 'bööt.3')
      assert.equal(ofType(events, 'revocation_reset').length, 1, 'the unreadable event cleared')
      assert.deepEqual(
        ofType(events, 'revocation_pushed').map((e) => e.tokens),
        [1],
      )
      assert.deepEqual(ofType(events, 'revocation_malformed'), [
        {
          type: 'revocation_malformed',
          issuer: kit.issuer,
          event: 'revoked',
          reason: 'the data is not JSON',
        },
      ])
      accepted(await verifier.verify(request(token)))
      accepted(await verifier.verify(request(bystander)))
      assert.equal(kit.introspectionCount, 4, 'the pushed hash was purged, and the rest cleared')
    } finally {
      await closeAll()
      await endpoint.close()
    }
  },
)

const SAMPLE = [
  ': comment\r\n',
  'event: ready\r\nid: b.1\r\ndata: {"heartbeat":15}\r\n\r\n',
  'event: revoked\rid: b.2\rdata:{"a":1}\rdata:  two spaces\r\r',
  'event: revoked\nid: b.3\ndata\nunknown: field\nid: with\0nul\n\n',
  'event: no-data\nid: b.4\n\n',
  'data: default type\n\n',
  'event: pending\ndata: never ends',
].join('')

const EXPECTED: SseEvent[] = [
  { event: 'ready', data: '{"heartbeat":15}', id: 'b.1' },
  { event: 'revoked', data: '{"a":1}\n two spaces', id: 'b.2' },
  { event: 'revoked', data: '', id: 'b.3' },
  { event: 'message', data: 'default type', id: undefined },
]

function parseChunks(chunks: readonly string[]): SseEvent[] {
  const parser = createSseParser()
  return chunks.flatMap((chunk) => parser.push(chunk))
}

test('the SSE parser: CRLF, CR and LF, comments, field rules, and nothing pending at the end (WHATWG HTML §9.2.6)', () => {
  assert.deepEqual(parseChunks([SAMPLE]), EXPECTED)
})

test('the SSE parser gives the same events wherever the text is cut, and one character at a time', () => {
  for (let cut = 0; cut <= SAMPLE.length; cut++) {
    assert.deepEqual(parseChunks([SAMPLE.slice(0, cut), SAMPLE.slice(cut)]), EXPECTED, `cut ${cut}`)
  }
  for (let cut = 1; cut < SAMPLE.length; cut += 7) {
    const three = [SAMPLE.slice(0, cut), SAMPLE.slice(cut, cut + 5), SAMPLE.slice(cut + 5)]
    assert.deepEqual(parseChunks(three), EXPECTED, `cuts ${cut}, ${cut + 5}`)
  }
  assert.deepEqual(parseChunks([...SAMPLE]), EXPECTED)
  // A CR ending one chunk and a LF opening the next end one line, not two.
  assert.deepEqual(parseChunks(['data: x\r', '\n\r', '\n']), [
    { event: 'message', data: 'x', id: undefined },
  ])
})

test('the SSE parser refuses a line or an event larger than its limit', () => {
  assert.throws(() => createSseParser(100).push(`data: ${'x'.repeat(200)}`), SseOverflowError)
  const parser = createSseParser(100)
  assert.throws(() => {
    for (let i = 0; i < 20; i++) parser.push('data: 0123456789\n')
  }, SseOverflowError)
  assert.deepEqual(createSseParser(100).push(`data: ${'x'.repeat(90)}\n\n`).length, 1)
})

// ---------------------------------------------------------------------------------------------
// The kit's endpoint itself

test(
  'the kit advertises its revocation events endpoint and authenticates subscribers as it does introspection callers',
  LIMIT,
  async () => {
    const metadata = (await (
      await fetch(`${kit.issuer}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>
    assert.equal(metadata.keyhole_revocation_events_endpoint, kit.revocationEventsEndpoint)
    assert.equal(kit.revocationEventsEndpoint, `${kit.issuer}/revocation-events`)

    const refusedAnswer = await fetch(kit.revocationEventsEndpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/event-stream',
        authorization: `Basic ${Buffer.from(`${kit.credentials.clientId}:nope`).toString('base64')}`,
      },
      body: '',
    })
    assert.equal(refusedAnswer.status, 401)
    assert.match(refusedAnswer.headers.get('www-authenticate') ?? '', /^Basic /)
    assert.deepEqual(await refusedAnswer.json(), { error: 'invalid_client' })

    const controller = new AbortController()
    const answer = await fetch(kit.revocationEventsEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: kit.credentials.clientId,
        client_secret: kit.credentials.clientSecret,
        last_event_id: 'from-another-boot.7',
      }).toString(),
      signal: controller.signal,
    })
    assert.equal(answer.status, 200)
    assert.equal(answer.headers.get('content-type'), 'text/event-stream')
    assert.equal(answer.headers.get('cache-control'), 'no-store')
    const reader = (answer.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    while (!text.includes('event: ready')) {
      const { value, done } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString('utf8')
    }
    assert.match(
      text,
      /^event: reset\ndata: \{\}\n\nevent: ready\nid: [\w-]+\.\d+\ndata: \{"heartbeat":15\}\n\n/,
    )
    assert.equal(kit.lastRevocationSubscription?.lastEventId, 'from-another-boot.7')
    assert.equal(kit.lastRevocationSubscription?.authMethod, 'client_secret_post')
    controller.abort()
    await reader.cancel().catch(() => {})
  },
)
