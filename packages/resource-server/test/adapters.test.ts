/**
 * The framework adapters, black box: one table of behaviour cases run over real HTTP on loopback
 * against Express, Fastify, Hono (through @hono/node-server), bare node:http, and the MCP SDK's own
 * `requireBearerAuth` fed by `mcpTokenVerifier`. The authorization server is the real
 * `keyhole serve`. Test names start with the checklist ids they cover (§6 RFC 6750, §11 RFC 9728).
 *
 * Every app: GET /orders needs orders:read, GET /admin needs orders:write, GET /down/orders uses a
 * verifier whose AS is a closed port, and the RFC 9728 route derived from the verifier.
 *
 * The MCP SDK's middleware answers some cases its own way (see src/adapters/mcp.ts); those
 * differences are asserted as they are, under `kind === 'mcp'`, so a change in the SDK shows up.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { serve } from '@hono/node-server'
import {
  createTokenVerifier,
  type Policy,
  type TokenVerifier,
  type VerifiedToken,
} from '@keyhole/resource-server'
import * as onExpress from '@keyhole/resource-server/express'
import * as onFastify from '@keyhole/resource-server/fastify'
import * as onHono from '@keyhole/resource-server/hono'
import { mcpTokenVerifier } from '@keyhole/resource-server/mcp'
import * as onNode from '@keyhole/resource-server/node'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import express from 'express'
import fastify from 'fastify'
import { Hono } from 'hono'
import {
  getToken,
  type RunningServer,
  revoke,
  startServer,
} from '../../../conformance/support/harness.ts'

const AUDIENCE = 'https://orders.example.test'
const METADATA_URL = 'https://orders.example.test/.well-known/oauth-protected-resource'
const METADATA_PATH = '/.well-known/oauth-protected-resource'
const READ: Policy = { scopes: ['orders:read'] }
const WRITE: Policy = { scopes: ['orders:write'] }

/** What every protected handler answers: what it saw of the token. */
interface Seen {
  readonly sub: string | undefined
  readonly client_id: string | undefined
  readonly scopes: readonly string[]
}
const seen = (token: VerifiedToken): Seen => ({
  sub: token.sub,
  client_id: token.clientId,
  scopes: token.scopes,
})

interface Verifiers {
  readonly main: TokenVerifier
  /** Its issuer is a closed port. */
  readonly down: TokenVerifier
}

interface RunningApp {
  readonly base: string
  close(): Promise<void>
}

interface Target {
  readonly kind: 'express' | 'fastify' | 'hono' | 'node' | 'node protect()' | 'mcp'
  start(v: Verifiers): Promise<RunningApp>
}

async function listen(server: Server): Promise<RunningApp> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done, fail) => {
        server.closeAllConnections()
        server.close((err) => (err === undefined ? done() : fail(err)))
      }),
  }
}

const targets: readonly Target[] = [
  {
    kind: 'express',
    async start(v) {
      const app = express()
      app.use(onExpress.protectedResourceMetadata(v.main))
      const handler: express.RequestHandler = (req, res) => {
        res.json(seen(onExpress.getAuth(req)))
      }
      app.get('/orders', onExpress.requireToken(v.main, READ), handler)
      app.get('/admin', onExpress.requireToken(v.main, WRITE), handler)
      app.get('/down/orders', onExpress.requireToken(v.down, READ), handler)
      return listen(createServer(app))
    },
  },
  {
    kind: 'fastify',
    async start(v) {
      const app = fastify()
      app.route(onFastify.protectedResourceMetadata(v.main))
      const handler = async (req: { auth?: VerifiedToken }) => {
        assert.ok(req.auth, 'requireToken sets request.auth')
        return seen(req.auth)
      }
      app.get('/orders', { preHandler: onFastify.requireToken(v.main, READ) }, handler)
      app.get('/admin', { preHandler: onFastify.requireToken(v.main, WRITE) }, handler)
      app.get('/down/orders', { preHandler: onFastify.requireToken(v.down, READ) }, handler)
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as AddressInfo
      return { base: `http://127.0.0.1:${port}`, close: () => app.close() }
    },
  },
  {
    kind: 'hono',
    async start(v) {
      const app = new Hono<onHono.TokenEnv>()
      app.use(onHono.protectedResourceMetadata(v.main))
      app.get('/orders', onHono.requireToken(v.main, READ), (c) => c.json(seen(c.get('auth'))))
      app.get('/admin', onHono.requireToken(v.main, WRITE), (c) => c.json(seen(c.get('auth'))))
      app.get('/down/orders', onHono.requireToken(v.down, READ), (c) => c.json(seen(c.get('auth'))))
      const server = await new Promise<Server>((done) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
          done(s as Server),
        )
      })
      const { port } = server.address() as AddressInfo
      return {
        base: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      }
    },
  },
  {
    kind: 'node',
    async start(v) {
      const routes: Record<string, readonly [TokenVerifier, Policy]> = {
        '/orders': [v.main, READ],
        '/admin': [v.main, WRITE],
        '/down/orders': [v.down, READ],
      }
      const server = createServer(async (req, res) => {
        if (onNode.serveResourceMetadata(v.main, req, res)) return
        const route = routes[(req.url ?? '/').split('?')[0] ?? '/']
        if (route === undefined) {
          res.writeHead(404).end()
          return
        }
        const token = await onNode.authenticate(route[0], req, res, route[1])
        if (token === undefined) return
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify(seen(token)))
      })
      return listen(server)
    },
  },
  {
    kind: 'node protect()',
    async start(v) {
      const answer: onNode.ProtectedHandler = (_req, res, token) => {
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify(seen(token)))
      }
      const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => unknown> = {
        '/orders': onNode.protect(v.main, READ, answer),
        '/admin': onNode.protect(v.main, WRITE, answer),
        '/down/orders': onNode.protect(v.down, READ, answer),
      }
      const server = createServer((req, res) => {
        if (onNode.serveResourceMetadata(v.main, req, res)) return
        const route = routes[(req.url ?? '/').split('?')[0] ?? '/']
        if (route === undefined) res.writeHead(404).end()
        else route(req, res)
      })
      return listen(server)
    },
  },
  {
    kind: 'mcp',
    async start(v) {
      const app = express()
      app.use(onExpress.protectedResourceMetadata(v.main))
      const guard = (verifier: TokenVerifier, policy: Policy) =>
        requireBearerAuth({
          verifier: mcpTokenVerifier(verifier, policy),
          requiredScopes: [...(policy.scopes ?? [])],
          resourceMetadataUrl: METADATA_URL,
          expectedResource: new URL(AUDIENCE),
        })
      const handler: express.RequestHandler = (req, res) => {
        const auth = req.auth
        assert.ok(auth, 'requireBearerAuth sets req.auth')
        const sub = auth.extra?.sub
        res.json({
          sub: typeof sub === 'string' ? sub : undefined,
          client_id: auth.clientId,
          scopes: auth.scopes,
        } satisfies Seen)
      }
      app.get('/orders', guard(v.main, READ), handler)
      app.get('/admin', guard(v.main, WRITE), handler)
      app.get('/down/orders', guard(v.down, READ), handler)
      return listen(createServer(app))
    },
  },
]

// --- HTTP -----------------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
}

/**
 * GET over node:http with raw headers (a flat [name, value, ...] list, so a header can repeat;
 * fetch would merge repeats into one).
 */
function send(url: string, headers: readonly string[] = []): Promise<Answer> {
  return new Promise((done, fail) => {
    // With a raw list Node adds no Host header itself, and HTTP/1.1 requires one.
    const raw = ['Host', new URL(url).host, ...headers]
    const req = request(url, { method: 'GET', headers: raw, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, text }))
      res.on('error', fail)
    })
    req.on('error', fail)
    req.end()
  })
}

const bearer = (token: string, scheme = 'Bearer') => ['Authorization', `${scheme} ${token}`]

const json = (answer: Answer) => JSON.parse(answer.text) as Record<string, unknown>

/** The status, the body's `error` member, and no token anywhere in the answer. */
function assertFailure(
  answer: Answer,
  status: number,
  error: string | undefined,
  secrets: readonly string[],
): void {
  assert.equal(answer.status, status, answer.text)
  const body = json(answer)
  assert.equal(body.error, error, `body: ${answer.text}`)
  if (error === undefined) assert.ok(!('error' in body), 'no error member in the body')
  assert.equal(typeof body.error_description, 'string')
  const everything = `${answer.text}\n${JSON.stringify(answer.headers)}`
  for (const secret of secrets) {
    assert.ok(!everything.includes(secret), 'the answer never contains the token')
  }
}

function challenge(answer: Answer): string {
  const value = answer.headers['www-authenticate']
  assert.equal(typeof value, 'string', 'WWW-Authenticate is present')
  return value as string
}

// --- the table ----------------------------------------------------------------------------

interface Context {
  readonly kind: Target['kind']
  readonly base: string
  /** orders:read only. */
  readonly readToken: string
  /** Distinct tokens for cases that must not share cache state. */
  fresh(scope?: string): Promise<string>
  /** Cache hits of the main verifier so far. */
  cacheHits(): number
  readonly as: RunningServer
}

interface Case {
  readonly name: string
  /** How the MCP SDK's own middleware answers instead, when it differs (appended to the name). */
  readonly sdk?: string
  run(ctx: Context): Promise<void>
}

const cases: readonly Case[] = [
  {
    name: 'B-12, PR-09, B-05: no Authorization → 401, Bearer realm + resource_metadata, no error',
    sdk: 'error="invalid_token", no realm',
    async run(ctx) {
      const answer = await send(`${ctx.base}/orders`)
      const www = challenge(answer)
      assert.match(
        www,
        /resource_metadata="https:\/\/orders\.example\.test\/\.well-known\/oauth-protected-resource"/,
      )
      if (ctx.kind === 'mcp') {
        // The SDK answers a missing header with invalid_token (and its own challenge, no realm).
        assertFailure(answer, 401, 'invalid_token', [])
        assert.match(www, /^Bearer error="invalid_token"/)
        return
      }
      assertFailure(answer, 401, undefined, [])
      assert.match(www, /^Bearer realm="https:\/\/orders\.example\.test"/)
      assert.doesNotMatch(www, /error=/)
    },
  },
  {
    name: 'B-02, B-11: malformed credentials ("Bearer a b") → 400 invalid_request',
    sdk: 'verifies "a" → 401 invalid_token',
    async run(ctx) {
      const answer = await send(`${ctx.base}/orders`, ['Authorization', 'Bearer a b'])
      if (ctx.kind === 'mcp') {
        // The SDK splits on spaces and verifies "a" alone: an unknown token.
        assertFailure(answer, 401, 'invalid_token', [])
        return
      }
      assertFailure(answer, 400, 'invalid_request', [])
      assert.match(challenge(answer), /error="invalid_request"/)
    },
  },
  {
    name: 'B-02, D-09: two Authorization headers → 400 invalid_request',
    sdk: 'sees only the first → 200',
    async run(ctx) {
      const answer = await send(`${ctx.base}/orders`, [
        ...bearer(ctx.readToken),
        ...bearer('another-token'),
      ])
      if (ctx.kind === 'mcp') {
        // The SDK reads req.headers, where Node keeps only the first Authorization header.
        assert.equal(answer.status, 200, answer.text)
        return
      }
      assertFailure(answer, 400, 'invalid_request', [ctx.readToken, 'another-token'])
    },
  },
  {
    name: 'B-02: the scheme is case-insensitive (bearer, BEARER) → 200',
    async run(ctx) {
      for (const scheme of ['bearer', 'BEARER']) {
        const answer = await send(`${ctx.base}/orders`, bearer(ctx.readToken, scheme))
        assert.equal(answer.status, 200, `${scheme}: ${answer.text}`)
      }
    },
  },
  {
    name: 'B-11, B-09: unknown or revoked token → 401 invalid_token',
    async run(ctx) {
      const revoked = await ctx.fresh('orders:read')
      assert.equal((await revoke(ctx.as, revoked)).status, 200)
      for (const token of ['kh_at_unknownunknownunknownunknown', revoked]) {
        const answer = await send(`${ctx.base}/orders`, bearer(token))
        assertFailure(answer, 401, 'invalid_token', [token])
        assert.match(challenge(answer), /^Bearer .*error="invalid_token"/)
      }
    },
  },
  {
    name: 'B-08, B-11: valid token without the route’s scope → 403 insufficient_scope, scope="orders:write"',
    async run(ctx) {
      const answer = await send(`${ctx.base}/admin`, bearer(ctx.readToken))
      assertFailure(answer, 403, 'insufficient_scope', [ctx.readToken])
      const www = challenge(answer)
      assert.match(www, /error="insufficient_scope"/)
      assert.match(www, /scope="orders:write"/)
    },
  },
  {
    name: 'valid token → 200, the handler sees scopes, sub and client_id',
    async run(ctx) {
      const answer = await send(`${ctx.base}/orders`, bearer(ctx.readToken))
      assert.equal(answer.status, 200, answer.text)
      assert.deepEqual(json(answer), { sub: 'shop', client_id: 'shop', scopes: ['orders:read'] })
    },
  },
  {
    name: 'policy is applied on every request: /orders 200, then the cached token on /admin 403',
    async run(ctx) {
      const token = await ctx.fresh('orders:read')
      assert.equal((await send(`${ctx.base}/orders`, bearer(token))).status, 200)
      const hits = ctx.cacheHits()
      assertFailure(await send(`${ctx.base}/admin`, bearer(token)), 403, 'insufficient_scope', [
        token,
      ])
      assert.ok(ctx.cacheHits() > hits, 'the /admin answer came from the cache')
      assert.equal((await send(`${ctx.base}/orders`, bearer(token))).status, 200)
    },
  },
  {
    name: 'AS unreachable → 503 with Retry-After and no WWW-Authenticate error',
    sdk: '500 server_error, no Retry-After',
    async run(ctx) {
      const answer = await send(`${ctx.base}/down/orders`, bearer(ctx.readToken))
      if (ctx.kind === 'mcp') {
        // The SDK maps ServerError to 500 and has no way to send Retry-After.
        assertFailure(answer, 500, 'server_error', [ctx.readToken])
        return
      }
      assertFailure(answer, 503, 'temporarily_unavailable', [ctx.readToken])
      assert.match(String(answer.headers['retry-after']), /^\d+$/)
      assert.doesNotMatch(answer.headers['www-authenticate'] ?? '', /error=/)
    },
  },
  {
    name: 'B-04: a token in the query (?access_token=) is ignored → 401',
    sdk: 'with error="invalid_token"',
    async run(ctx) {
      const answer = await send(`${ctx.base}/orders?access_token=${ctx.readToken}`)
      if (ctx.kind === 'mcp') {
        assertFailure(answer, 401, 'invalid_token', [ctx.readToken])
        return
      }
      assertFailure(answer, 401, undefined, [ctx.readToken])
      assert.doesNotMatch(challenge(answer), /error=/)
    },
  },
  {
    name: 'PR-04, PR-06, PR-07, PR-12: metadata at the inserted well-known path, JSON, cacheable',
    async run(ctx) {
      const answer = await send(`${ctx.base}${METADATA_PATH}`)
      assert.equal(answer.status, 200, answer.text)
      assert.match(String(answer.headers['content-type']), /^application\/json\b/)
      assert.match(String(answer.headers['cache-control']), /\bmax-age=\d+/)
      const document = json(answer)
      assert.equal(document.resource, AUDIENCE)
      assert.deepEqual(document.authorization_servers, [ctx.as.issuer])
      assert.deepEqual(document.bearer_methods_supported, ['header'])
      // Only the inserted path itself.
      assert.equal((await send(`${ctx.base}/.well-known/oauth-protected-resource/x`)).status, 404)
    },
  },
]

// --- run ------------------------------------------------------------------------------------

describe('adapters (real keyhole serve, real HTTP)', () => {
  let as: RunningServer
  let readToken: string
  let verifiers: Verifiers

  before(async () => {
    as = await startServer()
    readToken = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    const closed = await listen(createServer())
    await closed.close()
    verifiers = {
      main: createTokenVerifier({
        issuer: as.issuer,
        audience: AUDIENCE,
        credentials: { clientId: 'orders', clientSecret: 'orders-secret' },
      }),
      down: createTokenVerifier({
        issuer: closed.base,
        audience: AUDIENCE,
        credentials: { clientId: 'orders', clientSecret: 'orders-secret' },
        http: { timeoutMs: 1000 },
      }),
    }
  })

  after(async () => {
    await verifiers?.main.close()
    await verifiers?.down.close()
    await as?.stop()
  })

  for (const target of targets) {
    describe(target.kind, () => {
      let app: RunningApp
      before(async () => {
        app = await target.start(verifiers)
      })
      after(async () => {
        await app?.close()
      })
      for (const c of cases) {
        const name =
          target.kind === 'mcp' && c.sdk !== undefined ? `${c.name} [SDK: ${c.sdk}]` : c.name
        test(name, () =>
          c.run({
            kind: target.kind,
            base: app.base,
            readToken,
            as,
            fresh: (scope = 'orders:read') => getToken(as, ['shop', 'shop-secret'], { scope }),
            cacheHits: () => verifiers.main.metrics().counters.cache_hit,
          }),
        )
      }
    })
  }
})

describe('node protect() (real keyhole serve, real HTTP)', () => {
  let as: RunningServer
  let verifier: TokenVerifier
  let app: RunningApp
  /** For each request to /orders: whether the listener returned without a promise. */
  const synchronous: boolean[] = []
  /** What `onError` of the /tenant route was given, and how its listener's promises settled. */
  const reported: unknown[] = []
  const settled: string[] = []

  before(async () => {
    as = await startServer()
    verifier = createTokenVerifier({
      issuer: as.issuer,
      audience: AUDIENCE,
      credentials: { clientId: 'orders', clientSecret: 'orders-secret' },
    })
    const orders = onNode.protect(verifier, READ, (_req, res, token) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(seen(token)))
    })
    // A tenant rule that throws: the check itself fails.
    const throwing: Policy = {
      tenant: {
        claim: 'client_id',
        equals: () => {
          throw new Error('tenant lookup failed')
        },
      },
    }
    const answer200: onNode.ProtectedHandler = (_req, res) => res.writeHead(200).end()
    const tenant = onNode.protect(verifier, throwing, answer200, {
      onError: (err) => reported.push(err),
    })
    const badHook = onNode.protect(verifier, throwing, answer200, {
      onError: () => {
        throw new Error('the reporting hook failed')
      },
    })
    app = await listen(
      createServer((req, res) => {
        if (req.url === '/orders') {
          const returned = orders(req, res)
          synchronous.push(!(returned instanceof Promise))
        } else {
          const returned = (req.url === '/bad-hook' ? badHook : tenant)(req, res)
          if (returned instanceof Promise) {
            returned.then(
              () => settled.push('resolved'),
              () => settled.push('rejected'),
            )
          }
        }
      }),
    )
  })

  after(async () => {
    await app?.close()
    await verifier?.close()
    await as?.stop()
  })

  test('Q-04 the handler runs in the same tick on a warm cache, after a promise on a cold one', async () => {
    const token = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    const cold = await send(`${app.base}/orders`, bearer(token))
    const warm = await send(`${app.base}/orders`, bearer(token))
    assert.equal(cold.status, 200)
    assert.equal(warm.status, 200)
    assert.equal(warm.text, cold.text)
    assert.deepEqual(synchronous, [false, true])
  })

  test('a check that throws (a tenant function) is answered 500 and reported; nothing is left unhandled', async () => {
    const token = await getToken(as, ['shop', 'shop-secret'], { scope: 'orders:read' })
    const res = await send(`${app.base}/tenant`, bearer(token))
    assert.equal(res.status, 500)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.deepEqual(JSON.parse(res.text), {
      error_description: 'the access token could not be checked',
    })
    assert.ok(!res.text.includes(token))
    assert.equal(reported.length, 1)
    assert.match(String(reported[0]), /tenant lookup failed/)
    assert.deepEqual(settled, ['resolved'])
    // A reporting hook that throws changes nothing.
    assert.equal((await send(`${app.base}/bad-hook`, bearer(token))).status, 500)
    assert.deepEqual(settled, ['resolved', 'resolved'])
    // And the API keeps serving.
    assert.equal((await send(`${app.base}/orders`, bearer(token))).status, 200)
  })
})

describe('packaging', () => {
  test('the core (@keyhole/resource-server) imports no framework', () => {
    // Walk the static import graph from src/index.ts: no adapter, no framework package.
    const src = resolve(import.meta.dirname, '../src')
    const seenFiles = new Set<string>()
    const pending = [join(src, 'index.ts')]
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (seenFiles.has(file)) continue
      seenFiles.add(file)
      const code = readFileSync(file, 'utf8')
      for (const [, specifier] of code.matchAll(/(?:from|import)\s+'([^']+)'/g)) {
        if (specifier === undefined) continue
        assert.doesNotMatch(
          specifier,
          /^(express|fastify|hono|@hono\/|@modelcontextprotocol\/)/,
          `${file} imports ${specifier}`,
        )
        if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier))
      }
    }
    assert.ok(![...seenFiles].some((f) => f.includes('/adapters/')), 'no adapter in the core')
    assert.ok(seenFiles.size > 5)
  })
})
