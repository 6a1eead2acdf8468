/**
 * The ceiling: node:http answering every request with a fixed 250-byte JSON body, after reading and
 * discarding the request body. Run as its own process by bench/run.ts; announces itself with the
 * same `{"msg":"listening",...}` line as `keyhole serve`.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

// Shaped like an introspection answer; padded so that the body is exactly 250 bytes.
const ANSWER = {
  active: true,
  scope: 'orders:read',
  client_id: 'bench-client',
  token_type: 'Bearer',
  exp: 1_900_000_000,
  iat: 1_800_000_000,
  sub: 'bench-client',
  aud: ['https://orders.example.test'],
  iss: 'http://127.0.0.1:40000',
  jti: '',
}
const BARE_BODY_BYTES = 250
const unpadded = Buffer.byteLength(JSON.stringify(ANSWER))
ANSWER.jti = 'x'.repeat(BARE_BODY_BYTES - unpadded)
const BODY = Buffer.from(JSON.stringify(ANSWER))
if (BODY.length !== BARE_BODY_BYTES) throw new Error(`bare body is ${BODY.length} bytes`)

const HEADERS = { 'Content-Type': 'application/json', 'Content-Length': String(BODY.length) }

const server = createServer((req, res) => {
  req.on('data', () => {})
  req.on('end', () => {
    res.writeHead(200, HEADERS)
    res.end(BODY)
  })
})
server.keepAliveTimeout = 65_000

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  process.stdout.write(`${JSON.stringify({ msg: 'listening', url, issuer: url })}\n`)
})
process.once('SIGTERM', () => process.exit(0))
