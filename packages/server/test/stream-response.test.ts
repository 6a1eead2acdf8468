/**
 * Streamed responses (the revocation event stream's transport, http/server.ts): a reader that
 * stops reading is cut off once what waits for it passes the limit, its stream is told so, and
 * the server keeps serving. Real node:http on loopback; the reader is a raw socket that never
 * reads.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { test } from 'node:test'
import { createLogger } from '@keyhole/server'
import { createRequestListener } from '../src/http/server.ts'
import type { StreamSink } from '../src/http/types.ts'

const CHUNK = `data: ${'x'.repeat(16 * 1024)}\n\n`

async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('a stream whose reader stops reading is cut off past the limit, and the server goes on', async () => {
  let refusedAt = 0
  let stopped = false
  let written = 0
  const listener = createRequestListener({
    routes: [
      {
        method: 'POST',
        path: '/stream',
        handle: async () => ({
          kind: 'stream',
          contentType: 'text/event-stream',
          open(sink: StreamSink) {
            const pump = () => {
              if (stopped) return
              if (!sink.write(CHUNK)) {
                refusedAt = written
                sink.end()
                return
              }
              written += CHUNK.length
              setImmediate(pump)
            }
            pump()
            return () => {
              stopped = true
            }
          },
        }),
      },
      {
        method: 'GET',
        path: '/ping',
        handle: async () => ({ kind: 'response', status: 200, body: { ok: true } }),
      },
    ],
    bodyLimit: 1024,
    logger: createLogger({ level: 'error', write: () => {} }),
    logRequests: false,
    streamBufferBytes: 64 * 1024,
  })
  const server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  try {
    const reader = connect(port, '127.0.0.1')
    await new Promise<void>((resolve) => reader.once('connect', resolve))
    reader.pause() // reads nothing, ever: the kernel's buffers fill, then node's
    reader.write(
      'POST /stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n',
    )
    let closed = false
    reader.once('close', () => {
      closed = true
    })
    await waitFor(() => refusedAt > 0, 'the sink refused a write')
    await waitFor(() => stopped, 'the stream was told it is over (the connection was cut)')
    reader.resume()
    await waitFor(() => closed, 'the reader’s connection was closed')

    const ping = await fetch(`http://127.0.0.1:${port}/ping`)
    assert.equal(ping.status, 200)
    assert.deepEqual(await ping.json(), { ok: true })
  } finally {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})
