/**
 * RFC 7523 private_key_jwt client authentication (with RFC 7521 §4.2, OIDC Core §9, the 7523bis
 * audience rule and RFC 8725), black-box over real HTTP against `keyhole serve`: clients at the
 * token and revocation endpoints, resources at the introspection endpoint. Plus interop with
 * panva's oauth4webapi, a client nobody here wrote.
 *
 * Keys are generated per run; the config holds their public halves only.
 *
 * Checklist items NOT tested here, and why:
 * - P-10 on the client side (sending `typ`): a client rule; the resource-server library's own
 *   tests cover what it sends. Tested here: the server accepts assertions with and without it.
 * - P-11 is tested as the metadata lint (no `none`, no HS*) and as refusals of HS256 and `none`.
 * - The jti store shared by several servers (P-07 across servers): packages/server/test/
 *   store-postgres.test.ts, which runs PostgreSQL.
 */
import assert from 'node:assert/strict'
import { randomUUID, webcrypto } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose'
import * as oauth from 'oauth4webapi'
import { assertError, assertNoStore, assertNotEchoed } from './support/assertions.ts'
import {
  base,
  fixtureConfig,
  get,
  getToken,
  type HttpResult,
  introspect,
  post,
  type RunningServer,
  SHOP,
  startServer,
} from './support/harness.ts'

// ---------------------------------------------------------------------------------------------
// keys, assertions, requests
// ---------------------------------------------------------------------------------------------

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const INVENTORY_AUD = 'https://inventory.example.test'
const ASYMMETRIC = /^(ES(256|384|512)|PS(256|384|512)|RS(256|384|512)|EdDSA|Ed25519)$/

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

interface Signer {
  readonly clientId: string
  readonly alg: string
  readonly kid?: string
  readonly privateKey: SigningKey
  /** The public JWK as registered in the config. */
  readonly jwk: JWK
}

async function signer(
  clientId: string,
  alg: string,
  options: { kid?: string; registeredAlg?: string } = {},
): Promise<Signer> {
  const pair = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true })
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), alg: options.registeredAlg ?? alg }
  if (options.kid !== undefined) jwk.kid = options.kid
  return {
    clientId,
    alg,
    privateKey: pair.privateKey,
    jwk,
    ...(options.kid === undefined ? {} : { kid: options.kid }),
  }
}

/** `undefined` in `claims` or `header` removes that member. */
interface AssertionOptions {
  readonly claims?: Record<string, unknown>
  readonly header?: Record<string, unknown>
  /** Sign with this key instead of the signer's own. */
  readonly key?: SigningKey
}

let issuer = ''

function now(): number {
  return Math.floor(Date.now() / 1000)
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined))
}

/** A client assertion as RFC 7523 §3 asks: iss = sub = client id, aud = issuer, exp, jti. */
async function assertion(who: Signer, options: AssertionOptions = {}): Promise<string> {
  const t = now()
  const claims = withoutUndefined({
    iss: who.clientId,
    sub: who.clientId,
    aud: issuer,
    jti: randomUUID(),
    iat: t,
    exp: t + 60,
    ...options.claims,
  })
  const header = withoutUndefined({
    alg: who.alg,
    ...(who.kid === undefined ? {} : { kid: who.kid }),
    ...options.header,
  })
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader(header as { alg: string })
    .sign(options.key ?? who.privateKey)
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** The fields private_key_jwt adds to a form. */
function assertionForm(jws: string, extra: Record<string, string> = {}): Record<string, string> {
  return { client_assertion_type: JWT_BEARER, client_assertion: jws, ...extra }
}

function tokenWith(
  jws: string,
  extra: Record<string, string> = {},
  server: RunningServer = suite,
): Promise<HttpResult> {
  return post(`${base(server)}/token`, {
    form: { grant_type: 'client_credentials', ...assertionForm(jws, extra) },
  })
}

function introspectWith(jws: string, token: string): Promise<HttpResult> {
  return post(`${base(suite)}/introspect`, { form: { token, ...assertionForm(jws) } })
}

function expectToken(res: HttpResult): string {
  assert.equal(res.status, 200, res.text)
  assertNoStore(res)
  const body = res.json<{ access_token: string; token_type: string }>()
  assert.equal(body.token_type, 'Bearer')
  return body.access_token
}

/** P-09: 401 invalid_client, a Basic challenge, and nothing that says which check failed. */
function expectRefused(res: HttpResult, ...notEchoed: string[]): void {
  const body = assertError(res, 401, 'invalid_client')
  assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]*"/)
  assert.equal(body.error_description, 'client authentication failed')
  assertNotEchoed(res, ...notEchoed)
}

// ---------------------------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------------------------

let es: Signer // signer: ES256, kid sig-es
let ps: Signer // signer: PS256, kid sig-ps
let ed: Signer // signer: Ed25519 registered as EdDSA, no kid
let inventory: Signer // the inventory resource: Ed25519 registered as EdDSA
let rotatingOld: Signer // rotating: two ES256 keys without kids
let rotatingNew: Signer
let attacker: Signer // a key nobody registered, claiming to be `signer`
let suite: RunningServer

function suiteConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const fixture = fixtureConfig()
  return fixtureConfig({
    resources: [
      ...(fixture.resources as object[]),
      {
        id: 'inventory',
        audience: INVENTORY_AUD,
        jwks: { keys: [inventory.jwk] },
        scopes: ['inventory:read'],
      },
    ],
    clients: [
      ...(fixture.clients as object[]),
      {
        id: 'signer',
        jwks: { keys: [es.jwk, ps.jwk, ed.jwk] },
        scopes: ['orders:read', 'inventory:read'],
      },
      {
        id: 'rotating',
        jwks: { keys: [rotatingOld.jwk, rotatingNew.jwk] },
        scopes: ['orders:read'],
      },
    ],
    ...overrides,
  })
}

before(async () => {
  es = await signer('signer', 'ES256', { kid: 'sig-es' })
  ps = await signer('signer', 'PS256', { kid: 'sig-ps' })
  ed = await signer('signer', 'EdDSA')
  inventory = await signer('inventory', 'EdDSA')
  rotatingOld = await signer('rotating', 'ES256')
  rotatingNew = await signer('rotating', 'ES256')
  attacker = await signer('signer', 'ES256', { kid: 'sig-es' })
  suite = await startServer(
    suiteConfig({
      // Many tests fail on purpose; throttling is tested on its own server below.
      throttle: { failedAuth: { limit: 100_000, windowSeconds: 1 } },
    }),
  )
  issuer = suite.issuer
})
after(() => suite?.stop())

// ---------------------------------------------------------------------------------------------
// RFC 7523 §3 checks
// ---------------------------------------------------------------------------------------------

describe('RFC 7523 private_key_jwt at keyhole serve', () => {
  test('P-01 P-02 P-03 P-04 a signed assertion (iss = sub = client id, aud = issuer) gets a token, with every registered algorithm', async () => {
    for (const who of [es, ps, ed]) expectToken(await tokenWith(await assertion(who)))
    // The same Ed25519 key under its RFC 9864 name (oauth4webapi sends that one).
    expectToken(await tokenWith(await assertion(ed, { header: { alg: 'Ed25519' } })))
    // client_id may be sent along when it names the same client (RFC 7521 §4.2).
    expectToken(await tokenWith(await assertion(es), { client_id: 'signer' }))
  })

  test('P-01 a client_id naming another client than the assertion gets 401 invalid_client', async () => {
    expectRefused(await tokenWith(await assertion(es), { client_id: 'shop' }))
  })

  test('P-01 a client_assertion_type other than jwt-bearer, or none, gets 401 invalid_client; so does a type without an assertion', async () => {
    const jws = await assertion(es)
    for (const type of ['urn:ietf:params:oauth:client-assertion-type:saml2-bearer', 'jwt']) {
      const res = await post(`${base(suite)}/token`, {
        form: {
          grant_type: 'client_credentials',
          client_assertion_type: type,
          client_assertion: jws,
        },
      })
      assertError(res, 401, 'invalid_client')
      assertNotEchoed(res, jws)
    }
    const untyped = await post(`${base(suite)}/token`, {
      form: { grant_type: 'client_credentials', client_assertion: jws },
    })
    assertError(untyped, 401, 'invalid_client')
    const bare = await post(`${base(suite)}/token`, {
      form: { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER },
    })
    assertError(bare, 401, 'invalid_client')
    // Nothing was used: the same assertion still works once, properly typed.
    expectToken(await tokenWith(jws))
  })

  test('P-01 O-05 two client_assertion parameters get 400 invalid_request: exactly one assertion', async () => {
    const [first, second] = [await assertion(es), await assertion(es)]
    const res = await post(`${base(suite)}/token`, {
      form: {
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER,
        client_assertion: [first, second],
      },
    })
    assertError(res, 400, 'invalid_request')
    assertNotEchoed(res, first, second)
  })

  test('P-01 what is not one compact JWS gets 401: garbage, two JWTs, a JWE, an unsigned JWT, over 8 KiB', async () => {
    const jws = await assertion(es)
    const [head, body] = jws.split('.')
    for (const value of [
      'not-a-jwt',
      `${jws} ${await assertion(es)}`,
      `${jws}.${jws}`,
      `${head}.${body}.`,
      `${head}.${body}`,
      `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`,
      `${head}.${body}.${'A'.repeat(9_000)}`,
    ]) {
      expectRefused(await tokenWith(value), value)
    }
    // Padding and the standard base64 alphabet are not base64url (RFC 7515 §2).
    expectRefused(await tokenWith(`${jws}=`))
  })

  test('P-02 an assertion whose iss is missing or is not the client gets 401', async () => {
    expectRefused(await tokenWith(await assertion(es, { claims: { iss: undefined } })))
    expectRefused(await tokenWith(await assertion(es, { claims: { iss: 'shop' } })))
    expectRefused(await tokenWith(await assertion(es, { claims: { iss: issuer } })))
  })

  test('P-03 an assertion whose sub is missing or names another client gets 401', async () => {
    expectRefused(await tokenWith(await assertion(es, { claims: { sub: undefined } })))
    // iss and sub both another client: a client that registered no keys...
    expectRefused(await tokenWith(await assertion(es, { claims: { iss: 'shop', sub: 'shop' } })))
    // ...or one whose keys these are not.
    expectRefused(
      await tokenWith(await assertion(es, { claims: { iss: 'rotating', sub: 'rotating' } })),
    )
  })

  test('P-04 Q-07 aud must be the issuer alone: the token or introspection endpoint URL, a second audience, a trailing slash, or no aud get 401', async () => {
    expectToken(await tokenWith(await assertion(es, { claims: { aud: [issuer] } })))
    for (const aud of [
      `${base(suite)}/token`,
      `${base(suite)}/introspect`,
      [issuer, 'https://other.example.test'],
      [issuer, `${base(suite)}/token`],
      `${issuer}/`,
      issuer.toUpperCase(),
      [],
      undefined,
    ]) {
      expectRefused(await tokenWith(await assertion(es, { claims: { aud } })))
    }
  })

  test('P-05 exp missing, not a number, passed, or over 5 minutes ahead gets 401; a few seconds past is within the clock skew', async () => {
    const t = now()
    for (const exp of [undefined, String(t + 60), t - 120, t + 86_400, t + 600]) {
      expectRefused(await tokenWith(await assertion(es, { claims: { exp } })))
    }
    expectToken(await tokenWith(await assertion(es, { claims: { exp: t - 5, iat: t - 60 } })))
    expectToken(await tokenWith(await assertion(es, { claims: { exp: t + 290 } })))
  })

  test('P-06 nbf or iat in the future gets 401; in the past, or absent, they are fine', async () => {
    const t = now()
    expectRefused(await tokenWith(await assertion(es, { claims: { nbf: t + 120 } })))
    expectRefused(await tokenWith(await assertion(es, { claims: { iat: t + 120 } })))
    expectRefused(await tokenWith(await assertion(es, { claims: { iat: 'yesterday' } })))
    expectToken(await tokenWith(await assertion(es, { claims: { nbf: t - 10, iat: t - 10 } })))
    expectToken(await tokenWith(await assertion(es, { claims: { iat: undefined } })))
  })

  test('P-07 jti is required: an assertion without one, or with an empty one, gets 401', async () => {
    expectRefused(await tokenWith(await assertion(es, { claims: { jti: undefined } })))
    expectRefused(await tokenWith(await assertion(es, { claims: { jti: '' } })))
    expectRefused(await tokenWith(await assertion(es, { claims: { jti: 42 } })))
  })

  test('P-07 an assertion is good once: used again, at the same or another endpoint, it gets 401', async () => {
    const jws = await assertion(es)
    const token = expectToken(await tokenWith(jws))
    expectRefused(await tokenWith(jws))
    expectRefused(await introspectWith(jws, token))
    const revoke = await post(`${base(suite)}/revoke`, { form: { token, ...assertionForm(jws) } })
    expectRefused(revoke)
  })

  test('P-07 a new assertion reusing a jti is refused while the first could still be accepted', async () => {
    const jti = randomUUID()
    expectToken(await tokenWith(await assertion(es, { claims: { jti } })))
    expectRefused(await tokenWith(await assertion(es, { claims: { jti, exp: now() + 120 } })))
    expectRefused(await tokenWith(await assertion(ps, { claims: { jti } })))
    // jti values are per client: another client may use the same one.
    expectToken(await tokenWith(await assertion(rotatingNew, { claims: { jti } })))
  })

  test('P-08 a tampered payload, another key, or a kid that names no registered key gets 401', async () => {
    const jws = await assertion(es)
    const [head, , signature] = jws.split('.')
    const t = now()
    const forged = b64url({ iss: 'signer', sub: 'signer', aud: issuer, jti: 'x', exp: t + 60 })
    expectRefused(await tokenWith(`${head}.${forged}.${signature}`))
    expectRefused(await tokenWith(await assertion(es, { key: attacker.privateKey })))
    expectRefused(await tokenWith(await assertion(es, { header: { kid: 'sig-other' } })))
    // The right key under another registered key's kid: the kid decides, then the signature.
    expectRefused(await tokenWith(await assertion(es, { header: { kid: 'sig-ps' } })))
    // The genuine one was never used: it still works.
    expectToken(await tokenWith(jws))
  })

  test('P-08 P-11 S-01 S-02 alg none, HS256 keyed with the public key, and an alg the key is not registered for, get 401', async () => {
    const t = now()
    const claims = { iss: 'signer', sub: 'signer', aud: issuer, jti: randomUUID(), exp: t + 60 }
    // alg none, with and without a signature part.
    const none = `${b64url({ alg: 'none' })}.${b64url(claims)}`
    expectRefused(await tokenWith(`${none}.`))
    expectRefused(await tokenWith(`${none}.c2ln`))
    // Algorithm confusion: the registered public key as an HMAC secret.
    for (const secret of [JSON.stringify(es.jwk), String(es.jwk.x)]) {
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: 'sig-es' })
        .sign(new TextEncoder().encode(secret))
      expectRefused(await tokenWith(hs))
    }
    // The PS256 key presented as RS256 (same key type, not its registered algorithm).
    const { alg: _registered, ...material } = await exportJWK(ps.privateKey)
    const asRs256 = (await importJWK(material, 'RS256')) as SigningKey
    expectRefused(await tokenWith(await assertion(ps, { key: asRs256, header: { alg: 'RS256' } })))
    // Case matters (RFC 8725bis): a genuine ES256 signature under `alg: es256`.
    const input = `${b64url({ alg: 'es256', kid: 'sig-es' })}.${b64url(claims)}`
    const signature = await webcrypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      es.privateKey as webcrypto.CryptoKey,
      Buffer.from(input),
    )
    expectRefused(await tokenWith(`${input}.${Buffer.from(signature).toString('base64url')}`))
  })

  test('P-08 S-09 a key carried or pointed to by the header (jwk, jku, x5u) is never used', async () => {
    const own = { ...attacker.jwk }
    for (const header of [
      { jwk: own },
      { jku: 'https://attacker.example.test/jwks.json' },
      { x5u: 'https://attacker.example.test/cert.pem' },
    ]) {
      expectRefused(await tokenWith(await assertion(es, { key: attacker.privateKey, header })))
    }
  })

  test('P-08 an assertion with crit or b64 header extensions gets 401', async () => {
    const t = now()
    const claims = { iss: 'signer', sub: 'signer', aud: issuer, jti: randomUUID(), exp: t + 60 }
    const crit = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'sig-es', crit: ['exp'], exp: t + 60 })
      .sign(es.privateKey, { crit: { exp: true } })
    expectRefused(await tokenWith(crit))
    const unencoded = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'sig-es', b64: true, crit: ['b64'] })
      .sign(es.privateKey)
    expectRefused(await tokenWith(unencoded))
  })

  test('P-10 S-10 typ client-authentication+jwt or JWT is accepted; S-11 a JWT of another kind (at+jwt, dpop+jwt) gets 401', async () => {
    for (const typ of ['client-authentication+jwt', 'JWT', 'application/jwt']) {
      expectToken(await tokenWith(await assertion(es, { header: { typ } })))
    }
    for (const typ of ['at+jwt', 'dpop+jwt', 'token-introspection+jwt']) {
      expectRefused(await tokenWith(await assertion(es, { header: { typ } })))
    }
  })

  test('P-08 with two keys of one algorithm and no kid, assertions from either key pass (rotation)', async () => {
    expectToken(await tokenWith(await assertion(rotatingOld)))
    expectToken(await tokenWith(await assertion(rotatingNew)))
  })

  test('one method per principal: a jwks client with a secret, and a secret client with an assertion, get 401', async () => {
    const basic = await post(`${base(suite)}/token`, {
      basic: ['signer', 'anything'],
      form: { grant_type: 'client_credentials' },
    })
    assertError(basic, 401, 'invalid_client')
    const viaPost = await post(`${base(suite)}/token`, {
      form: { grant_type: 'client_credentials', client_id: 'signer', client_secret: 'x' },
    })
    assertError(viaPost, 401, 'invalid_client')
    // shop has a secret and no keys: a well-formed assertion for it proves nothing.
    const asShop = { ...es, clientId: 'shop' }
    expectRefused(await tokenWith(await assertion(asShop)))
  })

  test('O-01 an assertion together with Basic credentials gets 400 invalid_request', async () => {
    const res = await post(`${base(suite)}/token`, {
      basic: SHOP,
      form: { grant_type: 'client_credentials', ...assertionForm(await assertion(es)) },
    })
    assertError(res, 400, 'invalid_request')
  })

  test('P-09 every refusal is the same 401 invalid_client, and never echoes the assertion', async () => {
    const refusals = [
      await assertion(es, { claims: { aud: 'https://elsewhere.example.test' } }),
      await assertion(es, { claims: { exp: now() - 600 } }),
      await assertion(es, { key: attacker.privateKey }),
      await assertion({ ...es, clientId: 'nobody' }),
    ]
    const descriptions = new Set<unknown>()
    for (const jws of refusals) {
      const res = await tokenWith(jws)
      expectRefused(res, jws, jws.split('.')[2] as string)
      descriptions.add(res.json().error_description)
    }
    assert.equal(descriptions.size, 1)
  })

  test('I-09 a resource introspects with private_key_jwt and sees the token meant for it', async () => {
    const token = expectToken(await tokenWith(await assertion(es), { scope: 'inventory:read' }))
    const res = await introspectWith(await assertion(inventory), token)
    assert.equal(res.status, 200, res.text)
    assertNoStore(res)
    const body = res.json()
    assert.equal(body.active, true)
    assert.deepEqual(body.aud, [INVENTORY_AUD])
    assert.equal(body.scope, 'inventory:read')
    assert.equal(body.client_id, 'signer')
    // And a Basic-authenticated resource still sees its own tokens as before.
    const other = await getToken(suite, SHOP, { scope: 'orders:read' })
    assert.equal((await introspect(suite, other)).json().active, true)
  })

  test('R-01 a client introspects and revokes its own token with private_key_jwt', async () => {
    const token = expectToken(await tokenWith(await assertion(es), { scope: 'orders:read' }))
    const own = await introspectWith(await assertion(es), token)
    assert.equal(own.json().active, true)
    const revoked = await post(`${base(suite)}/revoke`, {
      form: { token, ...assertionForm(await assertion(ps)) },
    })
    assert.equal(revoked.status, 200, revoked.text)
    assert.equal((await introspect(suite, token)).json().active, false)
  })

  test('J-02 a resource’s assertion at the token endpoint gets unauthorized_client', async () => {
    assertError(await tokenWith(await assertion(inventory)), 400, 'unauthorized_client')
  })

  test('M-06 M-07 M-08 P-11 metadata lists private_key_jwt at every endpoint, with asymmetric algorithms only', async () => {
    const doc = (await get(`${suite.url}/.well-known/oauth-authorization-server`)).json<
      Record<string, unknown>
    >()
    for (const prefix of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
      assert.ok((doc[`${prefix}_auth_methods_supported`] as string[]).includes('private_key_jwt'))
      const algs = doc[`${prefix}_auth_signing_alg_values_supported`] as string[]
      assert.ok(Array.isArray(algs) && algs.length > 0, prefix)
      for (const alg of algs) assert.match(alg, ASYMMETRIC)
      for (const alg of ['ES256', 'PS256', 'RS256', 'EdDSA']) assert.ok(algs.includes(alg))
    }
  })

  test('the log says why an assertion was refused, naming the client, and never holds an assertion', async () => {
    const jws = await assertion(es)
    expectToken(await tokenWith(jws))
    expectRefused(await tokenWith(jws))
    const misaddressed = await assertion(es, { claims: { aud: `${base(suite)}/token` } })
    expectRefused(await tokenWith(misaddressed))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const output = suite.output()
    for (const value of [jws, misaddressed]) {
      assert.equal(output.includes(value.split('.')[1] as string), false)
      assert.equal(output.includes(value.split('.')[2] as string), false)
    }
    const refusals = output
      .split('\n')
      .filter((line) => line.includes('client assertion refused'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    // A replay (a valid signature, used twice) is a warning; other refusals are debug lines.
    assert.ok(
      refusals.some((l) => l.level === 'warn' && l.reason === 'replay' && l.client_id === 'signer'),
    )
    assert.ok(refusals.some((l) => l.level === 'debug' && l.reason === 'aud'))
  })
})

// ---------------------------------------------------------------------------------------------
// throttling
// ---------------------------------------------------------------------------------------------

describe('O-04 failed assertions are throttled like wrong secrets', () => {
  let throttled: RunningServer
  before(async () => {
    throttled = await startServer(
      suiteConfig({ throttle: { failedAuth: { limit: 3, windowSeconds: 60 } } }),
    )
  })
  after(() => throttled?.stop())

  test('O-04 P-09 repeated bad assertions lead to 429 with Retry-After; then a valid assertion is refused too, before its signature is checked', async () => {
    const bad = (options: AssertionOptions) =>
      assertion(es, options).then((jws) => tokenWith(jws, {}, throttled).then((res) => res.status))
    const statuses = [
      await bad({ key: attacker.privateKey }),
      await bad({ claims: { aud: 'https://elsewhere.example.test' } }),
      await bad({ claims: { exp: now() - 600 } }),
      await bad({ key: attacker.privateKey }),
    ]
    assert.deepEqual(statuses, [401, 401, 401, 429])
    const res = await tokenWith(await assertion(es), {}, throttled)
    assertError(res, 429, 'temporarily_unavailable')
    const retryAfter = Number(res.headers.get('retry-after'))
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `${retryAfter}`)
  })
})

// ---------------------------------------------------------------------------------------------
// interop: oauth4webapi (panva), a real client nobody here wrote
// ---------------------------------------------------------------------------------------------

describe('interop: oauth4webapi with private_key_jwt', () => {
  const options = { [oauth.allowInsecureRequests]: true }

  test('P-04 oauth4webapi gets a client_credentials token and introspects it as the resource, both by private_key_jwt', async () => {
    const response = await oauth.discoveryRequest(new URL(suite.issuer), {
      ...options,
      algorithm: 'oauth2',
    })
    const as = await oauth.processDiscoveryResponse(new URL(suite.issuer), response)

    const client: oauth.Client = { client_id: 'signer' }
    const clientAuth = oauth.PrivateKeyJwt({ key: es.privateKey, kid: 'sig-es' })
    const grant = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      clientAuth,
      { scope: 'inventory:read' },
      options,
    )
    const tokens = await oauth.processClientCredentialsResponse(as, client, grant)
    assert.equal(tokens.token_type, 'bearer')

    // The resource signs with Ed25519, registered as EdDSA: oauth4webapi says `Ed25519`.
    const resource: oauth.Client = { client_id: 'inventory' }
    const resourceAuth = oauth.PrivateKeyJwt({ key: inventory.privateKey })
    const introspection = await oauth.introspectionRequest(
      as,
      resource,
      resourceAuth,
      tokens.access_token,
      options,
    )
    const claims = await oauth.processIntrospectionResponse(as, resource, introspection)
    assert.equal(claims.active, true)
    assert.equal(claims.client_id, 'signer')
    assert.deepEqual(claims.aud, [INVENTORY_AUD])
    assert.equal(claims.scope, 'inventory:read')
  })

  test('P-09 oauth4webapi sees a refused assertion as a 401 with a challenge and an invalid_client body', async () => {
    const as = await oauth.processDiscoveryResponse(
      new URL(suite.issuer),
      await oauth.discoveryRequest(new URL(suite.issuer), { ...options, algorithm: 'oauth2' }),
    )
    const client: oauth.Client = { client_id: 'signer' }
    // A key nobody registered, under the registered kid.
    const clientAuth = oauth.PrivateKeyJwt({ key: attacker.privateKey, kid: 'sig-es' })
    const grant = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, {}, options)
    // oauth4webapi reports a 401 that carries WWW-Authenticate (Keyhole's invalid_client always
    // does: docs/architecture.md) as the challenge, with the response for the OAuth body.
    const err = await oauth.processClientCredentialsResponse(as, client, grant).then(
      () => assert.fail('the assertion was accepted'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, String(err))
    assert.equal(err.status, 401)
    assert.equal(err.cause[0]?.scheme, 'basic')
    assert.equal(((await err.response.json()) as { error?: string }).error, 'invalid_client')
  })
})
