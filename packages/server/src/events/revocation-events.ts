/**
 * Revocation events (docs/revocation-events.md): what a revocation changed, fanned out at once to
 * the resource servers it concerns, so that their caches drop a revoked token instead of serving
 * it until their TTL runs out. One hub per server. With SQLite (one server per file) every
 * revocation passes through this server, and the revocation endpoint publishes here; with
 * PostgreSQL (several servers) every server's hub hears of every revocation, whichever server made
 * it, through the store's feed (LISTEN/NOTIFY; app.ts). Ids are per hub, so a subscriber that
 * reconnects to another server is told `reset`.
 *
 * Least disclosure: a resource is told only of access tokens meant for it (its audience is in the
 * token's), and only by their hash, which is what its cache is keyed by and reveals nothing.
 *
 * Delivery is at-least-once within what is kept: the last `retain` events stay in memory, and a
 * subscriber that reconnects with the id of the last event it saw gets what it missed. When that
 * cannot be done (this server restarted, or the subscriber is too far behind) it is told `reset`
 * and drops its whole cache: losing events never leaves a revoked token cached.
 */
import { randomBytes } from 'node:crypto'
import type { RevokedToken } from '../store/store.ts'

/** Where a stream's frames go; the http layer owns the socket behind it. */
export interface EventSink {
  /** Write one frame. False when the subscriber reads too slowly: the stream is then over. */
  write(frame: string): boolean
  end(): void
}

export interface Subscriber {
  readonly resourceId: string
  /** The resource's audience: events name only tokens meant for it. */
  readonly audience: string
}

export interface RevocationEvents {
  /** Tell the subscribers concerned what a revocation changed (`atMs`: when, epoch ms). */
  publish(revoked: readonly RevokedToken[], atMs: number): void
  /**
   * Start a stream: `reset` or the missed events, then `ready`, then events as they happen.
   * Returns an unsubscribe function, or `too_many` when the resource already has its limit open.
   */
  subscribe(
    subscriber: Subscriber,
    lastEventId: string | undefined,
    sink: EventSink,
  ): (() => void) | 'too_many'
  /** Whether the resource may open one more stream now. */
  accepts(subscriber: Subscriber): boolean
  /**
   * Revocations may have been lost on their way here (the store's feed was cut): every stream is
   * told `reset`, and no id given so far can be resumed from (a reconnection gets `reset` too).
   */
  reset(): void
  /** Whether the hub was closed (the server is shutting down). */
  readonly closed: boolean
  /** Streams open now. */
  readonly open: number
  /** End every stream (server shutdown); later subscriptions are refused. */
  close(): void
}

export interface RevocationEventsOptions {
  /** Events kept for subscribers that reconnect. Default 10,000. */
  readonly retain?: number
  /** Streams one resource may hold open (`limits.revocationStreamsPerResource`). Default 64. */
  readonly perResource?: number
  /** Interval of the heartbeat event, ms. Default 15,000. */
  readonly heartbeatMs?: number
}

interface RetainedEvent {
  readonly seq: number
  readonly atMs: number
  readonly tokens: readonly RevokedToken[]
}

interface Stream {
  readonly subscriber: Subscriber
  readonly sink: EventSink
}

const RESET = 'event: reset\ndata: {}\n\n'
/** `<boot id>.<sequence>`: the boot id tells a restarted server's ids from this one's. */
const EVENT_ID = /^([A-Za-z0-9_-]{1,32})\.(\d{1,15})$/

export function createRevocationEvents(options: RevocationEventsOptions = {}): RevocationEvents {
  const retain = options.retain ?? 10_000
  const perResource = options.perResource ?? 64
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const newBoot = () => randomBytes(6).toString('base64url')
  let boot = newBoot()
  const retained: RetainedEvent[] = []
  const streams = new Set<Stream>()
  const byResource = new Map<string, number>()
  let seq = 0
  let closed = false
  let heartbeat: NodeJS.Timeout | undefined

  const idOf = (n: number) => `${boot}.${n}`

  function revokedFrame(event: RetainedEvent, audience: string): string | undefined {
    const hashes: string[] = []
    for (const token of event.tokens) {
      // Refresh tokens are never introspected active by a resource; only access tokens matter.
      if (token.kind === 'access_token' && token.audience.includes(audience))
        hashes.push(token.hash)
    }
    if (hashes.length === 0) return undefined
    const data = JSON.stringify({ token_hashes: hashes, revoked_at: event.atMs })
    return `event: revoked\nid: ${idOf(event.seq)}\ndata: ${data}\n\n`
  }

  function accepts(subscriber: Subscriber): boolean {
    return !closed && (byResource.get(subscriber.resourceId) ?? 0) < perResource
  }

  function drop(stream: Stream): void {
    if (!streams.delete(stream)) return
    const left = (byResource.get(stream.subscriber.resourceId) ?? 1) - 1
    if (left === 0) byResource.delete(stream.subscriber.resourceId)
    else byResource.set(stream.subscriber.resourceId, left)
    if (streams.size === 0 && heartbeat !== undefined) {
      clearInterval(heartbeat)
      heartbeat = undefined
    }
    stream.sink.end()
  }

  function send(stream: Stream, frame: string): void {
    if (!stream.sink.write(frame)) drop(stream)
  }

  /** The events after `lastEventId`, or undefined when they cannot all be given. */
  function missedSince(lastEventId: string): RetainedEvent[] | undefined {
    const match = EVENT_ID.exec(lastEventId)
    if (match === null || match[1] !== boot) return undefined
    const last = Number(match[2])
    if (last > seq) return undefined
    const oldest = retained[0]?.seq ?? seq + 1
    // Every event after `last` must still be here: the first one kept may be at most last + 1.
    if (oldest > last + 1) return undefined
    return retained.filter((event) => event.seq > last)
  }

  return {
    publish(revoked, atMs) {
      if (revoked.length === 0) return
      seq += 1
      const event: RetainedEvent = { seq, atMs, tokens: revoked }
      retained.push(event)
      if (retained.length > retain) retained.splice(0, retained.length - retain)
      for (const stream of [...streams]) {
        const frame = revokedFrame(event, stream.subscriber.audience)
        if (frame !== undefined) send(stream, frame)
      }
    },

    subscribe(subscriber, lastEventId, sink) {
      if (!accepts(subscriber)) return 'too_many'
      const stream: Stream = { subscriber, sink }
      streams.add(stream)
      byResource.set(subscriber.resourceId, (byResource.get(subscriber.resourceId) ?? 0) + 1)
      if (lastEventId !== undefined) {
        const missed = missedSince(lastEventId)
        if (missed === undefined) send(stream, RESET)
        else {
          for (const event of missed) {
            const frame = revokedFrame(event, subscriber.audience)
            if (frame !== undefined) send(stream, frame)
          }
        }
      }
      const ready = JSON.stringify({ heartbeat: heartbeatMs / 1000 })
      send(stream, `event: ready\nid: ${idOf(seq)}\ndata: ${ready}\n\n`)
      if (heartbeat === undefined && streams.size > 0) {
        heartbeat = setInterval(() => {
          // With the current position: a subscriber that hears of nothing for a long time then
          // resumes from here after a reconnection, instead of from an id no longer kept (which
          // would be a `reset` and an emptied cache).
          const frame = `event: heartbeat\nid: ${idOf(seq)}\ndata: {}\n\n`
          for (const open of [...streams]) send(open, frame)
        }, heartbeatMs)
        heartbeat.unref()
      }
      return () => drop(stream)
    },

    accepts,

    reset() {
      // A new boot id: ids of the old one no longer match, so they are never replayed from.
      boot = newBoot()
      retained.length = 0
      for (const stream of [...streams]) send(stream, RESET)
    },

    get open() {
      return streams.size
    },

    get closed() {
      return closed
    },

    close() {
      closed = true
      for (const stream of [...streams]) drop(stream)
    },
  }
}
