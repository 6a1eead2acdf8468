/**
 * Interoperability with an authorization server nobody here wrote: panva's oidc-provider 9
 * (OpenID-certified), in process on a loopback port, issuing opaque client_credentials access
 * tokens. The RS library talks to it through createTokenVerifier only: discovery, introspection
 * with client_secret_basic and private_key_jwt, revocation, and RFC 9701 signed answers.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { basicAuthorization } from '@keyhole/protocol'
import {
  createTokenVerifier,
  type TokenVerifier,
  type VerifierOptions,
} from '@keyhole/resource-server'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@keyhole/resource-server/testing'
import type { JWK } from 'jose'
import { Provider } from 'oidc-provider'
import { accepted, refused, request } from './support/results.ts'

// The repository's declaration of oidc-provider (bench/types) covers what the bench needs; these
// client metadata members are needed here too.
declare module 'oidc-provider' {
  interface ClientMetadata {
    jwks?: { keys: JWK[] }
    introspection_signed_response_alg?: string
  }
}

const AUDIENCE = 'https://orders.example.test'
const SCOPES = 'orders:read orders:write'
const JWT_TYPE = 'application/token-introspection+jwt'

/** Callers allowed to introspect any token (the resource servers). */
const RESOURCE_SERVERS = new Set(['orders-rs', 'orders-rs-jwt', 'orders-rs-signed'])
const RS_SECRET = randomBytes(32).toString('base64url')
const SHOP_SECRET = randomBytes(32).toString('base64url')

const asKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
const asJwk = {
  ...(asKey.export({ format: 'jwk' }) as JWK),
  kid: 'as-rs256',
  alg: 'RS256',
  use: 'sig',
}
const rsKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const rsPrivateJwk = {
  ...(rsKeys.privateKey.export({ format: 'jwk' }) as JWK),
  kid: 'rs-1',
  alg: 'ES256',
}
const rsPublicJwk = {
  ...(rsKeys.publicKey.export({ format: 'jwk' }) as JWK),
  kid: 'rs-1',
  alg: 'ES256',
}

interface IntrospectionContext {
  readonly oidc: { readonly client: { readonly clientId: string } }
}

let issuer: string
let server: ReturnType<typeof createServer>
/** Drop the request's Accept header before oidc-provider sees it (a downgrading intermediary). */
let stripAccept = false
const verifiers: TokenVerifier[] = []

before(async () => {
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(503).end()
  }
  server = createServer((req, res) => {
    if (stripAccept) delete req.headers.accept
    handle(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'shop',
        client_secret: SHOP_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: SCOPES,
      },
      {
        client_id: 'orders-rs',
        client_secret: RS_SECRET,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'orders-rs-jwt',
        // The bench's declaration requires a secret; oidc-provider does not use it for private_key_jwt.
        client_secret: randomBytes(32).toString('base64url'),
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [rsPublicJwk] },
      },
      {
        client_id: 'orders-rs-signed',
        client_secret: RS_SECRET,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        introspection_signed_response_alg: 'RS256',
      },
    ],
    scopes: SCOPES.split(' '),
    jwks: { keys: [asJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    ttl: { ClientCredentials: 300 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: async (
          _ctx: unknown,
          caller: { clientId: string },
          token: { clientId: string },
        ) => token.clientId === caller.clientId,
      },
      jwtIntrospection: { enabled: true },
      introspection: {
        enabled: true,
        // Resource servers may introspect every token; a client only its own.
        allowedPolicy: async (
          ctx: IntrospectionContext,
          caller: { clientId: string },
          token: { clientId: string },
        ) => RESOURCE_SERVERS.has(caller.clientId) || token.clientId === ctx.oidc.client.clientId,
      },
      // RFC 8707: a token requested for the orders API carries it as `aud`, and stays opaque.
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (resource !== AUDIENCE) throw new Error(`unknown resource ${resource}`)
          return {
            scope: SCOPES,
            audience: AUDIENCE,
            accessTokenTTL: 300,
            accessTokenFormat: 'opaque',
          }
        },
      },
    },
  })
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`oidc-provider server_error: ${String(err)}\n`)
  })
  handle = provider.callback()
})

after(async () => {
  await Promise.all(verifiers.map((v) => v.close()))
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

function verifierFor(overrides: Partial<VerifierOptions> = {}): TokenVerifier {
  const verifier = createTokenVerifier({
    issuer,
    audience: AUDIENCE,
    credentials: { clientId: 'orders-rs', clientSecret: RS_SECRET },
    dpop: false,
    ...overrides,
  })
  verifiers.push(verifier)
  return verifier
}

async function form(path: string, fields: Record<string, string>) {
  const res = await fetch(`${issuer}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basicAuthorization('shop', SHOP_SECRET),
    },
    body: new URLSearchParams(fields).toString(),
  })
  return { status: res.status, text: await res.text() }
}

/** An opaque client_credentials access token from oidc-provider (`resource` null: none asked). */
async function clientCredentialsToken(scope: string, resource: string | null = AUDIENCE) {
  const res = await form('/token', {
    grant_type: 'client_credentials',
    scope,
    ...(resource === null ? {} : { resource }),
  })
  assert.equal(res.status, 200, res.text)
  const token = (JSON.parse(res.text) as { access_token: string }).access_token
  assert.equal(token.split('.').length, 1, 'an opaque token, not a JWT')
  return token
}

test('I-09 an oidc-provider opaque token is active through discovery and client_secret_basic', async () => {
  const token = await clientCredentialsToken('orders:read')
  const ok = accepted(await verifierFor().verify(request(token), { scopes: ['orders:read'] }))
  assert.deepEqual(ok.token.scopes, ['orders:read'])
  assert.deepEqual(ok.token.audience, [AUDIENCE])
  assert.equal(ok.token.issuer, issuer)
  assert.equal(ok.token.clientId, 'shop')
  assert.equal(ok.token.tokenType, 'Bearer')
  assert.ok((ok.token.exp ?? 0) > Date.now() / 1000)
})

test('P-03 oidc-provider sends aud as a string; it is normalized to an array', async () => {
  const token = await clientCredentialsToken('orders:read')
  const ok = accepted(await verifierFor().verify(request(token)))
  assert.equal(ok.token.claims.aud, AUDIENCE)
  assert.deepEqual(ok.token.audience, [AUDIENCE])
})

test('O-12 scope enforcement: orders:write needed, orders:read held → 403 insufficient_scope', async () => {
  const verifier = verifierFor()
  const token = await clientCredentialsToken('orders:read')
  accepted(await verifier.verify(request(token), { scopes: ['orders:read'] }))
  const denied = refused(await verifier.verify(request(token), { scopes: ['orders:write'] }), 403)
  assert.equal(denied.error, 'insufficient_scope')
  assert.match(denied.challenge ?? '', /scope="orders:write"/)
  const both = await clientCredentialsToken(SCOPES)
  accepted(await verifier.verify(request(both), { scopes: ['orders:read', 'orders:write'] }))
})

test('BCP-01 P-03 a token without resource indicator has no aud: refused (fail closed)', async () => {
  const token = await clientCredentialsToken('orders:read', null)
  // oidc-provider itself says active, with no aud (checklist P-03: wso2/product-is#22100 alike).
  const direct = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basicAuthorization('orders-rs', RS_SECRET),
    },
    body: new URLSearchParams({ token }).toString(),
  })
  const answer = (await direct.json()) as Record<string, unknown>
  assert.equal(answer.active, true)
  assert.equal(answer.aud, undefined)
  const failure = refused(await verifierFor().verify(request(token)), 401)
  assert.equal(failure.error, 'invalid_token')
})

test('I-25 a token revoked at oidc-provider (RFC 7009) is 401 with maxTtl 0, and after purge', async () => {
  const uncached = verifierFor({ cache: { maxTtl: 0 } })
  const cached = verifierFor()
  const token = await clientCredentialsToken('orders:read')
  accepted(await uncached.verify(request(token)))
  accepted(await cached.verify(request(token)))
  const revoked = await form('/token/revocation', { token })
  assert.equal(revoked.status, 200, revoked.text)
  assert.equal(refused(await uncached.verify(request(token)), 401).error, 'invalid_token')
  assert.equal(accepted(await cached.verify(request(token))).token.source, 'cache')
  await cached.purge(token)
  refused(await cached.verify(request(token)), 401)
})

test('Q-05 the wrong RS secret at oidc-provider is 503, not 401', async () => {
  const verifier = verifierFor({ credentials: { clientId: 'orders-rs', clientSecret: 'wrong' } })
  const failure = refused(
    await verifier.verify(request(await clientCredentialsToken('orders:read'))),
    503,
  )
  assert.equal(failure.error, 'temporarily_unavailable')
})

test('BCP-03 private_key_jwt: oidc-provider accepts our assertion (aud = issuer) at introspection', async () => {
  const verifier = verifierFor({
    credentials: { clientId: 'orders-rs-jwt', privateKey: rsPrivateJwk },
  })
  const first = await clientCredentialsToken('orders:read')
  accepted(await verifier.verify(request(first), { scopes: ['orders:read'] }))
  // A fresh assertion each call: oidc-provider refuses a replayed jti.
  const second = await clientCredentialsToken('orders:read')
  accepted(await verifier.verify(request(second), { scopes: ['orders:read'] }))
})

test('BCP-03 private_key_jwt with a key oidc-provider does not know is 503', async () => {
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const verifier = verifierFor({
    credentials: {
      clientId: 'orders-rs-jwt',
      privateKey: { ...(stranger.export({ format: 'jwk' }) as JWK), kid: 'rs-1', alg: 'ES256' },
    },
  })
  refused(await verifier.verify(request(await clientCredentialsToken('orders:read'))), 503)
})

test('J-19 RFC 9701: oidc-provider signed introspection answers verify', async () => {
  const verifier = verifierFor({
    credentials: { clientId: 'orders-rs-signed', clientSecret: RS_SECRET },
    introspectionResponse: 'jwt',
  })
  const token = await clientCredentialsToken('orders:read')
  const ok = accepted(await verifier.verify(request(token), { scopes: ['orders:read'] }))
  assert.deepEqual(ok.token.audience, [AUDIENCE])
  assert.equal(ok.token.source, 'introspection')
  await form('/token/revocation', { token })
  await verifier.purge(token)
  refused(await verifier.verify(request(token)), 401)
})

test('P-14 RFC 9701 downgrade: when oidc-provider answers plain JSON the RS refuses it (503)', async () => {
  const verifier = verifierFor({
    credentials: { clientId: 'orders-rs-signed', clientSecret: RS_SECRET },
    introspectionResponse: 'jwt',
  })
  accepted(await verifier.verify(request(await clientCredentialsToken('orders:read'))))
  stripAccept = true
  try {
    const failure = refused(
      await verifier.verify(request(await clientCredentialsToken('orders:read'))),
      503,
    )
    assert.equal(failure.error, 'temporarily_unavailable')
  } finally {
    stripAccept = false
  }
  accepted(await verifier.verify(request(await clientCredentialsToken('orders:read'))))
})

test('P-14 RFC 9701 downgrade: the test kit serving JSON to a JWT request is refused (503)', async () => {
  let kit: TestAuthorizationServer | undefined
  try {
    kit = await startTestAuthorizationServer({ audience: AUDIENCE })
    const verifier = verifierFor({
      issuer: kit.issuer,
      credentials: kit.credentials,
      introspectionResponse: 'jwt',
    })
    accepted(await verifier.verify(request(kit.issueToken())))
    assert.equal(kit.lastIntrospection?.accept, JWT_TYPE)
    kit.respondWith({ active: true, aud: AUDIENCE, token_type: 'Bearer' })
    refused(await verifier.verify(request(kit.issueToken())), 503)
  } finally {
    await kit?.close()
  }
})
