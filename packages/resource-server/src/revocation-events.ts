/**
 * The subscriber side of Keyhole revocation events v1 (a Keyhole extension; RFC 8414 §2 allows the
 * metadata member that names its endpoint). One long POST per issuer, authenticated as the
 * introspection calls are, whose answer is an endless Server-Sent Events stream (WHATWG HTML
 * §9.2): `revoked` names the hashes of revoked tokens — exactly this library's cache keys — to
 * purge; `reset` says events were missed, so every cached answer goes; `ready` gives the stream's
 * position (sent back as `last_event_id` on reconnection, for a replay) and its heartbeat period.
 *
 * It lives beside the verifier and never throws into it: every failure becomes an event
 * (`revocation_stream` disconnected, with a reason) and a reconnection after a backoff. Reasons
 * never carry a token, a secret or the AS's body.
 */
import type { AuthorizationServerMetadata } from '@keyhole/protocol'
import { Client } from 'undici'
import type { ClientAuthentication } from './client-auth.ts'
import { DiscoveryError } from './discovery.ts'
import { AsUnavailableError, retryAfterSeconds } from './http-client.ts'
import type { VerifierEvent } from './options.ts'

/** The RFC 8414 metadata member that names the endpoint. */
export const REVOCATION_EVENTS_METADATA = 'keyhole_revocation_events_endpoint'

/** Until `ready` names the period, the protocol's default heartbeat, seconds. */
const DEFAULT_HEARTBEAT_SECONDS = 15
/** The protocol: no bytes for 3 × heartbeat and the stream is dead. */
const IDLE_HEARTBEATS = 3
const BACKOFF_FIRST_MS = 500
const BACKOFF_MAX_MS = 30_000
/** Refusals (4xx, a misconfigured endpoint) do not heal by retrying fast. */
const REFUSED_RETRY_MS = 30_000
const RETRY_AFTER_MAX_MS = 600_000
/**
 * Largest event kept while it arrives, in characters: a mass revocation lists 46 characters per
 * token (8 MiB ≈ 180 000 tokens); past it, a broken or hostile stream cannot exhaust memory.
 */
const MAX_EVENT_CHARS = 8 * 1024 * 1024
const MAX_ERROR_BODY_BYTES = 16 * 1024
/** An `id` is sent back to the AS: a very long one is not kept. */
const MAX_ID_CHARS = 1024
/** base64url(SHA-256) without padding: 43 characters. Anything else is no cache key of ours. */
const TOKEN_HASH = /^[A-Za-z0-9_-]{43}$/
/** RFC 6749 §5.2 `error` values worth repeating in a reason (the registered ones are all like this). */
const ERROR_CODE = /^[a-z_]{1,64}$/
const LINE_END = /[\r\n]/g
const STREAM = { stream: true }

// ---------------------------------------------------------------------------------------------
// Server-Sent Events parsing (WHATWG HTML §9.2.6), as a pure function of the text received.

export interface SseEvent {
  /** The `event` field; `message` when the frame had none. */
  readonly event: string
  /** The `data` lines joined with "\n". */
  readonly data: string
  /** The `id` field of this frame, if it had one. */
  readonly id: string | undefined
}

export interface SseParser {
  /** Feed decoded text, cut anywhere; returns the events this text completed, in order. */
  push(text: string): SseEvent[]
}

/** A line or an event longer than the parser keeps. */
export class SseOverflowError extends Error {
  constructor() {
    super('the revocation event stream sent an oversized event')
    this.name = 'SseOverflowError'
  }
}

/**
 * A stateful SSE parser. Lines end with CRLF, LF or CR (§9.2.5), even when the CR and the LF
 * arrive in different chunks; `:` lines are comments (heartbeats); a blank line dispatches;
 * a frame with no `data` dispatches nothing; what is pending when the stream ends is dropped.
 * Unlike the browser's EventSource, `id` is reported per frame (only `ready` and `revoked`
 * frames move our position).
 */
export function createSseParser(maxChars = MAX_EVENT_CHARS): SseParser {
  let pending = ''
  /** The last chunk ended with CR: a LF opening the next one ends no second line. */
  let afterCr = false
  let type = ''
  let data = ''
  let id: string | undefined

  function field(line: string, out: SseEvent[]) {
    if (line === '') {
      // §9.2.6 "dispatch the event": nothing when no data line came; the buffers are reset.
      if (data !== '')
        out.push({ event: type === '' ? 'message' : type, data: data.slice(0, -1), id })
      type = ''
      data = ''
      id = undefined
      return
    }
    if (line.charCodeAt(0) === 0x3a) return // ':' a comment, e.g. the heartbeat
    const colon = line.indexOf(':')
    const name = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.charCodeAt(0) === 0x20) value = value.slice(1)
    switch (name) {
      case 'event':
        type = value
        break
      case 'data':
        data += `${value}\n`
        if (data.length > maxChars) throw new SseOverflowError()
        break
      case 'id':
        if (!value.includes('\0')) id = value
        break
      default:
        // `retry` and unknown fields: ignored (§9.2.6); the backoff here is our own.
        break
    }
  }

  return {
    push(text) {
      const out: SseEvent[] = []
      if (text === '') return out
      let buffer = pending + text
      let start = 0
      if (afterCr && buffer.charCodeAt(0) === 0x0a) start = 1
      afterCr = false
      // Only the new text can hold the next line end: `pending` had none.
      LINE_END.lastIndex = Math.max(start, pending.length)
      for (;;) {
        const found = LINE_END.exec(buffer)
        if (found === null) break
        const end = found.index
        field(buffer.slice(start, end), out)
        start = end + 1
        if (buffer.charCodeAt(end) === 0x0d) {
          if (start === buffer.length) afterCr = true
          else if (buffer.charCodeAt(start) === 0x0a) start++
        }
        LINE_END.lastIndex = start
      }
      buffer = buffer.slice(start)
      if (buffer.length + data.length > maxChars) throw new SseOverflowError()
      pending = buffer
      return out
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The subscriber.

export interface RevocationSubscriberConfig {
  readonly issuer: string
  /** The configured endpoint; undefined: the RFC 8414 metadata member. */
  readonly endpoint: string | undefined
  readonly metadata: (deadline: number) => Promise<AuthorizationServerMetadata>
  /** The introspector's method; private_key_jwt signs a fresh assertion per connection. */
  readonly auth: ClientAuthentication
  /** Budget of discovery, the connection and the response headers, ms (`http.timeoutMs`). */
  readonly timeoutMs: number
  /** Drop one token from every cache of the issuer: in process before it returns, then the shared level. */
  readonly purge: (hash: string) => Promise<unknown>
  /** Drop every in-process answer of the issuer. */
  readonly clear: () => void
  readonly emit: (event: VerifierEvent) => void
}

export interface RevocationSubscriber {
  /** Stop: abort the stream, cancel timers; resolves once nothing of it is left running. */
  close(): Promise<void>
}

/** A non-200 answer, or a 200 that is not a stream: retried after `retryMs` (jittered). */
class Refusal extends Error {
  readonly retryMs: number | undefined
  constructor(message: string, retryMs: number | undefined) {
    super(message)
    this.name = 'Refusal'
    this.retryMs = retryMs
  }
}

const ignore = () => {}

/** ±20 %: many API processes that lost one AS do not come back in the same millisecond. */
const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4))

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isEventStream(value: string | string[] | undefined): boolean {
  const raw = Array.isArray(value) ? value[0] : value
  return (raw ?? '').split(';')[0]?.trim().toLowerCase() === 'text/event-stream'
}

/** The OAuth `error` code of an error answer, when it is one (RFC 6749 §5.2); never the rest. */
async function errorCode(body: AsyncIterable<unknown>): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > MAX_ERROR_BODY_BYTES) return undefined
    chunks.push(chunk as Buffer)
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    const code = isObject(parsed) ? parsed.error : undefined
    return typeof code === 'string' && ERROR_CODE.test(code) ? code : undefined
  } catch {
    return undefined
  }
}

/** Why an attempt failed, in words safe to report (no URL query, no body, no credentials). */
function describe(err: unknown): string {
  if (err instanceof AsUnavailableError || err instanceof Refusal) return err.message
  if (err instanceof SseOverflowError) return err.message
  const code = (err as { code?: unknown } | null)?.code
  return `the connection to the revocation events endpoint failed (${typeof code === 'string' ? code : 'error'})`
}

/** Start subscribing in the background; the first connection is attempted at once. */
export function startRevocationSubscriber(
  config: RevocationSubscriberConfig,
): RevocationSubscriber {
  const { issuer, emit } = config
  let closed = false
  let lastEventId: string | undefined
  /** The current connection sent a `last_event_id` (the AS replays or resets from there). */
  let resumed = false
  /** Attempts since the last `ready`: the exponent of the backoff. */
  let failures = 0
  let abort: AbortController | undefined
  /** Set when we abort the stream ourselves (silence), to say so instead of "aborted". */
  let abortReason: string | undefined
  let idleMs = IDLE_HEARTBEATS * DEFAULT_HEARTBEAT_SECONDS * 1000
  let idleTimer: NodeJS.Timeout | undefined
  let pauseTimer: NodeJS.Timeout | undefined
  let wake: (() => void) | undefined

  function onIdle() {
    abortReason = `the revocation events endpoint sent nothing for ${idleMs / 1000} s`
    abort?.abort()
  }

  function armIdle() {
    clearTimeout(idleTimer)
    // Unref'd: a silent stream must not be what keeps a process alive.
    idleTimer = setTimeout(onIdle, idleMs).unref()
  }

  async function endpoint(): Promise<URL> {
    if (config.endpoint !== undefined) return new URL(config.endpoint)
    const metadata = await config.metadata(Date.now() + config.timeoutMs)
    const value = metadata[REVOCATION_EVENTS_METADATA]
    if (typeof value !== 'string') {
      throw new DiscoveryError(
        `the authorization server publishes no ${REVOCATION_EVENTS_METADATA}`,
      )
    }
    const url = URL.canParse(value) ? new URL(value) : undefined
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new DiscoveryError(
        `the authorization server's ${REVOCATION_EVENTS_METADATA} is not an http(s) URL`,
      )
    }
    return url
  }

  function malformed(event: 'ready' | 'revoked', reason: string) {
    emit({ type: 'revocation_malformed', issuer, event, reason })
  }

  function remember(id: string | undefined) {
    if (id !== undefined && id.length <= MAX_ID_CHARS) lastEventId = id
  }

  /**
   * A `revoked` event that cannot be read names revoked tokens we cannot purge one by one: every
   * cached answer of the issuer goes, as on `reset`. The position may then move past it.
   */
  function unreadable(event: SseEvent, reason: string) {
    malformed('revoked', reason)
    config.clear()
    remember(event.id)
    emit({ type: 'revocation_reset', issuer })
  }

  function revoked(event: SseEvent) {
    let body: unknown
    try {
      body = JSON.parse(event.data)
    } catch {
      return unreadable(event, 'the data is not JSON')
    }
    const hashes = isObject(body) ? body.token_hashes : undefined
    if (!isObject(body) || !Array.isArray(hashes)) {
      return unreadable(event, 'token_hashes is not an array')
    }
    let tokens = 0
    for (const hash of hashes) {
      if (typeof hash !== 'string' || !TOKEN_HASH.test(hash)) continue
      // The in-process levels are purged before purge() returns (a request that follows sees a
      // miss); a failure of the shared level is reported by the cache as second_level_error.
      config.purge(hash).catch(ignore)
      tokens++
    }
    // Values that are not 43 base64url characters can be no cache key of ours: nothing to purge.
    if (tokens !== hashes.length) {
      malformed(
        'revoked',
        `${hashes.length - tokens} token_hashes are not base64url SHA-256 values`,
      )
    }
    const revokedAt = body.revoked_at
    const lagMs =
      typeof revokedAt === 'number' && Number.isFinite(revokedAt)
        ? Math.max(0, Date.now() - revokedAt)
        : 0
    remember(event.id)
    emit({ type: 'revocation_pushed', issuer, tokens, lagMs })
  }

  function ready(event: SseEvent) {
    let heartbeat = DEFAULT_HEARTBEAT_SECONDS
    let body: unknown
    try {
      body = JSON.parse(event.data)
    } catch {
      body = undefined
    }
    const given = isObject(body) ? body.heartbeat : undefined
    if (typeof given === 'number' && Number.isFinite(given) && given > 0) {
      // Bounded both ways: a tiny period would make us reconnect on any hiccup, a huge one
      // would overflow a timer.
      heartbeat = Math.min(Math.max(given, 0.1), 3600)
    } else {
      malformed('ready', 'heartbeat is not a positive number of seconds')
    }
    idleMs = Math.round(IDLE_HEARTBEATS * heartbeat * 1000)
    armIdle()
    // Answers cached before the first `ready` (or after a position we could not keep) may be of
    // tokens revoked before the stream existed, and nothing can replay those: they go.
    if (!resumed) config.clear()
    remember(event.id)
    failures = 0
    emit({ type: 'revocation_stream', issuer, state: 'connected' })
  }

  function dispatch(event: SseEvent) {
    switch (event.event) {
      case 'revoked':
        return revoked(event)
      case 'reset':
        // The AS cannot replay what we missed: any cached answer may be of a revoked token.
        config.clear()
        return emit({ type: 'revocation_reset', issuer })
      case 'ready':
        return ready(event)
      case 'heartbeat':
        // The stream's position while nothing concerned us: a reconnection resumes from here
        // rather than from an old id the AS may no longer keep (which would mean a `reset`).
        return remember(event.id)
      default:
        // Unknown events are for newer subscribers (forward compatibility).
        return
    }
  }

  /** One connection, from discovery to the end of the stream; returns the pause before the next. */
  async function attempt(): Promise<number> {
    let client: Client | undefined
    let reason: string
    let retryMs: number | undefined
    try {
      const url = await endpoint()
      // A fresh private_key_jwt assertion per connection (RFC 7523 §3: jti, short exp).
      const { headers, form } = await config.auth.apply()
      if (closed) return 0
      const body = new URLSearchParams(form)
      resumed = lastEventId !== undefined
      if (lastEventId !== undefined) body.set('last_event_id', lastEventId)
      abort = new AbortController()
      abortReason = undefined
      // Its own connection: the stream holds it for hours, and the introspection pool's close()
      // would wait for it. No body timeout: silence is judged by the heartbeat (armIdle).
      client = new Client(url.origin, {
        connectTimeout: config.timeoutMs,
        headersTimeout: config.timeoutMs,
        bodyTimeout: 0,
      })
      const res = await client.request({
        path: url.pathname + url.search,
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'text/event-stream',
        },
        body: body.toString(),
        signal: abort.signal,
      })
      if (res.statusCode !== 200 || !isEventStream(res.headers['content-type'])) {
        // The body of a refusal gets the request's own budget (the body timeout is off).
        idleMs = config.timeoutMs
        armIdle()
      }
      if (res.statusCode !== 200) {
        const code = await errorCode(res.body)
        const message = `the revocation events endpoint answered ${res.statusCode}${code === undefined ? '' : ` (${code})`}`
        if (res.statusCode >= 500) throw new Refusal(message, undefined)
        // 4xx: our credentials, our registration or our stream count; slowly, as the AS says.
        const hinted = (retryAfterSeconds(res.headers['retry-after']) ?? 0) * 1000
        throw new Refusal(message, Math.min(Math.max(REFUSED_RETRY_MS, hinted), RETRY_AFTER_MAX_MS))
      }
      if (!isEventStream(res.headers['content-type'])) {
        await res.body.dump({ limit: MAX_ERROR_BODY_BYTES }).catch(ignore)
        throw new Refusal(
          'the revocation events endpoint did not answer an event stream',
          REFUSED_RETRY_MS,
        )
      }
      const decoder = new TextDecoder()
      const parser = createSseParser()
      idleMs = IDLE_HEARTBEATS * DEFAULT_HEARTBEAT_SECONDS * 1000
      armIdle()
      for await (const chunk of res.body) {
        idleTimer?.refresh()
        for (const event of parser.push(decoder.decode(chunk as Buffer, STREAM))) dispatch(event)
      }
      reason = 'the authorization server ended the stream'
    } catch (err) {
      reason = abortReason ?? describe(err)
      if (err instanceof SseOverflowError) {
        // An event too large to read would come back on every replay from this position: what
        // it named is dropped with everything else, and the next connection starts afresh.
        config.clear()
        lastEventId = undefined
        emit({ type: 'revocation_reset', issuer })
      }
      // A misconfiguration (no endpoint published, a key that cannot sign) is retried slowly too.
      retryMs =
        err instanceof Refusal
          ? err.retryMs
          : err instanceof DiscoveryError
            ? REFUSED_RETRY_MS
            : undefined
    } finally {
      clearTimeout(idleTimer)
      abort = undefined
      await client?.destroy().catch(ignore)
    }
    if (closed) return 0
    emit({ type: 'revocation_stream', issuer, state: 'disconnected', reason })
    if (retryMs !== undefined) return jitter(retryMs)
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** failures)
    failures = Math.min(failures + 1, 16)
    return jitter(backoff)
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      wake = resolve
      pauseTimer = setTimeout(resolve, ms).unref()
    })
  }

  async function run(): Promise<void> {
    while (!closed) {
      const delay = await attempt()
      if (closed) return
      await pause(delay)
    }
  }

  const running = run()

  return {
    async close() {
      closed = true
      abort?.abort()
      clearTimeout(pauseTimer)
      wake?.()
      await running
    },
  }
}
