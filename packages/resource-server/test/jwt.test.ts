/**
 * Local validation of JWT access tokens (RFC 9068 §4, RFC 8725) against a real JWKS served over
 * loopback HTTP, with real keys and signatures. The last suite runs panva's oidc-provider as the
 * authorization server issuing JWT access tokens.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose'
import { createMetadataSource } from '../src/discovery.ts'
import { type AsHttpClient, AsUnavailableError, createAsHttpClient } from '../src/http-client.ts'
import {
  createJwtValidator,
  type JwksCacheTiming,
  type JwtOutcome,
  type JwtValidator,
} from '../src/jwt.ts'
import type { JwtOptions } from '../src/options.ts'
import { createTokenVerifier } from '../src/verifier.ts'

const AUDIENCE = 'https://orders.example.test'

// ---------------------------------------------------------------------------------------------
// Fixtures: signing keys, a loopback authorization server publishing metadata and a JWKS.

interface SigningKey {
  readonly alg: string
  readonly kid: string
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  readonly jwk: JWK
}

async function makeKey(alg: string, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { alg, kid, privateKey, publicKey, jwk }
}

interface TestAs {
  readonly issuer: string
  readonly url: string
  /** What /jwks serves; replace to rotate keys. */
  jwks: { keys: JWK[] }
  /** `error`: 500; `garbage`: 200 with a body that is not JSON. */
  mode: 'ok' | 'error' | 'garbage'
  readonly hits: { jwks: number; metadata: number }
  close(): Promise<void>
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { server, url: `http://127.0.0.1:${port}` }
}

async function closeServer(server: Server) {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

async function startAs(keys: readonly SigningKey[], issuerPath = ''): Promise<TestAs> {
  const state = {
    jwks: { keys: keys.map((k) => k.jwk) },
    mode: 'ok' as TestAs['mode'],
    hits: { jwks: 0, metadata: 0 },
  }
  let issuer = ''
  const { server, url } = await listen((req, res) => {
    if (req.url === `/.well-known/oauth-authorization-server${issuerPath}`) {
      state.hits.metadata++
      sendJson(res, 200, { issuer, jwks_uri: `${url}/jwks` })
    } else if (req.url === '/jwks') {
      state.hits.jwks++
      if (state.mode === 'error') sendJson(res, 500, { error: 'server_error' })
      else if (state.mode === 'garbage') res.writeHead(200).end('<html>not a JWKS</html>')
      else sendJson(res, 200, state.jwks)
    } else {
      sendJson(res, 404, {})
    }
  })
  issuer = `${url}${issuerPath}`
  return Object.assign(state, { issuer, url, close: () => closeServer(server) })
}

function baseClaims(issuer: string): JWTPayload {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: issuer,
    aud: AUDIENCE,
    sub: 'user-1',
    client_id: 'shop',
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    scope: 'orders:read orders:write',
  }
}

interface SignOptions {
  readonly claims?: Record<string, unknown>
  readonly header?: Record<string, unknown>
  readonly omit?: readonly string[]
}

async function signToken(key: SigningKey, issuer: string, o: SignOptions = {}): Promise<string> {
  const payload: Record<string, unknown> = { ...baseClaims(issuer), ...o.claims }
  for (const claim of o.omit ?? []) delete payload[claim]
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...o.header })
    .sign(key.privateKey)
}

/** A JWS by hand: for headers jose refuses to produce (alg none, HS256 with a public key). */
function unsignedToken(header: Record<string, unknown>, payload: Record<string, unknown>) {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  return `${part(header)}.${part(payload)}.`
}

const deadline = () => Date.now() + 1500

function expectInvalid(outcome: JwtOutcome, reason?: RegExp) {
  assert.equal(outcome.ok, false, 'the token must be rejected')
  if (!outcome.ok && reason !== undefined) assert.match(outcome.reason, reason)
}

// ---------------------------------------------------------------------------------------------

describe('JWT access token validation (RFC 9068 §4)', () => {
  let rsa: SigningKey
  let ec: SigningKey
  let ed: SigningKey
  let ps: SigningKey
  let as: TestAs
  const clients: AsHttpClient[] = []
  const servers: TestAs[] = []

  function client(): AsHttpClient {
    const c = createAsHttpClient({ timeoutMs: 1500, retries: 0 })
    clients.push(c)
    return c
  }

  function validatorFor(
    target: TestAs,
    options: JwtOptions = {},
    extra: { jwksUri?: string; jwksCache?: JwksCacheTiming; clockSkew?: number } = {},
  ): JwtValidator {
    const c = client()
    return createJwtValidator({
      issuer: target.issuer,
      audience: AUDIENCE,
      http: c,
      metadata: createMetadataSource(target.issuer, c),
      jwksUri: extra.jwksUri,
      options,
      clockSkew: extra.clockSkew ?? 30,
      jwksCache: extra.jwksCache,
    })
  }

  async function extraAs(keys: readonly SigningKey[]): Promise<TestAs> {
    const server = await startAs(keys)
    servers.push(server)
    return server
  }

  let validator: JwtValidator
  const sign = (o: SignOptions = {}, key: SigningKey = rsa) => signToken(key, as.issuer, o)

  before(async () => {
    ;[rsa, ec, ed, ps] = await Promise.all([
      makeKey('RS256', 'rsa-1'),
      makeKey('ES256', 'ec-1'),
      makeKey('EdDSA', 'ed-1'),
      makeKey('PS256', 'ps-1'),
    ])
    as = await startAs([rsa, ec, ed, ps])
    servers.push(as)
    validator = validatorFor(as)
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await Promise.all(servers.map((s) => s.close()))
  })

  test('A-08 a valid at+jwt token gives the normalized token info', async () => {
    const token = await sign({ claims: { tenant: 'acme' } })
    const outcome = await validator.validate(token, deadline())
    assert.ok(outcome.ok)
    const { info } = outcome
    assert.equal(info.active, true)
    assert.deepEqual(info.scopes, ['orders:read', 'orders:write'])
    assert.deepEqual(info.audience, [AUDIENCE])
    assert.equal(info.clientId, 'shop')
    assert.equal(info.sub, 'user-1')
    assert.equal(info.iss, as.issuer)
    assert.equal(info.tokenType, 'Bearer')
    assert.equal(typeof info.exp, 'number')
    assert.equal(typeof info.iat, 'number')
    assert.equal(typeof info.jti, 'string')
    assert.equal(info.cnf, undefined)
    assert.equal(info.claims.tenant, 'acme')
    assert.equal(info.claims.active, undefined, 'claims are the JWT payload, nothing added')
  })

  test('A-01 RS256, PS256, ES256 and EdDSA are accepted by default', async () => {
    for (const key of [rsa, ps, ec, ed]) {
      const outcome = await validator.validate(await sign({}, key), deadline())
      assert.ok(outcome.ok, `${key.alg} must be accepted`)
    }
  })

  test('A-08 typ is compared case-insensitively, with or without "application/"', async () => {
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) {
      const outcome = await validator.validate(await sign({ header: { typ } }), deadline())
      assert.ok(outcome.ok, `typ ${typ} must be accepted`)
    }
  })

  test('A-08 typ other than at+jwt is rejected in strict mode (JWT, absent, other)', async () => {
    for (const typ of ['JWT', 'jwt', undefined, 'application/jwt', 'at+jwt2', 'secevent+jwt']) {
      const token = await sign({ header: { typ } })
      expectInvalid(await validator.validate(token, deadline()), /typ/)
    }
  })

  test('A-12 S-11 an ID token (typ JWT, same key, aud = client) is rejected', async () => {
    const idToken = await sign({
      header: { typ: 'JWT' },
      claims: { aud: 'shop', nonce: 'n-0S6_WzA2Mj', auth_time: 1 },
      omit: ['scope', 'client_id'],
    })
    expectInvalid(await validator.validate(idToken, deadline()))
    const lenient = validatorFor(as, { typ: 'allow-jwt' })
    expectInvalid(await lenient.validate(idToken, deadline()))
  })

  test('J-15 S-11 a signed introspection response (typ token-introspection+jwt) is rejected', async () => {
    const now = Math.floor(Date.now() / 1000)
    const response = await new SignJWT({
      iss: as.issuer,
      aud: AUDIENCE,
      iat: now,
      token_introspection: { active: true, sub: 'user-1', client_id: 'shop', scope: 'orders:read' },
    })
      .setProtectedHeader({ alg: 'RS256', kid: rsa.kid, typ: 'token-introspection+jwt' })
      .sign(rsa.privateKey)
    expectInvalid(await validator.validate(response, deadline()), /introspection/)
    const lenient = validatorFor(as, { typ: 'allow-jwt' })
    expectInvalid(await lenient.validate(response, deadline()), /introspection/)
  })

  test('J-15 S-11 a token carrying token_introspection is rejected even with every claim', async () => {
    const token = await sign({
      header: { typ: undefined },
      claims: { token_introspection: { active: true } },
    })
    const lenient = validatorFor(as, { typ: 'allow-jwt' })
    expectInvalid(await lenient.validate(token, deadline()), /introspection/)
  })

  test('S-10 S-11 a DPoP proof or a client assertion presented as an access token is rejected', async () => {
    for (const typ of ['dpop+jwt', 'client-authentication+jwt']) {
      const token = await sign({ header: { typ } })
      expectInvalid(await validator.validate(token, deadline()), /typ/)
    }
  })

  test('P-12 allow-jwt accepts typ JWT or no typ, still with client_id and aud', async () => {
    const lenient = validatorFor(as, { typ: 'allow-jwt' })
    for (const typ of ['JWT', undefined, 'at+jwt']) {
      const outcome = await lenient.validate(await sign({ header: { typ } }), deadline())
      assert.ok(outcome.ok, `typ ${String(typ)} must be accepted in allow-jwt mode`)
    }
    for (const claim of ['client_id', 'aud']) {
      const token = await sign({ header: { typ: 'JWT' }, omit: [claim] })
      expectInvalid(await lenient.validate(token, deadline()), new RegExp(claim))
    }
    const other = await sign({ header: { typ: 'token-introspection+jwt' } })
    expectInvalid(await lenient.validate(other, deadline()))
  })

  test('A-08 iss must equal the issuer exactly', async () => {
    for (const iss of [`${as.issuer}/`, as.issuer.toUpperCase(), 'https://evil.example']) {
      const token = await sign({ claims: { iss } })
      expectInvalid(await validator.validate(token, deadline()), /issuer/)
    }
  })

  test('A-08 S-08 aud must contain this audience', async () => {
    expectInvalid(
      await validator.validate(
        await sign({ claims: { aud: 'https://billing.example.test' } }),
        deadline(),
      ),
      /audience/,
    )
    expectInvalid(
      await validator.validate(await sign({ claims: { aud: `${AUDIENCE}/` } }), deadline()),
    )
    expectInvalid(await validator.validate(await sign({ omit: ['aud'] }), deadline()), /aud/)
    const many = await sign({ claims: { aud: ['https://billing.example.test', AUDIENCE] } })
    const outcome = await validator.validate(many, deadline())
    assert.ok(outcome.ok)
    assert.deepEqual(outcome.info.audience, ['https://billing.example.test', AUDIENCE])
  })

  test('A-08 the signature must verify with the issuer keys', async () => {
    const token = await sign()
    const [h, p, s] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as JWTPayload
    const forged = Buffer.from(JSON.stringify({ ...claims, scope: 'admin' })).toString('base64url')
    expectInvalid(await validator.validate(`${h}.${forged}.${s}`, deadline()), /signature/)
    // Signed by a stranger's key that claims one of the issuer's kids.
    const stranger = await makeKey('RS256', rsa.kid)
    expectInvalid(await validator.validate(await sign({}, stranger), deadline()), /signature/)
  })

  test('A-01 A-08 S-02 alg none is rejected', async () => {
    const claims = baseClaims(as.issuer)
    for (const alg of ['none', 'None', 'NONE']) {
      const token = unsignedToken({ alg, typ: 'at+jwt', kid: rsa.kid }, claims)
      expectInvalid(await validator.validate(token, deadline()), /algorithm/)
    }
  })

  test('S-01 an RS256 public key used as an HS256 secret is rejected (algorithm confusion)', async () => {
    const pem = await exportSPKI(rsa.publicKey)
    for (const secret of [pem, JSON.stringify(rsa.jwk), rsa.jwk.n ?? '']) {
      const token = await new SignJWT(baseClaims(as.issuer))
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: rsa.kid })
        .sign(new TextEncoder().encode(secret))
      expectInvalid(await validator.validate(token, deadline()), /algorithm/)
    }
  })

  test('S-01 each key is used with its one algorithm (RS256 key, PS256 signature)', async () => {
    // The same RSA key material, imported for RSA-PSS.
    const privateJwk = { ...(await exportJWK(rsa.privateKey)), alg: 'PS256' }
    const asPss = (await importJWK(privateJwk, 'PS256')) as CryptoKey
    const misuse: SigningKey = { ...rsa, alg: 'PS256', privateKey: asPss }
    expectInvalid(await validator.validate(await sign({}, misuse), deadline()), /no key/)
  })

  test('S-01 the configured allow-list is the only one used', async () => {
    const onlyRsa = validatorFor(as, { algorithms: ['RS256'] })
    assert.ok((await onlyRsa.validate(await sign(), deadline())).ok)
    expectInvalid(await onlyRsa.validate(await sign({}, ec), deadline()), /algorithm/)
  })

  test('S-01 S-02 an allow-list with none or HS* is a configuration error', () => {
    for (const algorithms of [['none'], ['HS256'], ['RS256', 'HS512'], [], ['rs256']]) {
      assert.throws(() => validatorFor(as, { algorithms }), TypeError)
    }
  })

  test('S-12 alg is matched case-sensitively', async () => {
    const token = await sign()
    const [, p, s] = token.split('.') as [string, string, string]
    const header = Buffer.from(
      JSON.stringify({ alg: 'rs256', typ: 'at+jwt', kid: rsa.kid }),
    ).toString('base64url')
    expectInvalid(await validator.validate(`${header}.${p}.${s}`, deadline()), /algorithm/)
  })

  test('A-08 an expired token is rejected; the leeway is clockSkew seconds', async () => {
    const now = Math.floor(Date.now() / 1000)
    expectInvalid(
      await validator.validate(await sign({ claims: { exp: now - 60 } }), deadline()),
      /expired/,
    )
    const justExpired = await sign({ claims: { exp: now - 10 } })
    assert.ok((await validator.validate(justExpired, deadline())).ok, 'within the 30 s skew')
    const strict = validatorFor(as, {}, { clockSkew: 0 })
    expectInvalid(await strict.validate(justExpired, deadline()), /expired/)
  })

  test('A-08 nbf in the future is rejected; within the leeway it is accepted', async () => {
    const now = Math.floor(Date.now() / 1000)
    expectInvalid(
      await validator.validate(await sign({ claims: { nbf: now + 120 } }), deadline()),
      /not valid yet/,
    )
    assert.ok((await validator.validate(await sign({ claims: { nbf: now + 10 } }), deadline())).ok)
  })

  for (const claim of ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']) {
    test(`A-03 a token without "${claim}" is rejected`, async () => {
      const outcome = await validator.validate(await sign({ omit: [claim] }), deadline())
      expectInvalid(outcome, new RegExp(claim))
    })
  }

  test('A-03 P-05 empty or mistyped identifiers count as missing', async () => {
    for (const claims of [{ sub: '' }, { client_id: '' }, { jti: '' }, { sub: 42 }, { iat: 'x' }]) {
      expectInvalid(await validator.validate(await sign({ claims }), deadline()))
    }
  })

  test('P-01 a scope claim given as an array is normalized like introspection', async () => {
    const outcome = await validator.validate(
      await sign({ claims: { scope: ['orders:read', 'orders:write'] } }),
      deadline(),
    )
    assert.ok(outcome.ok)
    assert.deepEqual(outcome.info.scopes, ['orders:read', 'orders:write'])
  })

  test('D-01 a token with cnf.jkt is a DPoP token and keeps its cnf', async () => {
    const cnf = { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' }
    const outcome = await validator.validate(await sign({ claims: { cnf } }), deadline())
    assert.ok(outcome.ok)
    assert.equal(outcome.info.tokenType, 'DPoP')
    assert.deepEqual(outcome.info.cnf, cnf)
  })

  test('S-09 header jku and x5u are never followed; the configured keys decide', async () => {
    const attacker = await makeKey('RS256', 'attacker')
    const evil = await extraAs([attacker])
    const headers = [{ jku: `${evil.url}/jwks` }, { x5u: `${evil.url}/cert.pem` }]
    for (const header of headers) {
      const forged = await signToken(attacker, as.issuer, {
        header: { ...header, kid: 'attacker' },
      })
      expectInvalid(await validator.validate(forged, deadline()))
      const genuine = await sign({ header })
      assert.ok((await validator.validate(genuine, deadline())).ok, 'the header is ignored')
    }
    // A jwk embedded in the header is not trusted either.
    const embedded = await signToken(attacker, as.issuer, {
      header: { kid: rsa.kid, jwk: attacker.jwk },
    })
    expectInvalid(await validator.validate(embedded, deadline()))
    assert.equal(evil.hits.jwks + evil.hits.metadata, 0, 'nothing was fetched from the attacker')
  })

  test('S-07 keys belong to the issuer: AS-2 key with AS-1 iss is rejected', async () => {
    const as2Key = await makeKey('RS256', rsa.kid)
    const as2 = await extraAs([as2Key])
    const forAs2 = validatorFor(as2)
    const claimsAs1 = await signToken(as2Key, as.issuer)
    expectInvalid(await validator.validate(claimsAs1, deadline()), /signature/)
    expectInvalid(await forAs2.validate(claimsAs1, deadline()), /issuer/)
    assert.ok((await forAs2.validate(await signToken(as2Key, as2.issuer), deadline())).ok)
  })

  test('S-03 a JWE or other non-JWS token is rejected without fetching keys', async () => {
    const fresh = await extraAs([rsa])
    const v = validatorFor(fresh)
    const jwe = ['eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0', '', 'aXY', 'Y3Q', 'dGFn'].join('.')
    expectInvalid(await v.validate(jwe, deadline()))
    expectInvalid(await v.validate('not.a.jwt', deadline()))
    assert.equal(fresh.hits.jwks, 0)
  })

  test('M-12 the JWKS comes from the metadata jwks_uri (issuer with a path)', async () => {
    const tenant = await startAs([rsa], '/tenants/acme')
    servers.push(tenant)
    const v = validatorFor(tenant)
    assert.ok((await v.validate(await signToken(rsa, tenant.issuer), deadline())).ok)
    assert.equal(tenant.hits.metadata, 1)
    assert.equal(tenant.hits.jwks, 1)
  })

  test('A-10 a configured jwksUri skips discovery', async () => {
    const fresh = await extraAs([rsa])
    const v = validatorFor(fresh, {}, { jwksUri: `${fresh.url}/jwks` })
    assert.ok((await v.validate(await signToken(rsa, fresh.issuer), deadline())).ok)
    assert.equal(fresh.hits.metadata, 0)
    assert.equal(fresh.hits.jwks, 1)
  })

  test('Q-05 JWKS answering 500 or garbage, or unreachable: AsUnavailableError', async () => {
    const down = await extraAs([rsa])
    const token = await signToken(rsa, down.issuer)
    down.mode = 'error'
    await assert.rejects(validatorFor(down).validate(token, deadline()), AsUnavailableError)
    down.mode = 'garbage'
    await assert.rejects(validatorFor(down).validate(token, deadline()), AsUnavailableError)
    down.mode = 'ok'
    down.jwks = { keys: 'none' } as unknown as { keys: JWK[] }
    await assert.rejects(validatorFor(down).validate(token, deadline()), AsUnavailableError)
    down.jwks = { keys: [{ kty: 'RSA', kid: rsa.kid, alg: 'RS256' }] }
    await assert.rejects(validatorFor(down).validate(token, deadline()), AsUnavailableError)
    const gone = await startAs([rsa])
    const goneValidator = validatorFor(gone)
    await gone.close()
    await assert.rejects(
      goneValidator.validate(await signToken(rsa, gone.issuer), deadline()),
      AsUnavailableError,
    )
  })

  test('Q-05 metadata unreachable or without jwks_uri: AsUnavailableError', async () => {
    const { server, url } = await listen((req, res) => {
      if (req.url === '/.well-known/oauth-authorization-server') sendJson(res, 200, { issuer: url })
      else sendJson(res, 503, {})
    })
    const c = client()
    const noJwks = createJwtValidator({
      issuer: url,
      audience: AUDIENCE,
      http: c,
      metadata: createMetadataSource(url, c),
      options: {},
      clockSkew: 30,
    })
    await assert.rejects(noJwks.validate(await signToken(rsa, url), deadline()), AsUnavailableError)
    await closeServer(server)
    const unreachable = createJwtValidator({
      issuer: url,
      audience: AUDIENCE,
      http: c,
      metadata: createMetadataSource(url, c),
      options: {},
      clockSkew: 30,
    })
    await assert.rejects(
      unreachable.validate(await signToken(rsa, url), deadline()),
      AsUnavailableError,
    )
  })

  test('S-07 JWKS cache: keys are fetched once and shared by concurrent first requests', async () => {
    const fresh = await extraAs([rsa, ec])
    const v = validatorFor(fresh)
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signToken(i % 2 ? ec : rsa, fresh.issuer)),
    )
    const outcomes = await Promise.all(tokens.map((t) => v.validate(t, deadline())))
    assert.ok(outcomes.every((o) => o.ok))
    assert.equal(fresh.hits.jwks, 1)
    assert.equal(fresh.hits.metadata, 1)
  })

  test('S-09 JWKS cache: an unknown kid refetches once, so key rotation works', async () => {
    const fresh = await extraAs([rsa])
    const v = validatorFor(fresh, {}, { jwksCache: { cooldownMs: 200 } })
    assert.ok((await v.validate(await signToken(rsa, fresh.issuer), deadline())).ok)
    assert.equal(fresh.hits.jwks, 1)
    await new Promise((resolve) => setTimeout(resolve, 250))
    const rotated = await makeKey('ES256', 'rotated-1')
    fresh.jwks = { keys: [rsa.jwk, rotated.jwk] }
    const outcome = await v.validate(await signToken(rotated, fresh.issuer), deadline())
    assert.ok(outcome.ok, 'the new key is found after one refetch')
    assert.equal(fresh.hits.jwks, 2)
  })

  test('S-09 JWKS cache: unknown kids within the cooldown do not hammer the JWKS endpoint', async () => {
    const fresh = await extraAs([rsa])
    const v = validatorFor(fresh)
    assert.ok((await v.validate(await signToken(rsa, fresh.issuer), deadline())).ok)
    const strangers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => makeKey('RS256', `unknown-${i}`)),
    )
    for (const stranger of strangers) {
      const outcome = await v.validate(await signToken(stranger, fresh.issuer), deadline())
      expectInvalid(outcome, /no key/)
    }
    assert.equal(fresh.hits.jwks, 1, 'no refetch inside the 30 s cooldown')

    const short = await extraAs([rsa])
    const v2 = validatorFor(short, {}, { jwksCache: { cooldownMs: 150 } })
    assert.ok((await v2.validate(await signToken(rsa, short.issuer), deadline())).ok)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const burst = await Promise.all(strangers.map((s) => signToken(s, short.issuer)))
    const outcomes = await Promise.all(burst.map((t) => v2.validate(t, deadline())))
    assert.ok(outcomes.every((o) => !o.ok))
    assert.equal(short.hits.jwks, 2, 'a burst of unknown kids shares one refetch')
  })

  test('Q-05 JWKS cache: keys are refreshed after refreshMs, and kept if the refresh fails', async () => {
    const fresh = await extraAs([rsa])
    const v = validatorFor(fresh, {}, { jwksCache: { refreshMs: 100, cooldownMs: 5000 } })
    const token = await signToken(rsa, fresh.issuer)
    assert.ok((await v.validate(token, deadline())).ok)
    await new Promise((resolve) => setTimeout(resolve, 150))
    assert.ok((await v.validate(token, deadline())).ok)
    assert.equal(fresh.hits.jwks, 2, 'refreshed once the keys were older than refreshMs')
    await new Promise((resolve) => setTimeout(resolve, 150))
    fresh.mode = 'error'
    assert.ok((await v.validate(token, deadline())).ok, 'stale keys are used while the AS fails')
    assert.ok((await v.validate(token, deadline())).ok)
    assert.equal(fresh.hits.jwks, 3, 'no new attempt inside the cooldown')
    const noStale = validatorFor(fresh, {}, { jwksCache: { refreshMs: 1, maxStaleMs: 1 } })
    await assert.rejects(noStale.validate(token, deadline()), AsUnavailableError)
  })

  test('A-12 JWKS cache: several keys without kid are each tried', async () => {
    const second = await makeKey('RS256', 'second')
    const withoutKid = (k: SigningKey): SigningKey => {
      const { kid: _, ...jwk } = k.jwk
      return { ...k, jwk }
    }
    const fresh = await extraAs([withoutKid(second), withoutKid(rsa)])
    const v = validatorFor(fresh)
    const token = await signToken(rsa, fresh.issuer, { header: { kid: undefined } })
    assert.ok((await v.validate(token, deadline())).ok)
    const stranger = await makeKey('RS256', 'x')
    const forged = await signToken(stranger, fresh.issuer, { header: { kid: undefined } })
    expectInvalid(await v.validate(forged, deadline()), /signature/)
  })

  test('A-09 through the verifier: valid → ok, invalid → 401 invalid_token, JWKS down → 503', async () => {
    const fresh = await extraAs([rsa])
    const verifier = createTokenVerifier({
      issuer: fresh.issuer,
      audience: AUDIENCE,
      strategy: 'jwt',
      http: { timeoutMs: 1500, retries: 0 },
    })
    try {
      const request = (t: string) => ({
        method: 'GET',
        url: '/orders',
        headers: { authorization: `Bearer ${t}` },
      })
      const good = await verifier.verify(request(await signToken(rsa, fresh.issuer)), {
        scopes: ['orders:read'],
      })
      assert.ok(good.ok)
      assert.equal(good.token.source, 'jwt')
      assert.equal(good.token.clientId, 'shop')
      const insufficient = await verifier.verify(request(await signToken(rsa, fresh.issuer)), {
        scopes: ['orders:admin'],
      })
      assert.equal(insufficient.ok, false)
      assert.equal(!insufficient.ok && insufficient.status, 403)

      const bad = await verifier.verify(
        request(await signToken(rsa, fresh.issuer, { header: { typ: 'JWT' } })),
      )
      assert.equal(bad.ok, false)
      if (!bad.ok) {
        assert.equal(bad.status, 401)
        assert.equal(bad.error, 'invalid_token')
        assert.match(bad.headers['WWW-Authenticate'] ?? '', /^Bearer .*error="invalid_token"/)
      }

      const down = await extraAs([rsa])
      down.mode = 'error'
      const verifierDown = createTokenVerifier({
        issuer: down.issuer,
        audience: AUDIENCE,
        strategy: 'jwt',
        http: { timeoutMs: 1500, retries: 0 },
      })
      try {
        const unavailable = await verifierDown.verify(request(await signToken(rsa, down.issuer)))
        assert.equal(unavailable.ok, false)
        if (!unavailable.ok) {
          assert.equal(unavailable.status, 503)
          assert.ok(unavailable.headers['Retry-After'])
        }
      } finally {
        await verifierDown.close()
      }
    } finally {
      await verifier.close()
    }
  })

  test('S-09 the reason never contains the token', async () => {
    const token = await sign({ header: { typ: 'JWT' } })
    const outcome = await validator.validate(token, deadline())
    assert.ok(!outcome.ok)
    assert.ok(!outcome.reason.includes(token.split('.')[1] ?? 'x'))
    assert.ok(outcome.reason.length < 80)
  })
})

// ---------------------------------------------------------------------------------------------
// Interoperability: panva's oidc-provider (the certified Node.js AS) issuing JWT access tokens.

interface OidcProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void
}
type OidcProviderClass = new (
  issuer: string,
  configuration: Record<string, unknown>,
) => OidcProviderInstance

describe('interop: oidc-provider JWT access tokens (RFC 9068, RFC 8707)', () => {
  const CLIENT_ID = 'orders-client'
  const CLIENT_SECRET = randomBytes(32).toString('base64url')
  let issuer: string
  let server: Server
  let http: AsHttpClient

  before(async () => {
    // The package ships no types; load it untyped and describe the little we use.
    const specifier = ['oidc', 'provider'].join('-')
    const { Provider } = (await import(specifier)) as { Provider: OidcProviderClass }
    let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
      res.writeHead(503).end()
    }
    const listening = await listen((req, res) => {
      // RFC 8414 §5: the OpenID document is a valid RFC 8414 metadata document too.
      if (req.url === '/.well-known/oauth-authorization-server') {
        req.url = '/.well-known/openid-configuration'
      }
      handle(req, res)
    })
    server = listening.server
    issuer = listening.url
    const keyPairs = await Promise.all([makeKey('RS256', 'op-rs'), makeKey('ES256', 'op-es')])
    const privateJwks = await Promise.all(
      keyPairs.map(async (k) => ({ ...(await exportJWK(k.privateKey)), kid: k.kid, alg: k.alg })),
    )
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_basic',
          scope: 'orders:read orders:write',
        },
      ],
      scopes: ['orders:read', 'orders:write'],
      jwks: { keys: privateJwks },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      ttl: { ClientCredentials: 300 },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => AUDIENCE,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resourceIndicator: string) => {
            if (resourceIndicator !== AUDIENCE) throw new Error('unknown resource')
            return {
              scope: 'orders:read orders:write',
              audience: AUDIENCE,
              accessTokenTTL: 300,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'ES256' } },
            }
          },
        },
      },
    })
    handle = provider.callback()
    http = createAsHttpClient({ timeoutMs: 2000 })
  })

  after(async () => {
    await http.close()
    await closeServer(server)
  })

  async function clientCredentialsToken(scope: string): Promise<string> {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: AUDIENCE }),
    })
    const body = (await res.json()) as { access_token?: string; token_type?: string }
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(typeof body.access_token, 'string')
    return body.access_token as string
  }

  test('A-02 A-07 A-08 a client_credentials JWT access token validates locally', async () => {
    const token = await clientCredentialsToken('orders:read')
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as {
      typ?: string
      alg?: string
    }
    assert.equal(header.typ, 'at+jwt')
    assert.equal(header.alg, 'ES256')
    const validator = createJwtValidator({
      issuer,
      audience: AUDIENCE,
      http,
      metadata: createMetadataSource(issuer, http),
      options: {},
      clockSkew: 30,
    })
    const outcome = await validator.validate(token, deadline())
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.reason)
    assert.equal(outcome.info.clientId, CLIENT_ID)
    assert.equal(outcome.info.sub, CLIENT_ID)
    assert.deepEqual(outcome.info.audience, [AUDIENCE])
    assert.deepEqual(outcome.info.scopes, ['orders:read'])
    assert.equal(outcome.info.iss, issuer)

    const elsewhere = createJwtValidator({
      issuer,
      audience: 'https://billing.example.test',
      http,
      metadata: createMetadataSource(issuer, http),
      options: {},
      clockSkew: 30,
    })
    assert.equal((await elsewhere.validate(token, deadline())).ok, false)
  })

  test('A-08 createTokenVerifier with strategy jwt and no credentials accepts it', async () => {
    const token = await clientCredentialsToken('orders:read orders:write')
    const verifier = createTokenVerifier({ issuer, audience: AUDIENCE, strategy: 'jwt' })
    try {
      const request = { method: 'GET', url: '/x', headers: { authorization: `Bearer ${token}` } }
      const result = await verifier.verify(request, { scopes: ['orders:read', 'orders:write'] })
      assert.ok(result.ok, result.ok ? '' : result.description)
      assert.equal(result.token.issuer, issuer)
      assert.equal(result.token.tokenType, 'Bearer')
      assert.equal(result.token.source, 'jwt')
      const forbidden = await verifier.verify(request, { scopes: ['orders:admin'] })
      assert.equal(forbidden.ok, false)
      assert.equal(!forbidden.ok && forbidden.status, 403)
    } finally {
      await verifier.close()
    }
  })
})
