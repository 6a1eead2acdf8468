/**
 * A reference, not a product: the least an introspection endpoint can do on node:http, as the
 * architecture's stack table measured it ("minimal introspection", 0.57–0.60× of bare on the day
 * it was pinned). One fixed caller (its Basic header compared as a string), the body read and
 * parsed with URLSearchParams, the token's SHA-256 looked up in a Map filled at start, the answer
 * serialized with the no-store headers. No store, no throttling, no checksum, no expiry, no
 * audience rules: what is left when everything Keyhole checks is taken away.
 *
 * Run as its own process by bench/run.ts; announces itself like every target.
 */
import { hash } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

const authorization = process.env.MINIMAL_AUTHORIZATION ?? ''
const token = process.env.MINIMAL_TOKEN ?? ''
if (authorization === '' || token === '')
  throw new Error('MINIMAL_AUTHORIZATION and MINIMAL_TOKEN are required')

const answers = new Map<string, Record<string, unknown>>()
const FORM = 'application/x-www-form-urlencoded'
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

function fail(res: ServerResponse, status: number, error: string): void {
  res.writeHead(status, { ...NO_STORE, 'Content-Type': 'application/json' })
  res.end(JSON.stringify({ error }))
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/introspect') return fail(res, 404, 'invalid_request')
    if (req.headers['content-type'] !== FORM) return fail(res, 400, 'invalid_request')
    if (req.headers.authorization !== authorization) return fail(res, 401, 'invalid_client')
    const presented = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token')
    if (presented === null) return fail(res, 400, 'invalid_request')
    const answer = answers.get(hash('sha256', presented, 'base64url')) ?? { active: false }
    const body = JSON.stringify(answer)
    res.writeHead(200, {
      ...NO_STORE,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
    })
    res.end(body)
  })
})
server.keepAliveTimeout = 65_000

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  const now = Math.floor(Date.now() / 1000)
  answers.set(hash('sha256', token, 'base64url'), {
    active: true,
    scope: 'orders:read',
    client_id: 'bench-client',
    token_type: 'Bearer',
    exp: now + 86_400,
    iat: now,
    nbf: now,
    sub: 'bench-client',
    aud: ['https://orders.example.test'],
    iss: url,
    jti: '6f1c1d1e-9d0b-4a53-9a1e-2f1a4f6c9b20',
  })
  process.stdout.write(`${JSON.stringify({ msg: 'listening', url, issuer: url })}\n`)
})
process.once('SIGTERM', () => process.exit(0))
