/**
 * RFC 8705 §3 certificate-bound access tokens (checklist §10 T-01..T-06, §11 PR-02), black box
 * over real HTTPS on loopback: throwaway keys and self-signed certificates made by the `openssl`
 * CLI, an API on node:https with `requestCert` (chain not checked), and clients that present one
 * certificate, another, or none. Tokens come from the test kit (introspected, and JWT access
 * tokens) and from panva's oidc-provider (an opaque token bound by the AS itself).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { TLSSocket } from 'node:tls'
import { serve } from '@hono/node-server'
import { basicAuthorization } from '@keyhole/protocol'
import {
  certificateThumbprint,
  createTokenVerifier,
  type Policy,
  type TokenVerifier,
  type VerifiedToken,
  type VerifierOptions,
  VerifierOptionsError,
} from '@keyhole/resource-server'
import * as onExpress from '@keyhole/resource-server/express'
import * as onFastify from '@keyhole/resource-server/fastify'
import * as onHono from '@keyhole/resource-server/hono'
import { mcpTokenVerifier } from '@keyhole/resource-server/mcp'
import * as onNode from '@keyhole/resource-server/node'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@keyhole/resource-server/testing'
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import express from 'express'
import fastify from 'fastify'
import { Hono } from 'hono'
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { Provider } from 'oidc-provider'
import { accessTokenHash, jwkThumbprint } from '../src/dpop.ts'
import { parseChallenges } from './support/challenge.ts'

declare module 'oidc-provider' {
  interface ClientMetadata {
    tls_client_certificate_bound_access_tokens?: boolean
  }
}

const AUDIENCE = 'https://orders.example.test'
const READ: Policy = { scopes: ['orders:read'] }

// --- certificates (openssl CLI) ------------------------------------------------------------

interface Credential {
  readonly key: string
  readonly cert: string
  /** The DER bytes, as `openssl x509 -outform DER` writes them. */
  readonly der: Buffer
  readonly certPath: string
}

const dir = mkdtempSync(join(tmpdir(), 'keyhole-mtls-'))

function openssl(args: readonly string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input === undefined ? {} : { input }),
  })
}

/** A fresh P-256 key and a self-signed certificate for it (valid one day). */
function selfSigned(name: string, extra: readonly string[] = []): Credential {
  const keyPath = join(dir, `${name}.key`)
  const certPath = join(dir, `${name}.crt`)
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    ...extra,
  ])
  return {
    key: readFileSync(keyPath, 'utf8'),
    cert: readFileSync(certPath, 'utf8'),
    der: openssl(['x509', '-in', certPath, '-outform', 'DER']),
    certPath,
  }
}

const serverTls = selfSigned('api', ['-addext', 'subjectAltName=IP:127.0.0.1'])
const alice = selfSigned('client-a')
const mallory = selfSigned('client-b')

/** RFC 8705 §3.1 by openssl alone: SHA-256 of the DER, base64 turned into base64url, no padding. */
const opensslThumbprint = (c: Credential) =>
  openssl(['dgst', '-sha256', '-binary'], openssl(['x509', '-in', c.certPath, '-outform', 'DER']))
    .toString('base64')
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')

/** RFC 9440 §2.2: `Client-Cert: :<base64 DER>:`. */
const clientCertHeader = (c: Credential) => `:${c.der.toString('base64')}:`

// --- HTTP ----------------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
}

interface SendOptions {
  /** The client certificate presented in the TLS handshake. */
  readonly client?: Credential
  /** Raw header list (a name may repeat). */
  readonly headers?: readonly string[]
}

/** GET over node:https (or node:http), one fresh connection per request, so each has its own certificate. */
function send(url: string, o: SendOptions = {}): Promise<Answer> {
  return new Promise((done, fail) => {
    const raw = ['Host', new URL(url).host, ...(o.headers ?? [])]
    const onAnswer = (res: IncomingMessage) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, text }))
      res.on('error', fail)
    }
    const req = url.startsWith('https:')
      ? httpsRequest(
          url,
          {
            method: 'GET',
            headers: raw,
            agent: false,
            ca: serverTls.cert,
            ...(o.client === undefined ? {} : { cert: o.client.cert, key: o.client.key }),
          },
          onAnswer,
        )
      : httpRequest(url, { method: 'GET', headers: raw, agent: false }, onAnswer)
    req.on('error', fail)
    req.end()
  })
}

const bearer = (token: string) => ['Authorization', `Bearer ${token}`]

interface Seen {
  readonly tokenType: string
  readonly cnf: Readonly<Record<string, unknown>> | null
  readonly source: string
  /** Whether the TLS layer trusted the client's chain (null without TLS). */
  readonly authorized: boolean | null
}

function seen(req: IncomingMessage, token: VerifiedToken): Seen {
  const socket = req.socket as Partial<TLSSocket>
  return {
    tokenType: token.tokenType,
    cnf: token.cnf ?? null,
    source: token.source,
    authorized: typeof socket.authorized === 'boolean' ? socket.authorized : null,
  }
}

function ok(answer: Answer): Seen {
  assert.equal(answer.status, 200, answer.text)
  return JSON.parse(answer.text) as Seen
}

/** 401 invalid_token, with a Bearer challenge carrying the error, and no token in the answer. */
function refusedBearer(answer: Answer, token: string, description?: RegExp): void {
  assert.equal(answer.status, 401, answer.text)
  const body = JSON.parse(answer.text) as { error?: string; error_description?: string }
  assert.equal(body.error, 'invalid_token')
  if (description !== undefined) assert.match(body.error_description ?? '', description)
  const challenges = parseChallenges(String(answer.headers['www-authenticate']))
  const used = challenges.find((c) => c.scheme.toLowerCase() === 'bearer')
  assert.equal(used?.params.error, 'invalid_token', String(answer.headers['www-authenticate']))
  assert.ok(!`${answer.text}${JSON.stringify(answer.headers)}`.includes(token))
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown

interface Running {
  readonly base: string
  close(): Promise<void>
}

async function listen(server: Server, scheme: 'http' | 'https'): Promise<Running> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return {
    base: `${scheme}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

/** The API's TLS options: ask for a client certificate, accept any (RFC 8705 §6.2, T-05). */
const apiTls = {
  key: serverTls.key,
  cert: serverTls.cert,
  requestCert: true,
  rejectUnauthorized: false,
}

// --- the API: node:https and node:http, routes set by each suite -----------------------------

const routes = new Map<string, Listener>()
const route: Listener = (req, res) => {
  const listener = routes.get((req.url ?? '/').split('?')[0] ?? '/')
  if (listener === undefined) res.writeHead(404).end()
  else listener(req, res)
}
let tls: Running
let plain: Running
const verifiers: TokenVerifier[] = []
let kit: TestAuthorizationServer

function verifierFor(options: Partial<VerifierOptions>): TokenVerifier {
  const verifier = createTokenVerifier({
    issuer: kit.issuer,
    audience: AUDIENCE,
    credentials: kit.credentials,
    ...options,
  })
  verifiers.push(verifier)
  return verifier
}

const answer: onNode.ProtectedHandler = (req, res, token) => {
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(seen(req, token)))
}

before(async () => {
  kit = await startTestAuthorizationServer({ audience: AUDIENCE })
  tls = await listen(createHttpsServer(apiTls, route), 'https')
  plain = await listen(createHttpServer(route), 'http')
})

after(async () => {
  await Promise.all(verifiers.map((v) => v.close()))
  await tls?.close()
  await plain?.close()
  await kit?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('certificate-bound tokens over node:https (protect)', () => {
  let introspecting: TokenVerifier
  before(() => {
    introspecting = verifierFor({ mtls: {} })
    routes.set('/orders', onNode.protect(introspecting, READ, answer))
    routes.set(
      '/jwt/orders',
      onNode.protect(verifierFor({ strategy: 'jwt', mtls: {} }), READ, answer),
    )
    routes.set('/off/orders', onNode.protect(verifierFor({ mtls: false }), READ, answer))
    routes.set('/default/orders', onNode.protect(verifierFor({}), READ, answer))
  })

  test('T-03 the thumbprint is SHA-256 of the DER, base64url without padding, as openssl computes it', async () => {
    const expected = opensslThumbprint(alice)
    assert.match(expected, /^[A-Za-z0-9_-]{43}$/)
    assert.equal(certificateThumbprint(alice.der), expected)
    assert.equal(certificateThumbprint(alice.cert), expected, 'PEM text gives the same')
    // The API computes it from the handshake's certificate: a token bound to openssl's value passes.
    const token = kit.issueToken({ scope: 'orders:read', cnf: { 'x5t#S256': expected } })
    const seenByApi = ok(
      await send(`${tls.base}/orders`, { client: alice, headers: bearer(token) }),
    )
    assert.deepEqual(seenByApi.cnf, { 'x5t#S256': expected })
  })

  test('T-03 byte for byte: the thumbprint with "=" padding, or another encoding, does not match', async () => {
    const digest = Buffer.from(opensslThumbprint(alice), 'base64url')
    for (const variant of [
      `${opensslThumbprint(alice)}=`,
      digest.toString('base64'),
      digest.toString('hex'),
      ` ${opensslThumbprint(alice)}`,
    ]) {
      const token = kit.issueToken({ scope: 'orders:read', cnf: { 'x5t#S256': variant } })
      const res = await send(`${tls.base}/orders`, { client: alice, headers: bearer(token) })
      refusedBearer(res, token, /another client certificate/)
    }
  })

  test('T-01 T-04 an introspected token bound to certificate A: A → 200 (Bearer), B → 401 invalid_token', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    const good = ok(await send(`${tls.base}/orders`, { client: alice, headers: bearer(token) }))
    assert.equal(good.tokenType, 'Bearer', 'RFC 8705 tokens stay Bearer tokens')
    assert.equal(good.source, 'introspection')
    assert.deepEqual(good.cnf, { 'x5t#S256': opensslThumbprint(alice) })
    refusedBearer(
      await send(`${tls.base}/orders`, { client: mallory, headers: bearer(token) }),
      token,
      /another client certificate/,
    )
  })

  test('T-02 a bound token without a client certificate → 401 invalid_token (TLS and plain HTTP)', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.der })
    refusedBearer(
      await send(`${tls.base}/orders`, { headers: bearer(token) }),
      token,
      /presented none/,
    )
    refusedBearer(await send(`${plain.base}/orders`, { headers: bearer(token) }), token)
    // Unbound tokens are not affected by the certificate, or its absence.
    const unbound = kit.issueToken({ scope: 'orders:read' })
    assert.equal(ok(await send(`${tls.base}/orders`, { headers: bearer(unbound) })).cnf, null)
    ok(await send(`${tls.base}/orders`, { client: mallory, headers: bearer(unbound) }))
    ok(await send(`${plain.base}/orders`, { headers: bearer(unbound) }))
  })

  test('T-05 a self-signed client certificate that matches is accepted: the chain is not validated', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    const res = ok(await send(`${tls.base}/orders`, { client: alice, headers: bearer(token) }))
    assert.equal(res.authorized, false, 'the TLS layer did not trust the chain')
    assert.equal(new X509Certificate(alice.cert).checkIssued(new X509Certificate(alice.cert)), true)
  })

  test('T-01 a bound token on a cache hit is still checked against each request’s certificate', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    const before = kit.introspectionCount
    const hits = introspecting.metrics().counters.cache_hit
    ok(await send(`${tls.base}/orders`, { client: alice, headers: bearer(token) }))
    refusedBearer(
      await send(`${tls.base}/orders`, { client: mallory, headers: bearer(token) }),
      token,
    )
    refusedBearer(await send(`${tls.base}/orders`, { headers: bearer(token) }), token)
    const again = ok(await send(`${tls.base}/orders`, { client: alice, headers: bearer(token) }))
    assert.equal(again.source, 'cache')
    assert.equal(kit.introspectionCount - before, 1, 'one introspection for the four requests')
    assert.equal(introspecting.metrics().counters.cache_hit - hits, 3)
  })

  test('T-01 a JWT access token with cnf.x5t#S256 (strategy jwt): A → 200, B or none → 401', async () => {
    const token = kit.issueJwt({
      scope: 'orders:read',
      cnf: { 'x5t#S256': certificateThumbprint(alice.cert) },
    })
    const good = ok(await send(`${tls.base}/jwt/orders`, { client: alice, headers: bearer(token) }))
    assert.equal(good.source, 'jwt')
    assert.equal(good.tokenType, 'Bearer')
    refusedBearer(
      await send(`${tls.base}/jwt/orders`, { client: mallory, headers: bearer(token) }),
      token,
    )
    refusedBearer(await send(`${tls.base}/jwt/orders`, { headers: bearer(token) }), token)
    // Local validations are cached too: the second refusal came from the cache, still checked.
    ok(await send(`${tls.base}/jwt/orders`, { client: alice, headers: bearer(token) }))
  })

  test('P-13 an unknown confirmation member next to x5t#S256 still refuses the token', async () => {
    const token = kit.issueToken({
      scope: 'orders:read',
      cnf: { 'x5t#S256': opensslThumbprint(alice), x5t: 'c2hhMQ' },
    })
    refusedBearer(
      await send(`${tls.base}/orders`, { client: alice, headers: bearer(token) }),
      token,
      /cannot check/,
    )
    const wrongType = kit.issueToken({ scope: 'orders:read', cnf: { 'x5t#S256': 42 } })
    refusedBearer(
      await send(`${tls.base}/orders`, { client: alice, headers: bearer(wrongType) }),
      wrongType,
      /cannot check/,
    )
  })

  test('T-01 mtls: false refuses every certificate-bound token, even with the right certificate', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    refusedBearer(
      await send(`${tls.base}/off/orders`, { client: alice, headers: bearer(token) }),
      token,
      /cannot check/,
    )
    ok(await send(`${tls.base}/default/orders`, { client: alice, headers: bearer(token) }))
  })

  test('T-06 BCP-05 a Client-Cert header from the client is ignored by default', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    const injected = ['Client-Cert', clientCertHeader(alice)]
    refusedBearer(
      await send(`${tls.base}/orders`, { headers: [...bearer(token), ...injected] }),
      token,
      /presented none/,
    )
    refusedBearer(
      await send(`${tls.base}/orders`, {
        client: mallory,
        headers: [...bearer(token), ...injected],
      }),
      token,
      /another client certificate/,
    )
    refusedBearer(
      await send(`${plain.base}/orders`, { headers: [...bearer(token), ...injected] }),
      token,
    )
  })
})

describe('T-06 the certificate from a TLS-terminating proxy (mtls.certificateHeader, RFC 9440)', () => {
  before(() => {
    const verifier = verifierFor({ mtls: { certificateHeader: 'Client-Cert' } })
    routes.set('/proxied/orders', onNode.protect(verifier, READ, answer))
  })

  test('T-06 with the option, the Client-Cert header is the certificate: A → 200, B → 401', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    // The proxy-to-API hop: plain HTTP in a protected network, or TLS.
    for (const base of [plain.base, tls.base]) {
      const res = ok(
        await send(`${base}/proxied/orders`, {
          headers: [...bearer(token), 'Client-Cert', clientCertHeader(alice)],
        }),
      )
      assert.deepEqual(res.cnf, { 'x5t#S256': opensslThumbprint(alice) })
      refusedBearer(
        await send(`${base}/proxied/orders`, {
          headers: [...bearer(token), 'client-cert', clientCertHeader(mallory)],
        }),
        token,
        /another client certificate/,
      )
    }
  })

  test('T-06 with the option, the connection’s own certificate is not used (it would be the proxy’s)', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    refusedBearer(
      await send(`${tls.base}/proxied/orders`, { client: alice, headers: bearer(token) }),
      token,
      /presented none/,
    )
  })

  test('T-06 a header that is not one RFC 9440 Byte Sequence is no certificate → 401', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    const base64 = alice.der.toString('base64')
    for (const headers of [
      ['Client-Cert', base64], // no colons
      ['Client-Cert', encodeURIComponent(alice.cert)], // nginx's $ssl_client_escaped_cert
      ['Client-Cert', `:${alice.der.toString('base64url')}:`], // base64url is not base64
      ['Client-Cert', clientCertHeader(alice), 'Client-Cert', clientCertHeader(alice)], // twice
      ['Client-Cert', `${clientCertHeader(mallory)}, ${clientCertHeader(alice)}`], // appended
      ['Client-Cert', '::'],
    ]) {
      refusedBearer(
        await send(`${plain.base}/proxied/orders`, { headers: [...bearer(token), ...headers] }),
        token,
      )
    }
  })

  test('an invalid header name is an options error', () => {
    assert.throws(
      () => createTokenVerifier({ ...kitOptions(), mtls: { certificateHeader: 'client cert' } }),
      (err: unknown) => err instanceof VerifierOptionsError && /options\.mtls/.test(err.message),
    )
  })
})

function kitOptions() {
  return { issuer: kit.issuer, audience: AUDIENCE, credentials: kit.credentials }
}

describe('a token bound to a DPoP key and a certificate needs both proofs', () => {
  let holder: { privateKey: CryptoKey; jwk: JWK; jkt: string }

  before(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const jwk = await exportJWK(publicKey)
    holder = { privateKey, jwk, jkt: await jwkThumbprint(jwk) }
    routes.set(
      '/dpop/orders',
      onNode.protect(verifierFor({ mtls: {}, dpop: { origin: tls.base } }), READ, answer),
    )
  })

  const proof = (token: string) =>
    new SignJWT({
      jti: randomUUID(),
      htm: 'GET',
      htu: `${tls.base}/dpop/orders`,
      iat: Math.floor(Date.now() / 1000),
      ath: accessTokenHash(token),
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: holder.jwk })
      .sign(holder.privateKey)

  test('D-03 T-01 DPoP proof and certificate A → 200 (DPoP); either one missing or wrong → 401', async () => {
    const token = kit.issueToken({
      scope: 'orders:read',
      cnf: { jkt: holder.jkt },
      certificate: alice.cert,
    })
    const url = `${tls.base}/dpop/orders`
    const dpop = async () => ['Authorization', `DPoP ${token}`, 'DPoP', await proof(token)]
    const good = ok(await send(url, { client: alice, headers: await dpop() }))
    assert.equal(good.tokenType, 'DPoP')
    assert.deepEqual(good.cnf, { jkt: holder.jkt, 'x5t#S256': opensslThumbprint(alice) })

    for (const client of [undefined, mallory]) {
      const res = await send(url, { ...(client ? { client } : {}), headers: await dpop() })
      assert.equal(res.status, 401, res.text)
      assert.equal((JSON.parse(res.text) as { error: string }).error, 'invalid_token')
    }
    // The certificate without the DPoP proof: D-07, a DPoP-bound token sent as Bearer.
    const asBearer = await send(url, { client: alice, headers: bearer(token) })
    assert.equal(asBearer.status, 401)
    assert.match(String(asBearer.headers['www-authenticate']), /^DPoP .*error="invalid_token"/)
  })

  test('D-04 a token bound to a certificate only, sent with the DPoP scheme, is refused', async () => {
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    const res = await send(`${tls.base}/dpop/orders`, {
      client: alice,
      headers: ['Authorization', `DPoP ${token}`, 'DPoP', await proof(token)],
    })
    assert.equal(res.status, 401, res.text)
  })
})

describe('PR-02 RFC 9728 metadata: tls_client_certificate_bound_access_tokens', () => {
  test('PR-02 published (true) when mtls is configured; omitted (false) by default and with mtls: false', async () => {
    const configured = verifierFor({ mtls: { certificateHeader: 'client-cert' } })
    assert.equal(
      configured.resourceMetadata?.document.tls_client_certificate_bound_access_tokens,
      true,
    )
    assert.equal(
      verifierFor({ mtls: {} }).resourceMetadata?.document
        .tls_client_certificate_bound_access_tokens,
      true,
    )
    for (const verifier of [verifierFor({}), verifierFor({ mtls: false })]) {
      assert.ok(
        !(
          'tls_client_certificate_bound_access_tokens' in
          (verifier.resourceMetadata?.document ?? {})
        ),
      )
    }
    // Served by the node adapter.
    routes.set('/.well-known/oauth-protected-resource', (req, res) => {
      onNode.serveResourceMetadata(configured, req, res)
    })
    const res = await send(`${tls.base}/.well-known/oauth-protected-resource`)
    assert.equal(res.status, 200)
    const document = JSON.parse(res.text) as Record<string, unknown>
    assert.equal(document.tls_client_certificate_bound_access_tokens, true)
    assert.equal(document.resource, AUDIENCE)
  })
})

// --- every adapter over node:https ---------------------------------------------------------

interface AdapterTarget {
  readonly kind: string
  start(verifier: TokenVerifier): Promise<Running>
}

const adapterTargets: readonly AdapterTarget[] = [
  {
    kind: 'express',
    start(verifier) {
      const app = express()
      app.get('/orders', onExpress.requireToken(verifier, READ), (req, res) => {
        res.json(seen(req, onExpress.getAuth(req)))
      })
      return listen(createHttpsServer(apiTls, app), 'https')
    },
  },
  {
    kind: 'fastify',
    async start(verifier) {
      const app = fastify({ https: apiTls })
      app.get('/orders', { preHandler: onFastify.requireToken(verifier, READ) }, async (req) => {
        assert.ok(req.auth)
        return seen(req.raw, req.auth)
      })
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as AddressInfo
      return { base: `https://127.0.0.1:${port}`, close: () => app.close() }
    },
  },
  {
    kind: 'hono (@hono/node-server over node:https)',
    async start(verifier) {
      const app = new Hono<onHono.TokenEnv & { Bindings: { incoming: IncomingMessage } }>()
      app.get('/orders', onHono.requireToken(verifier, READ), (c) =>
        c.json(seen(c.env.incoming, c.get('auth'))),
      )
      const server = await new Promise<Server>((done) => {
        const s = serve(
          {
            fetch: app.fetch,
            port: 0,
            hostname: '127.0.0.1',
            createServer: createHttpsServer,
            serverOptions: apiTls,
          },
          () => done(s as Server),
        )
      })
      const { port } = server.address() as AddressInfo
      return {
        base: `https://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      }
    },
  },
  {
    kind: 'node authenticate()',
    start(verifier) {
      const server = createHttpsServer(apiTls, async (req, res) => {
        const token = await onNode.authenticate(verifier, req, res, READ)
        if (token !== undefined) answer(req, res, token)
      })
      return listen(server, 'https')
    },
  },
  {
    kind: 'node protect()',
    start(verifier) {
      return listen(createHttpsServer(apiTls, onNode.protect(verifier, READ, answer)), 'https')
    },
  },
]

describe('T-01 T-02 T-06 every adapter reads the certificate from the TLS socket', () => {
  let verifier: TokenVerifier
  before(() => {
    verifier = verifierFor({ mtls: {} })
  })

  for (const target of adapterTargets) {
    test(`T-01 T-02 T-06 ${target.kind}: A → 200, B → 401, none → 401, a Client-Cert header → 401`, async () => {
      const app = await target.start(verifier)
      try {
        const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
        const url = `${app.base}/orders`
        const good = ok(await send(url, { client: alice, headers: bearer(token) }))
        assert.equal(good.tokenType, 'Bearer')
        assert.equal(good.authorized, false)
        refusedBearer(await send(url, { client: mallory, headers: bearer(token) }), token)
        refusedBearer(await send(url, { headers: bearer(token) }), token)
        refusedBearer(
          await send(url, {
            headers: [...bearer(token), 'Client-Cert', clientCertHeader(alice)],
          }),
          token,
        )
        // Plain Bearer tokens, with or without a certificate.
        const unbound = kit.issueToken({ scope: 'orders:read' })
        ok(await send(url, { headers: bearer(unbound) }))
        ok(await send(url, { client: mallory, headers: bearer(unbound) }))
      } finally {
        await app.close()
      }
    })
  }

  test('T-01 mcp: the SDK passes the token string only, so a certificate-bound token is invalid_token', async () => {
    const mcp = mcpTokenVerifier(verifier, READ)
    const token = kit.issueToken({ scope: 'orders:read', certificate: alice.cert })
    await assert.rejects(mcp.verifyAccessToken(token), InvalidTokenError)
    const unbound = kit.issueToken({ scope: 'orders:read' })
    assert.equal((await mcp.verifyAccessToken(unbound)).token, unbound)
  })
})

// --- interop: oidc-provider binds the token -------------------------------------------------

describe('interop: oidc-provider issues a certificate-bound opaque token (features.mTLS)', () => {
  const rsSecret = randomBytes(32).toString('base64url')
  const shopSecret = randomBytes(32).toString('base64url')
  let op: Running
  let issuer: string

  before(async () => {
    let handle: Listener = (_req, res) => res.writeHead(503).end()
    const server = createHttpServer((req, res) => handle(req, res))
    op = await listen(server, 'http')
    issuer = op.base
    const asKey = (await generateKeyPair('RS256', { extractable: true })).privateKey
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'shop',
          client_secret: shopSecret,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
          scope: 'orders:read',
          tls_client_certificate_bound_access_tokens: true,
        },
        {
          client_id: 'orders-rs',
          client_secret: rsSecret,
          grant_types: [],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      scopes: ['orders:read'],
      jwks: { keys: [{ ...(await exportJWK(asKey)), kid: 'as', alg: 'RS256', use: 'sig' }] },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      ttl: { ClientCredentials: 300 },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: {
          enabled: true,
          allowedPolicy: async (_ctx: unknown, caller: { clientId: string }) =>
            caller.clientId === 'orders-rs',
        },
        // The token endpoint sits behind a test "proxy" that passes the certificate as RFC 9440.
        mTLS: {
          enabled: true,
          certificateBoundAccessTokens: true,
          getCertificate: (ctx: { get(name: string): string }) => {
            const value = /^:([A-Za-z0-9+/]+=*):$/.exec(ctx.get('client-cert'))?.[1]
            return value === undefined
              ? undefined
              : new X509Certificate(Buffer.from(value, 'base64')).toString()
          },
        },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => undefined,
          useGrantedResource: async () => false,
          getResourceServerInfo: async () => ({
            scope: 'orders:read',
            audience: AUDIENCE,
            accessTokenTTL: 300,
            accessTokenFormat: 'opaque',
          }),
        },
      },
    })
    handle = provider.callback()
    routes.set(
      '/op/orders',
      onNode.protect(
        verifierFor({
          issuer,
          credentials: { clientId: 'orders-rs', clientSecret: rsSecret },
          mtls: {},
        }),
        READ,
        answer,
      ),
    )
  })

  after(() => op?.close())

  test("T-04 interop: bound at oidc-provider's token endpoint; certificate A → 200, B or none → 401", async () => {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuthorization('shop', shopSecret),
        'client-cert': clientCertHeader(alice),
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'orders:read',
        resource: AUDIENCE,
      }).toString(),
    })
    const text = await res.text()
    assert.equal(res.status, 200, text)
    const token = (JSON.parse(text) as { access_token: string; token_type: string }).access_token
    assert.equal(token.split('.').length, 1, 'an opaque token')

    const good = ok(await send(`${tls.base}/op/orders`, { client: alice, headers: bearer(token) }))
    assert.deepEqual(good.cnf, { 'x5t#S256': opensslThumbprint(alice) })
    assert.equal(good.tokenType, 'Bearer')
    refusedBearer(
      await send(`${tls.base}/op/orders`, { client: mallory, headers: bearer(token) }),
      token,
    )
    refusedBearer(await send(`${tls.base}/op/orders`, { headers: bearer(token) }), token)
  })
})
