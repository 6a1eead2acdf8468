/**
 * RFC 9449 DPoP proof checks at the resource server (checklist §10 D-xx, §16 vectors), with real
 * keys and signatures; the last suite goes end to end through createTokenVerifier with a JWT
 * access token bound by cnf.jkt and a JWKS served over loopback HTTP.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose'
import {
  accessTokenHash,
  createDpopVerifier,
  type DpopOutcome,
  type DpopVerifier,
  jwkThumbprint,
  normalizeHtu,
} from '../src/dpop.ts'
import type { RequestLike } from '../src/request.ts'
import { createTokenVerifier, type TokenVerifier } from '../src/verifier.ts'

const AUDIENCE = 'https://api.example.test'
const HTU = `${AUDIENCE}/orders`
const TOKEN = 'kh_at_7Cz0m1c8Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA'

interface ProofKey {
  readonly alg: string
  readonly privateKey: CryptoKey
  readonly jwk: JWK
  readonly jkt: string
}

async function makeKey(alg: string): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') }
}

interface ProofOptions {
  readonly key?: ProofKey
  readonly header?: Record<string, unknown>
  readonly claims?: Record<string, unknown>
  readonly omit?: readonly string[]
  readonly token?: string
}

function proofWith(defaultKey: ProofKey) {
  return async (o: ProofOptions = {}): Promise<string> => {
    const key = o.key ?? defaultKey
    const claims: Record<string, unknown> = {
      jti: randomUUID(),
      htm: 'GET',
      htu: HTU,
      iat: Math.floor(Date.now() / 1000),
      ath: accessTokenHash(o.token ?? TOKEN),
      ...o.claims,
    }
    for (const claim of o.omit ?? []) delete claims[claim]
    return new SignJWT(claims)
      .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...o.header })
      .sign(key.privateKey)
  }
}

function request(
  proof: string | readonly string[] | undefined,
  url = '/orders?id=7',
  method = 'GET',
) {
  const headers: Record<string, string | readonly string[]> = {}
  if (proof !== undefined) headers.dpop = proof
  return { method, url, headers } satisfies RequestLike
}

function expectProofError(outcome: DpopOutcome, description?: RegExp) {
  assert.equal(outcome.ok, false, 'the proof must be rejected')
  if (!outcome.ok) {
    assert.equal(outcome.error, 'invalid_dpop_proof')
    if (description !== undefined) assert.match(outcome.description, description)
  }
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

describe('§16 test vectors', () => {
  test('D-05 ath of the RFC 9449 example access token', () => {
    assert.equal(
      accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'),
      'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
    )
  })

  test('D-01 jkt (RFC 7638 thumbprint) of the RFC 9449 example key', async () => {
    const jwk: JWK = {
      kty: 'EC',
      crv: 'P-256',
      x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs',
      y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA',
    }
    assert.equal(await jwkThumbprint(jwk), '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I')
    // Members outside the canonical set do not change the thumbprint.
    assert.equal(
      await jwkThumbprint({ ...jwk, kid: 'x', use: 'sig', alg: 'ES256' }),
      '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I',
    )
  })
})

describe('DPoP proof checks (RFC 9449 §4.3, §7)', () => {
  let es: ProofKey
  let other: ProofKey
  let verifier: DpopVerifier
  let proof: (o?: ProofOptions) => Promise<string>
  const check = (p: string | readonly string[] | undefined, url?: string, method?: string) =>
    verifier.verify(request(p, url, method), TOKEN, es.jkt)

  before(async () => {
    ;[es, other] = await Promise.all([makeKey('ES256'), makeKey('ES256')])
    verifier = createDpopVerifier({}, AUDIENCE)
    proof = proofWith(es)
  })

  test('D-05 a valid proof is accepted', async () => {
    assert.deepEqual(await check(await proof()), { ok: true })
  })

  test('D-05 ES256, RS256, PS256 and EdDSA proofs are accepted by default', async () => {
    for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA']) {
      const key = await makeKey(alg)
      const outcome = await verifier.verify(request(await proof({ key })), TOKEN, key.jkt)
      assert.deepEqual(outcome, { ok: true }, `${alg} must be accepted`)
    }
    assert.deepEqual(verifier.algorithms, ['ES256', 'RS256', 'PS256', 'EdDSA'])
  })

  test('D-05 ath of the RFC 9449 example token is what the verifier expects', async () => {
    const token = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'
    const p = await proof({ claims: { ath: 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo' } })
    assert.deepEqual(await verifier.verify(request(p), token, es.jkt), { ok: true })
  })

  test('D-04 D-05 no DPoP header: invalid_dpop_proof', async () => {
    expectProofError(await check(undefined), /required/)
  })

  test('D-05 two DPoP headers are rejected (repeated, or joined by a comma)', async () => {
    const [a, b] = [await proof(), await proof()]
    expectProofError(await check([a, b]), /more than one/)
    expectProofError(await check(`${a}, ${b}`), /more than one/)
    const joined = new Headers()
    joined.append('DPoP', a)
    joined.append('DPoP', b)
    const outcome = await verifier.verify(
      { method: 'GET', url: '/orders', headers: joined },
      TOKEN,
      es.jkt,
    )
    expectProofError(outcome, /more than one/)
    // The same proof, alone, in a WHATWG Headers object is fine.
    const single = new Headers({ DPoP: await proof() })
    const ok = await verifier.verify(
      { method: 'GET', url: '/orders', headers: single },
      TOKEN,
      es.jkt,
    )
    assert.deepEqual(ok, { ok: true })
  })

  test('D-05 the proof must be one well-formed JWT', async () => {
    const valid = await proof()
    for (const bad of ['', 'garbage', `${valid}.x.y`, valid.replace(/\.[^.]*$/, ''), 'a.b.c']) {
      expectProofError(await check(bad))
    }
    expectProofError(await check('x'.repeat(9000)), /too large/)
  })

  for (const claim of ['jti', 'htm', 'htu', 'iat']) {
    test(`D-05 a proof without "${claim}" is rejected`, async () => {
      expectProofError(await check(await proof({ omit: [claim] })), new RegExp(claim))
    })
  }

  test('D-06 a proof without ath is rejected at the resource server', async () => {
    expectProofError(await check(await proof({ omit: ['ath'] })), /ath/)
  })

  test('D-05 ath must be the hash of this access token', async () => {
    expectProofError(await check(await proof({ token: `${TOKEN}x` })), /ath/)
    expectProofError(await check(await proof({ claims: { ath: TOKEN } })), /ath/)
  })

  test('D-05 typ must be dpop+jwt', async () => {
    for (const typ of ['JWT', 'at+jwt', undefined, 'dpop']) {
      expectProofError(await check(await proof({ header: { typ } })), /typ/)
    }
    assert.deepEqual(await check(await proof({ header: { typ: 'application/dpop+jwt' } })), {
      ok: true,
    })
  })

  test('D-05 S-02 alg none is rejected', async () => {
    const claims = { jti: randomUUID(), htm: 'GET', htu: HTU, iat: Date.now() / 1000 }
    const unsigned = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: es.jwk })}.${b64({ ...claims, ath: accessTokenHash(TOKEN) })}.`
    expectProofError(await check(unsigned))
    expectProofError(await check(`${unsigned}AAAA`), /algorithm/)
  })

  test('D-05 S-01 an HS256 proof is rejected, even with the jwk as the secret', async () => {
    for (const secret of [JSON.stringify(es.jwk), es.jwk.x ?? 'x']) {
      const hs = await new SignJWT({
        jti: randomUUID(),
        htm: 'GET',
        htu: HTU,
        iat: Math.floor(Date.now() / 1000),
        ath: accessTokenHash(TOKEN),
      })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: es.jwk })
        .sign(new TextEncoder().encode(secret))
      expectProofError(await check(hs), /algorithm/)
    }
  })

  test('D-05 alg outside the allow-list is rejected; the allow-list is asymmetric only', async () => {
    const es384 = await makeKey('ES384')
    expectProofError(
      await verifier.verify(request(await proof({ key: es384 })), TOKEN, es384.jkt),
      /algorithm/,
    )
    const onlyEd = createDpopVerifier({ algorithms: ['EdDSA'] }, AUDIENCE)
    expectProofError(await onlyEd.verify(request(await proof()), TOKEN, es.jkt), /algorithm/)
    for (const algorithms of [['HS256'], ['none'], [], ['es256']]) {
      assert.throws(() => createDpopVerifier({ algorithms }, AUDIENCE), TypeError)
    }
  })

  test('D-05 the signature must verify with the header jwk', async () => {
    const forged = await proof({ header: { jwk: other.jwk } })
    expectProofError(await check(forged), /signature/)
    const valid = await proof()
    const [h, , s] = valid.split('.') as [string, string, string]
    const claims = b64({
      jti: randomUUID(),
      htm: 'POST',
      htu: HTU,
      iat: Math.floor(Date.now() / 1000),
      ath: accessTokenHash(TOKEN),
    })
    expectProofError(await check(`${h}.${claims}.${s}`, '/orders', 'POST'), /signature/)
  })

  test('D-05 a jwk holding a private key is rejected', async () => {
    const privateJwk = await exportJWK(es.privateKey)
    assert.ok(privateJwk.d !== undefined)
    expectProofError(await check(await proof({ header: { jwk: privateJwk } })), /public key/)
    expectProofError(
      await check(await proof({ header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } })),
      /public key/,
    )
    expectProofError(await check(await proof({ header: { jwk: undefined } })), /jwk/)
  })

  test('D-05 htm must equal the request method', async () => {
    expectProofError(await check(await proof(), '/orders', 'POST'), /htm/)
    expectProofError(await check(await proof({ claims: { htm: 'get' } })), /htm/)
    const post = await proof({ claims: { htm: 'POST' } })
    assert.deepEqual(await check(post, '/orders', 'POST'), { ok: true })
  })

  test('D-05 htu must be the request URI (another path, host, scheme or port fails)', async () => {
    for (const htu of [
      `${AUDIENCE}/orders/1`,
      `${AUDIENCE}/`,
      'https://evil.example.test/orders',
      'http://api.example.test/orders',
      'https://api.example.test:8443/orders',
      '/orders',
      'not a uri',
    ]) {
      expectProofError(await check(await proof({ claims: { htu } })), /htu/)
    }
  })

  test('D-05 htu ignores the query and fragment of the request and of the claim', async () => {
    assert.deepEqual(await check(await proof(), '/orders?id=7&x=%20#frag'), { ok: true })
    const withQuery = await proof({ claims: { htu: `${HTU}?id=8#top` } })
    assert.deepEqual(await check(withQuery, '/orders'), { ok: true })
  })

  test('D-05 htu is normalized per RFC 3986 §6.2.2 and §6.2.3', async () => {
    const cases: [string, string][] = [
      ['HTTPS://API.Example.TEST/orders', '/orders'],
      ['https://api.example.test:443/orders', '/orders'],
      ['https://api.example.test', '/'],
      ['https://api.example.test/%7Eanna/orders', '/~anna/orders'],
      ['https://api.example.test/a%2fb', '/a%2Fb'],
      ['https://api.example.test/a/./b/../orders', '/a/orders'],
      ['https://api.example.test/%6Frders', '/orders'],
    ]
    for (const [htu, url] of cases) {
      assert.deepEqual(await check(await proof({ claims: { htu } }), url), { ok: true }, htu)
    }
    assert.equal(normalizeHtu('HTTP://Example.COM:80/%7e/%2f?q#f'), 'http://example.com/~/%2F')
    assert.equal(normalizeHtu('ftp://example.com/x'), undefined)
  })

  test('D-05 the request URI comes from options.origin, else an absolute URL, else the audience', async () => {
    const behindProxy = createDpopVerifier({ origin: 'https://public.example.test' }, AUDIENCE)
    const publicProof = await proof({ claims: { htu: 'https://public.example.test/orders' } })
    assert.deepEqual(await behindProxy.verify(request(publicProof), TOKEN, es.jkt), { ok: true })
    expectProofError(await behindProxy.verify(request(await proof()), TOKEN, es.jkt), /htu/)
    const absolute = request(await proof({ claims: { htu: 'http://internal:8080/orders' } }))
    const absoluteUrl = { ...absolute, url: 'http://internal:8080/orders?x=1' }
    assert.deepEqual(await verifier.verify(absoluteUrl, TOKEN, es.jkt), { ok: true })
    // A request target of //host/path stays a path on the configured origin.
    const sneaky = await proof({ claims: { htu: 'https://evil.example.test/orders' } })
    expectProofError(await check(sneaky, '//evil.example.test/orders'), /htu/)
    // No origin, relative target, audience not a URL: htu cannot be checked, so it fails.
    const opaqueAudience = createDpopVerifier({}, 'orders-api')
    expectProofError(
      await opaqueAudience.verify(request(await proof()), TOKEN, es.jkt),
      /request URI/,
    )
    assert.throws(() => createDpopVerifier({ origin: 'not a url' }, AUDIENCE), TypeError)
  })

  test('D-11 iat too old or too far in the future is rejected', async () => {
    const now = Math.floor(Date.now() / 1000)
    expectProofError(await check(await proof({ claims: { iat: now - 600 } })), /too old/)
    expectProofError(await check(await proof({ claims: { iat: now - 61 } })), /too old/)
    expectProofError(await check(await proof({ claims: { iat: now + 120 } })), /future/)
    expectProofError(await check(await proof({ claims: { iat: String(now) } })), /iat/)
    assert.deepEqual(await check(await proof({ claims: { iat: now - 50 } })), { ok: true })
    assert.deepEqual(await check(await proof({ claims: { iat: now + 30 } })), { ok: true })
    const strict = createDpopVerifier({ maxAgeSeconds: 5 }, AUDIENCE)
    expectProofError(
      await strict.verify(request(await proof({ claims: { iat: now - 10 } })), TOKEN, es.jkt),
      /too old/,
    )
  })

  test('D-11 a proof is accepted once: the replay is rejected', async () => {
    const p = await proof()
    assert.deepEqual(await check(p), { ok: true })
    expectProofError(await check(p), /already used/)
    expectProofError(await check(p, '/orders?other=query'), /already used/)
    const concurrent = await proof()
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => check(concurrent)))
    assert.equal(outcomes.filter((o) => o.ok).length, 1, 'exactly one concurrent use passes')
  })

  test('D-11 the same jti is remembered per target URI', async () => {
    const jti = randomUUID()
    assert.deepEqual(await check(await proof({ claims: { jti } })), { ok: true })
    const elsewhere = await proof({ claims: { jti, htu: `${AUDIENCE}/invoices` } })
    assert.deepEqual(await check(elsewhere, '/invoices'), { ok: true })
    expectProofError(await check(await proof({ claims: { jti } })), /already used/)
  })

  test('D-11 a very long jti is rejected', async () => {
    expectProofError(await check(await proof({ claims: { jti: 'j'.repeat(1000) } })), /jti/)
    expectProofError(await check(await proof({ claims: { jti: 42 } })), /jti/)
  })

  test('D-03 a proof by another key than the bound one: invalid_token', async () => {
    const outcome = await verifier.verify(request(await proof({ key: other })), TOKEN, es.jkt)
    assert.equal(outcome.ok, false)
    if (!outcome.ok) {
      assert.equal(outcome.error, 'invalid_token')
      assert.match(outcome.description, /key/)
    }
  })

  test('D-05 descriptions are short fixed texts without the token or the proof', async () => {
    const p = await proof({ claims: { htm: 'DELETE' } })
    const outcome = await check(p)
    assert.ok(!outcome.ok)
    assert.ok(!outcome.description.includes(TOKEN))
    assert.ok(!outcome.description.includes(p.slice(0, 20)))
  })
})

describe('DPoP through createTokenVerifier (JWT access token with cnf.jkt)', () => {
  const ISSUER_PATH = ''
  let server: Server
  let issuer: string
  let asKey: { privateKey: CryptoKey; jwk: JWK }
  let holder: ProofKey
  let thief: ProofKey
  let verifier: TokenVerifier
  let proof: (o?: ProofOptions) => Promise<string>

  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true })
    asKey = {
      privateKey: pair.privateKey,
      jwk: { ...(await exportJWK(pair.publicKey)), kid: 'as-1', alg: 'ES256', use: 'sig' },
    }
    server = createServer((req, res) => {
      const body =
        req.url === '/.well-known/oauth-authorization-server'
          ? { issuer, jwks_uri: `${issuer}/jwks` }
          : req.url === '/jwks'
            ? { keys: [asKey.jwk] }
            : undefined
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body ?? {}))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}${ISSUER_PATH}`
    ;[holder, thief] = await Promise.all([makeKey('ES256'), makeKey('ES256')])
    proof = proofWith(holder)
    verifier = createTokenVerifier({
      issuer,
      audience: AUDIENCE,
      strategy: 'jwt',
      http: { timeoutMs: 1500, retries: 0 },
    })
  })

  after(async () => {
    await verifier.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  async function accessToken(cnf?: Record<string, unknown>): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({
      iss: issuer,
      aud: AUDIENCE,
      sub: 'user-1',
      client_id: 'shop',
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      scope: 'orders:read',
      ...(cnf === undefined ? {} : { cnf }),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'as-1' })
      .sign(asKey.privateKey)
  }

  const resourceRequest = (authorization: string, dpop?: string) => ({
    method: 'GET',
    url: '/orders?id=7',
    headers: { authorization, ...(dpop === undefined ? {} : { dpop }) },
  })

  test('D-07 a DPoP-bound token sent as Bearer is refused', async () => {
    const token = await accessToken({ jkt: holder.jkt })
    const result = await verifier.verify(resourceRequest(`Bearer ${token}`), {
      scopes: ['orders:read'],
    })
    assert.equal(result.ok, false)
    if (!result.ok) {
      assert.equal(result.status, 401)
      assert.equal(result.error, 'invalid_token')
      assert.match(result.headers['WWW-Authenticate'] ?? '', /^DPoP /)
      assert.match(result.headers['WWW-Authenticate'] ?? '', /algs="ES256 RS256 PS256 EdDSA"/)
    }
    // Even with a valid proof alongside: the scheme decides (P-13 downgrade).
    const withProof = await verifier.verify(
      resourceRequest(`Bearer ${token}`, await proof({ token })),
    )
    assert.equal(withProof.ok, false)
  })

  test('D-03 D-05 the same token sent as DPoP with a valid proof is accepted', async () => {
    const token = await accessToken({ jkt: holder.jkt })
    const result = await verifier.verify(resourceRequest(`DPoP ${token}`, await proof({ token })), {
      scopes: ['orders:read'],
    })
    assert.ok(result.ok, result.ok ? '' : result.description)
    assert.equal(result.token.tokenType, 'DPoP')
    assert.deepEqual(result.token.cnf, { jkt: holder.jkt })
    assert.equal(result.token.source, 'jwt')
  })

  test('D-04 DPoP scheme without a proof, with a replayed proof, or with a wrong key: 401', async () => {
    const token = await accessToken({ jkt: holder.jkt })
    const missing = await verifier.verify(resourceRequest(`DPoP ${token}`))
    assert.equal(missing.ok, false)
    assert.equal(!missing.ok && missing.status, 401)

    const p = await proof({ token })
    assert.ok((await verifier.verify(resourceRequest(`DPoP ${token}`, p))).ok)
    const replay = await verifier.verify(resourceRequest(`DPoP ${token}`, p))
    assert.equal(replay.ok, false)
    assert.equal(!replay.ok && replay.status, 401)

    const stolen = await verifier.verify(
      resourceRequest(`DPoP ${token}`, await proof({ token, key: thief })),
    )
    assert.equal(stolen.ok, false)
    if (!stolen.ok) {
      assert.equal(stolen.status, 401)
      assert.equal(stolen.error, 'invalid_token')
    }
  })

  test('D-04 a token that is not DPoP-bound, sent with the DPoP scheme, is refused', async () => {
    const token = await accessToken()
    const result = await verifier.verify(resourceRequest(`DPoP ${token}`, await proof({ token })))
    assert.equal(result.ok, false)
    assert.equal(!result.ok && result.status, 401)
    const bearer = await verifier.verify(resourceRequest(`Bearer ${token}`))
    assert.ok(bearer.ok)
    assert.equal(bearer.token.tokenType, 'Bearer')
  })

  test('D-09 malformed DPoP credentials: 400 invalid_request in the DPoP challenge, Bearer offered without an error', async () => {
    const result = await verifier.verify(resourceRequest('DPoP a b'))
    assert.equal(result.ok, false)
    if (!result.ok) {
      assert.equal(result.status, 400)
      assert.equal(result.error, 'invalid_request')
      const [dpopPart, bearerPart] = (result.headers['WWW-Authenticate'] ?? '').split(', Bearer ')
      assert.match(dpopPart ?? '', /^DPoP .*error="invalid_request"/)
      assert.ok(bearerPart !== undefined && !bearerPart.includes('error='), bearerPart)
    }
  })

  test('P-13 a token bound to a DPoP key and a certificate (jkt + x5t#S256) is refused without the certificate', async () => {
    const token = await accessToken({ jkt: holder.jkt, 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o' })
    const result = await verifier.verify(resourceRequest(`DPoP ${token}`, await proof({ token })))
    assert.equal(result.ok, false)
  })
})
