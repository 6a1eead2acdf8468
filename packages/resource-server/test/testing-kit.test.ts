/**
 * The test kit (`@keyhole/resource-server/testing`) is itself an authorization server that users
 * trust in their tests, so it gets tests of its own: metadata, caller authentication, answers,
 * modes, signed answers.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { after, before, test } from 'node:test'
import { basicAuthorization } from '@keyhole/protocol'
import { createTokenVerifier } from '@keyhole/resource-server'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@keyhole/resource-server/testing'
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify, SignJWT } from 'jose'

// RFC 6749 §2.3.1 test vector (checklist §16): the secret holds a ":" and characters that
// form-encoding changes.
const VECTOR_ID = '1PpG/Q 1'
const VECTOR_SECRET = 'z/tZ9VwFZqApmIQ+ZH1I5pLk/uB4ud:X2/8bL+wfFTt1rFw='
const { privateKey: rsaKey, publicKey: rsaPublic } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
})
const privateJwk = { ...(rsaKey.export({ format: 'jwk' }) as JWK), alg: 'RS256', kid: 'k1' }
const publicJwk = { ...(rsaPublic.export({ format: 'jwk' }) as JWK), alg: 'RS256', kid: 'k1' }

let kit: TestAuthorizationServer
before(async () => {
  kit = await startTestAuthorizationServer({
    clients: [
      { clientId: 'rs', clientSecret: 'rs-secret' },
      { clientId: VECTOR_ID, clientSecret: VECTOR_SECRET },
      { clientId: 'signed-rs', publicJwk },
    ],
    audience: 'https://orders.example.test',
  })
})
after(() => kit.close())

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

async function post(
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(kit.introspectionEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

const basic = (token: string, id = 'rs', secret = 'rs-secret') =>
  post({ token }, { authorization: basicAuthorization(id, secret) })

async function assertion(claims: Record<string, unknown> = {}, audience = kit.issuer) {
  const key = await import('jose').then((j) => j.importJWK(privateJwk, 'RS256'))
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('signed-rs')
    .setSubject('signed-rs')
    .setAudience(audience)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(key)
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

test('M-08 the RFC 8414 metadata names the exact issuer, the endpoints and the auth methods', async () => {
  const res = await fetch(`${kit.issuer}/.well-known/oauth-authorization-server`)
  assert.equal(res.status, 200)
  const metadata = (await res.json()) as Record<string, unknown>
  assert.equal(metadata.issuer, kit.issuer)
  assert.match(kit.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.equal(metadata.introspection_endpoint, kit.introspectionEndpoint)
  assert.equal(metadata.jwks_uri, kit.jwksUri)
  assert.deepEqual(metadata.introspection_endpoint_auth_methods_supported, [
    'client_secret_basic',
    'client_secret_post',
    'private_key_jwt',
  ])
})

test('M-12 a path issuer gets the well-known segment inserted before its path (RFC 8414 §3)', async () => {
  const tenant = await startTestAuthorizationServer({ issuerPath: '/tenant-a' })
  try {
    const origin = new URL(tenant.issuer).origin
    assert.equal(tenant.issuer, `${origin}/tenant-a`)
    const res = await fetch(`${origin}/.well-known/oauth-authorization-server/tenant-a`)
    assert.equal(((await res.json()) as { issuer: string }).issuer, tenant.issuer)
  } finally {
    await tenant.close()
  }
})

test('M-03 the JWKS publishes one public signing key and never a private member', async () => {
  const res = await fetch(kit.jwksUri)
  const jwks = (await res.json()) as { keys: JWK[] }
  assert.equal(jwks.keys.length, 1)
  const [key] = jwks.keys
  assert.equal(key?.alg, 'ES256')
  assert.equal(typeof key?.kid, 'string')
  assert.equal(key?.d, undefined)
})

test('I-13 an issued token is active with the requested members; unknown and revoked ones are not', async () => {
  const token = kit.issueToken({ scope: 'orders:read', sub: 'alice', clientId: 'shop' })
  const answer = JSON.parse((await basic(token)).text) as Record<string, unknown>
  assert.equal(answer.active, true)
  assert.equal(answer.scope, 'orders:read')
  assert.equal(answer.sub, 'alice')
  assert.equal(answer.client_id, 'shop')
  assert.equal(answer.aud, 'https://orders.example.test')
  assert.equal(answer.iss, kit.issuer)
  assert.equal(answer.token_type, 'Bearer')
  assert.equal(typeof answer.exp, 'number')
  assert.deepEqual(JSON.parse((await basic('kt_unknown')).text), { active: false })
  assert.equal(kit.revoke(token), true)
  assert.deepEqual(JSON.parse((await basic(token)).text), { active: false })
})

test('I-19 an expired token is inactive; extra members are sent verbatim', async () => {
  const expired = kit.issueToken({ expiresIn: -1 })
  assert.deepEqual(JSON.parse((await basic(expired)).text), { active: false })
  const quirky = kit.issueToken({
    extra: { exp: '1700000000', sub: null },
    aud: null,
    tokenType: null,
  })
  const answer = JSON.parse((await basic(quirky)).text) as Record<string, unknown>
  assert.equal(answer.active, true)
  assert.equal(answer.exp, '1700000000')
  assert.equal(answer.sub, null)
  assert.equal('aud' in answer, false)
  assert.equal('token_type' in answer, false)
})

test('Q-06 client_secret_basic is form-decoded after base64 (RFC 6749 §2.3.1), raw values tolerated', async () => {
  const token = kit.issueToken()
  const encoded = await basic(token, VECTOR_ID, VECTOR_SECRET)
  assert.equal(encoded.status, 200, encoded.text)
  const header = `Basic ${Buffer.from(`${VECTOR_ID}:${VECTOR_SECRET}`).toString('base64')}`
  const raw = await post({ token }, { authorization: header })
  assert.equal(raw.status, 200, raw.text)
  assert.equal(kit.lastIntrospection?.authMethod, 'client_secret_basic')
  assert.equal(kit.lastIntrospection?.clientId, VECTOR_ID)
})

test('I-16 a wrong secret over Basic gets 401 invalid_client with a Basic challenge', async () => {
  const res = await basic(kit.issueToken(), 'rs', 'wrong')
  assert.equal(res.status, 401)
  assert.equal((JSON.parse(res.text) as { error: string }).error, 'invalid_client')
  assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /)
  assert.equal((await post({ token: 'x' })).status, 401, 'no credentials at all')
})

test('I-16 client_secret_post works; two methods at once are refused with invalid_request', async () => {
  const token = kit.issueToken()
  const res = await post({ token, client_id: 'rs', client_secret: 'rs-secret' })
  assert.equal(res.status, 200)
  assert.equal(kit.lastIntrospection?.authMethod, 'client_secret_post')
  const both = await post(
    { token, client_id: 'rs', client_secret: 'rs-secret' },
    { authorization: basicAuthorization('rs', 'rs-secret') },
  )
  assert.equal(both.status, 400)
  assert.equal((JSON.parse(both.text) as { error: string }).error, 'invalid_request')
})

test('Q-07 private_key_jwt is verified against the registered public JWK, single use', async () => {
  const token = kit.issueToken()
  const jwt = await assertion()
  const form = { token, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt }
  const ok = await post(form)
  assert.equal(ok.status, 200, ok.text)
  assert.equal(JSON.parse(ok.text).active, true)
  assert.equal(kit.lastIntrospection?.authMethod, 'private_key_jwt')
  assert.equal(kit.lastIntrospection?.clientId, 'signed-rs')
  assert.equal((await post(form)).status, 401, 'a replayed assertion')
  const endpointAud = await assertion({}, kit.introspectionEndpoint)
  assert.equal((await post({ ...form, client_assertion: endpointAud })).status, 200)
  const otherAud = await assertion({}, 'https://elsewhere.example.test')
  assert.equal((await post({ ...form, client_assertion: otherAud })).status, 401)
  const forged = `${(await assertion()).slice(0, -4)}AAAA`
  assert.equal((await post({ ...form, client_assertion: forged })).status, 401)
})

test('Q-07 private_key_jwt works with every advertised algorithm, for keys that do not name theirs', async () => {
  const keys = {
    RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    PS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    EdDSA: generateKeyPairSync('ed25519'),
  }
  const clients = Object.entries(keys).map(([alg, pair]) => ({
    clientId: `signed-${alg}`,
    // as node exports it: no "alg" member
    publicJwk: pair.publicKey.export({ format: 'jwk' }) as JWK,
  }))
  const signed = await startTestAuthorizationServer({
    audience: 'https://orders.example.test',
    clients,
  })
  try {
    for (const [alg, pair] of Object.entries(keys)) {
      const verifier = createTokenVerifier({
        issuer: signed.issuer,
        audience: 'https://orders.example.test',
        credentials: {
          clientId: `signed-${alg}`,
          privateKey: pair.privateKey.export({ format: 'jwk' }) as JWK,
          alg,
        },
        dpop: false,
      })
      try {
        const request = {
          method: 'GET',
          url: '/',
          headers: { authorization: `Bearer ${signed.issueToken()}` },
        }
        const result = await verifier.verify(request)
        assert.ok(result.ok, `${alg}: ${result.ok ? '' : result.description}`)
        assert.equal(signed.lastIntrospection?.clientId, `signed-${alg}`)
      } finally {
        await verifier.close()
      }
    }
  } finally {
    await signed.close()
  }
})

test('J-05 an Accept for token-introspection+jwt gets an RFC 9701 answer signed with the JWKS key', async () => {
  const token = kit.issueToken({ scope: 'orders:read' })
  const res = await post(
    { token },
    {
      authorization: basicAuthorization('rs', 'rs-secret'),
      accept: 'application/token-introspection+jwt',
    },
  )
  assert.equal(res.headers.get('content-type'), 'application/token-introspection+jwt')
  assert.equal(decodeProtectedHeader(res.text).typ, 'token-introspection+jwt')
  const { payload } = await jwtVerify(res.text, createLocalJWKSet({ keys: [...kit.jwks.keys] }), {
    issuer: kit.issuer,
    audience: 'rs',
  })
  assert.equal(typeof payload.iat, 'number')
  assert.deepEqual(
    (payload.token_introspection as { active: boolean; scope: string }).scope,
    'orders:read',
  )
})

test('A-02 issueJwt mints an RFC 9068 at+jwt the JWKS verifies, and introspection knows it', async () => {
  const jwt = kit.issueJwt({ scope: 'orders:read', sub: 'bob' })
  assert.equal(typeof jwt, 'string')
  const { payload, protectedHeader } = await jwtVerify(
    jwt,
    createLocalJWKSet({ keys: [...kit.jwks.keys] }),
    { issuer: kit.issuer, audience: kit.audience, typ: 'at+jwt' },
  )
  assert.equal(protectedHeader.alg, 'ES256')
  assert.equal(payload.sub, 'bob')
  assert.equal(typeof payload.client_id, 'string')
  assert.equal(typeof payload.jti, 'string')
  assert.equal(JSON.parse((await basic(jwt)).text).active, true)
})

test('A-01 an RS256 kit signs with RS256', async () => {
  const rsa = await startTestAuthorizationServer({ alg: 'RS256' })
  try {
    const jwt = rsa.issueJwt()
    const { protectedHeader } = await jwtVerify(
      jwt,
      createLocalJWKSet({ keys: [...rsa.jwks.keys] }),
    )
    assert.equal(protectedHeader.alg, 'RS256')
  } finally {
    await rsa.close()
  }
})

test('P-06 the modes: error 500, garbage, html, active-string, forced answers; all counted', async () => {
  const token = kit.issueToken()
  kit.reset()
  kit.setMode('error')
  assert.equal((await basic(token)).status, 500)
  kit.setMode('garbage')
  const garbage = await basic(token)
  assert.equal(garbage.status, 200)
  assert.throws(() => JSON.parse(garbage.text))
  kit.setMode('html')
  const html = await basic(token)
  assert.match(html.headers.get('content-type') ?? '', /^text\/html/)
  kit.setMode('active-string')
  assert.equal(JSON.parse((await basic(token)).text).active, 'true')
  assert.equal(JSON.parse((await basic('kt_nope')).text).active, 'false')
  kit.setMode('normal')
  kit.respondWith({ active: true, marker: 1 }, { status: 418, headers: { 'x-forced': 'yes' } })
  const forced = await post({ token })
  assert.equal(forced.status, 418)
  assert.equal(forced.headers.get('x-forced'), 'yes')
  assert.deepEqual(JSON.parse(forced.text), { active: true, marker: 1 })
  kit.respondWith(undefined)
  assert.equal(JSON.parse((await basic(token)).text).active, true)
  assert.equal(kit.introspectionCount, 7)
})

test('P-06 down destroys connections (not counted); slow answers after slowMs', async () => {
  const slow = await startTestAuthorizationServer({ slowMs: 300 })
  try {
    const token = slow.issueToken()
    slow.setMode('down')
    await assert.rejects(fetch(`${slow.issuer}/.well-known/oauth-authorization-server`))
    await assert.rejects(fetch(slow.introspectionEndpoint, { method: 'POST' }))
    assert.equal(slow.introspectionCount, 0)
    slow.setMode('slow')
    const started = performance.now()
    const res = await fetch(slow.introspectionEndpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuthorization(slow.credentials.clientId, slow.credentials.clientSecret),
      },
      body: new URLSearchParams({ token }).toString(),
    })
    assert.ok(performance.now() - started >= 290)
    assert.equal(((await res.json()) as { active: boolean }).active, true)
    assert.equal(slow.introspectionCount, 1)
  } finally {
    await slow.close()
  }
})

test('P-06 close() ends pending slow answers and stops listening', async () => {
  const closing = await startTestAuthorizationServer({ slowMs: 60_000 })
  closing.setMode('slow')
  const pending = fetch(closing.introspectionEndpoint, { method: 'POST' }).then(
    () => 'answered',
    () => 'failed',
  )
  while (closing.introspectionCount === 0) await new Promise((r) => setTimeout(r, 5))
  const started = performance.now()
  await closing.close()
  assert.ok(performance.now() - started < 1000)
  assert.equal(await pending, 'failed')
  await assert.rejects(fetch(closing.jwksUri))
})
