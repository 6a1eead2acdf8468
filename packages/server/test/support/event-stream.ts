/**
 * A resource's side of the revocation event stream, for tests: subscribe over real HTTP and read
 * the Server-Sent Events as they arrive (docs/revocation-events.md).
 */
import { hash } from 'node:crypto'
import { basicAuthorization } from '@keyhole/protocol'
import {
  base,
  type Caller,
  encodeForm,
  ORDERS,
  type RunningServer,
} from '../../../../conformance/support/harness.ts'

export interface Frame {
  readonly event: string
  readonly id: string | undefined
  readonly data: string
}

export interface OpenStream {
  readonly status: number
  readonly headers: Headers
  /** The next event frame (comments skipped), or an error after `ms`. */
  next(ms?: number): Promise<Frame>
  /** Resolves when the stream is over: its body ended, its connection closed, or close(). */
  readonly ended: Promise<void>
  close(): void
}

/** What the server stores and the events name: base64url SHA-256 of the token. */
export const hashOf = (token: string) => hash('sha256', token, 'base64url')

/** Subscribe as `caller` and read frames as they come. */
export async function subscribe(
  server: RunningServer,
  caller: Caller = ORDERS,
  form: Record<string, string> = {},
): Promise<OpenStream> {
  const abort = new AbortController()
  const response = await fetch(`${base(server)}/revocation-events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'text/event-stream',
      authorization: basicAuthorization(caller[0], caller[1]),
    },
    body: encodeForm(form),
    signal: abort.signal,
  })
  const frames: Frame[] = []
  const waiting: ((frame: Frame) => void)[] = []
  let buffer = ''
  const ended = (async () => {
    if (response.body === null) return
    const decoder = new TextDecoder()
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const frame = parseFrame(block)
          if (frame === undefined) continue
          const wake = waiting.shift()
          if (wake === undefined) frames.push(frame)
          else wake(frame)
        }
      }
    } catch {
      // aborted by close(), or the connection was cut
    }
  })()
  return {
    status: response.status,
    headers: response.headers,
    ended,
    next(ms = 3_000) {
      const ready = frames.shift()
      if (ready !== undefined) return Promise.resolve(ready)
      return new Promise((resolve, reject) => {
        const wake = (frame: Frame) => {
          clearTimeout(timer)
          resolve(frame)
        }
        // A waiter that gave up leaves the queue: the next frame goes to whoever asks next.
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(wake), 1)
          reject(new Error(`no event in ${ms} ms`))
        }, ms)
        waiting.push(wake)
      })
    },
    close() {
      abort.abort()
    },
  }
}

export function parseFrame(block: string): Frame | undefined {
  let event = 'message'
  let id: string | undefined
  const data: string[] = []
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') event = value
    else if (field === 'id') id = value
    else if (field === 'data') data.push(value)
  }
  return data.length === 0 && id === undefined && event === 'message'
    ? undefined
    : { event, id, data: data.join('\n') }
}
