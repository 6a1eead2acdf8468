/**
 * Child process of the resource-server bench: one node:http API with the same JSON answer on four
 * routes: `/open` (no check), `/orders` (the node adapter's `protect()`: token + scope policy, the
 * handler in the same tick on a warm cache), `/orders-await` (the same check through `await
 * authenticate()`) and `/minimal`, a reference: the least a warm protected route can do, written inline (find the Authorization
 * header, check the token68 shape, SHA-256 it, look it up in a Map, check exp and the scope). The
 * verifier introspects against the Keyhole server named by KEYHOLE_ISSUER; after one request per
 * token its cache (and the reference's Map) is warm, which is the state the bench measures.
 */
import { hash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createTokenVerifier } from '@keyhole/resource-server'
import { authenticate, protect } from '@keyhole/resource-server/node'

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

// The reference route's cache: SHA-256 of a token → what the verifier said of it.
const minimal = new Map<string, { readonly scopes: readonly string[]; readonly exp: number }>()
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

function minimalCheck(req: IncomingMessage): boolean | Promise<boolean> {
  const raw = req.rawHeaders
  let authorization: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 13 && name.toLowerCase() === 'authorization') authorization = raw[i + 1]
  }
  if (authorization === undefined || !authorization.startsWith('Bearer ')) return false
  const token = authorization.slice(7)
  if (!TOKEN68.test(token)) return false
  const key = hash('sha256', token, 'base64url')
  const known = minimal.get(key)
  if (known === undefined) {
    const request = { method: 'GET', url: '/minimal', headers: { authorization } }
    return verifier.verify(request, { scopes: ['orders:read'] }).then((result) => {
      if (result.ok) minimal.set(key, { scopes: result.token.scopes, exp: result.token.exp ?? 0 })
      return result.ok
    })
  }
  return known.exp > Date.now() / 1000 && known.scopes.includes('orders:read')
}

const POLICY = { scopes: ['orders:read'] }
const orders = protect(verifier, POLICY, (_req, res) => {
  res.writeHead(200, HEADERS).end(BODY)
})

// A plain listener: each route pays only for what it uses (no async function around all of them).
const server = createServer((req, res) => {
  if (req.url === '/orders') {
    orders(req, res)
  } else if (req.url === '/orders-await') {
    void ordersAwaited(req, res)
  } else if (req.url === '/minimal') {
    const checked = minimalCheck(req)
    if (checked instanceof Promise) void checked.then((ok) => answer(ok, res))
    else answer(checked, res)
  } else if (req.url === '/open') {
    res.writeHead(200, HEADERS).end(BODY)
  } else {
    res.writeHead(404).end()
  }
})

async function ordersAwaited(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const token = await authenticate(verifier, req, res, POLICY)
  if (token !== undefined) res.writeHead(200, HEADERS).end(BODY)
}

function answer(ok: boolean, res: ServerResponse): void {
  if (ok) res.writeHead(200, HEADERS).end(BODY)
  else res.writeHead(401).end()
}
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
