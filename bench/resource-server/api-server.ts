/**
 * Child process of the resource-server bench: one node:http API with the same JSON answer on two
 * routes, `/open` (no check) and `/orders` (the node adapter: token + scope policy). The verifier
 * introspects against the Keyhole server named by KEYHOLE_ISSUER; after one request per token its
 * cache is warm, which is the state the bench measures.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createTokenVerifier } from '@keyhole/resource-server'
import { authenticate } from '@keyhole/resource-server/node'

const issuer = process.env.KEYHOLE_ISSUER ?? ''
const verifier = createTokenVerifier({
  issuer,
  audience: 'https://orders.example.test',
  credentials: { clientId: 'orders', clientSecret: process.env.KEYHOLE_RESOURCE_SECRET ?? '' },
})
const BODY = JSON.stringify({ orders: [{ id: 1, item: 'keyhole', quantity: 1 }] })
const HEADERS = {
  'content-type': 'application/json',
  'content-length': String(Buffer.byteLength(BODY)),
}

const server = createServer(async (req, res) => {
  if (req.url === '/orders') {
    const token = await authenticate(verifier, req, res, { scopes: ['orders:read'] })
    if (token === undefined) return
  } else if (req.url !== '/open') {
    res.writeHead(404).end()
    return
  }
  res.writeHead(200, HEADERS).end(BODY)
})
server.keepAliveTimeout = 65_000
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(
    `${JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${port}`, issuer })}\n`,
  )
})
process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  void verifier.close().then(() => process.exit(0))
})
