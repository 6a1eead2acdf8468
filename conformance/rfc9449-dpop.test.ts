/**
 * RFC 9449 DPoP at `keyhole serve`, black-box over real HTTP: a token request with a valid DPoP
 * proof gets a DPoP-bound token (§5), whose binding (`cnf.jkt`, §6) is in JWT access tokens
 * (§6.1) and in introspection answers, JSON and RFC 9701 JWT (§6.2); every defect of a proof is
 * refused with 400 invalid_dpop_proof (§4.3, §5); a client registered with
 * `dpopBoundAccessTokens` (§5.2) must send one. Plus interop with panva's oauth4webapi.
 *
 * Checklist items NOT tested here, and why:
 * - D-03, D-04, D-06..D-09, D-12: resource-server rules (packages/resource-server/test/dpop.test.ts,
 *   and dpop-keyhole.test.ts with tokens from this server).
 * - D-10 nonces: not offered by the server (docs/architecture.md); freshness rests on `iat` and the
 *   single-use jti.
 * - D-11 across servers (a replay sent to a second server on the same database):
 *   packages/server/test/store-postgres.test.ts, which runs PostgreSQL.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createLocalJWKSet, decodeJwt, exportJWK, jwtVerify } from 'jose'
import * as oauth from 'oauth4webapi'
import { assertError, assertNoStore, assertNotEchoed } from './support/assertions.ts'
import {
  type DpopKey,
  dpopKey,
  dpopProof,
  dpopTokenRequest,
  unsignedProof,
} from './support/dpop.ts'
import {
  base,
  type Caller,
  fixtureConfig,
  get,
  type HttpResult,
  introspect,
  ORDERS,
  post,
  type RunningServer,
  SHOP,
  startServer,
} from './support/harness.ts'

const SIGNER: Caller = ['signer', 'signer-secret']
const STRICT: Caller = ['strict', 'strict-secret']

function config(): Record<string, unknown> {
  const fixture = fixtureConfig()
  return {
    ...fixture,
    clients: [
      ...(fixture.clients as Record<string, unknown>[]),
      // RFC 9068 JWT access tokens.
      { id: 'signer', secret: 'signer-secret', scopes: ['orders:read'], accessTokenFormat: 'jwt' },
      // RFC 9449 §5.2 dpop_bound_access_tokens.
      {
        id: 'strict',
        secret: 'strict-secret',
        scopes: ['orders:read'],
        dpopBoundAccessTokens: true,
      },
    ],
  }
}

describe('RFC 9449 DPoP-bound access tokens', () => {
  let server: RunningServer
  let tokenUrl: string
  let key: DpopKey

  before(async () => {
    server = await startServer(config())
    tokenUrl = `${base(server)}/token`
    key = await dpopKey('ES256')
  })
  after(async () => {
    await server?.stop()
  })

  /** A token request by `client` with one proof for the token endpoint. */
  async function boundToken(
    client: Caller = SHOP,
    proofKey: DpopKey = key,
    form: Record<string, string> = { scope: 'orders:read' },
  ): Promise<{ res: HttpResult; token: string }> {
    const res = await dpopTokenRequest(tokenUrl, {
      client,
      dpop: await dpopProof(proofKey, tokenUrl),
      form,
    })
    assert.equal(res.status, 200, res.text)
    return { res, token: res.json<{ access_token: string }>().access_token }
  }

  /** A refused proof: 400 invalid_dpop_proof for `reason`, the proof not echoed, no token. */
  async function assertRefused(
    dpop: string | readonly string[],
    reason: RegExp,
    client: Caller = SHOP,
  ) {
    const res = await dpopTokenRequest(tokenUrl, { client, dpop, form: { scope: 'orders:read' } })
    const body = assertError(res, 400, 'invalid_dpop_proof')
    assert.match(String(body.error_description), reason)
    assert.equal(body.access_token, undefined)
    for (const proof of typeof dpop === 'string' ? [dpop] : dpop) assertNotEchoed(res, proof)
    return body
  }

  test('§5 a request with a valid proof gets token_type DPoP, not cacheable', async () => {
    const { res } = await boundToken()
    assertNoStore(res)
    const body = res.json()
    assert.equal(body.token_type, 'DPoP')
    assert.equal(body.scope, 'orders:read')
    assert.equal(typeof body.expires_in, 'number')
  })

  test('D-01 D-02 introspection of a bound token: cnf.jkt (RFC 7638 thumbprint) and token_type DPoP, for the resource and the owning client', async () => {
    const { token } = await boundToken()
    for (const caller of [ORDERS, SHOP]) {
      const res = (await introspect(server, token, caller)).json()
      assert.equal(res.active, true)
      assert.equal(res.token_type, 'DPoP')
      assert.deepEqual(res.cnf, { jkt: key.jkt })
    }
    // Another client, or a resource the token is not for, still learns nothing.
    assert.deepEqual((await introspect(server, token, ['other', 'other-secret'])).json(), {
      active: false,
    })
    assert.deepEqual((await introspect(server, token, ['billing', 'billing-secret'])).json(), {
      active: false,
    })
  })

  test('D-01 D-02 an RFC 9701 signed introspection answer carries cnf.jkt and token_type DPoP', async () => {
    const { token } = await boundToken()
    const res = await post(`${base(server)}/introspect`, {
      basic: ORDERS,
      headers: { accept: 'application/token-introspection+jwt' },
      form: { token },
    })
    assert.equal(res.status, 200, res.text)
    const members = decodeJwt(res.text).token_introspection as Record<string, unknown>
    assert.equal(members.active, true)
    assert.equal(members.token_type, 'DPoP')
    assert.deepEqual(members.cnf, { jkt: key.jkt })
  })

  test('D-02 a request without a proof still gets a Bearer token, introspected without cnf', async () => {
    const res = await dpopTokenRequest(tokenUrl, { client: SHOP, form: { scope: 'orders:read' } })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.json().token_type, 'Bearer')
    const answer = (
      await introspect(server, res.json<{ access_token: string }>().access_token)
    ).json()
    assert.equal(answer.token_type, 'Bearer')
    assert.equal(answer.cnf, undefined)
  })

  test('§6.1 A-01 a JWT access token of a bound token carries cnf.jkt, signed by the server', async () => {
    const { res, token } = await boundToken(SIGNER)
    assert.equal(res.json().token_type, 'DPoP')
    const metadata = (await get(`${server.url}/.well-known/oauth-authorization-server`)).json<{
      jwks_uri: string
    }>()
    const jwks = createLocalJWKSet((await get(metadata.jwks_uri)).json())
    const { payload } = await jwtVerify(token, jwks, { typ: 'at+jwt', issuer: server.issuer })
    assert.deepEqual(payload.cnf, { jkt: key.jkt })
    assert.deepEqual((await introspect(server, token)).json().cnf, { jkt: key.jkt })
  })

  test('§6.1 tokens bound to different keys carry their own thumbprints (ES256, EdDSA, RS256, PS256)', async () => {
    for (const alg of ['EdDSA', 'RS256', 'PS256']) {
      const other = await dpopKey(alg)
      const { token } = await boundToken(SIGNER, other)
      assert.deepEqual(decodeJwt(token).cnf, { jkt: other.jkt }, alg)
    }
  })

  test('M-10 §5.1 metadata lists dpop_signing_alg_values_supported: asymmetric algorithms only', async () => {
    const metadata = (await get(`${server.url}/.well-known/oauth-authorization-server`)).json<{
      dpop_signing_alg_values_supported: string[]
    }>()
    const algs = metadata.dpop_signing_alg_values_supported
    assert.ok(algs.includes('ES256') && algs.includes('RS256') && algs.includes('EdDSA'))
    for (const alg of algs) assert.match(alg, /^(ES|RS|PS)(256|384|512)$|^EdDSA$|^Ed25519$/)
  })

  test('D-05 htu is compared without query and fragment, after RFC 3986 normalization', async () => {
    const url = new URL(tokenUrl)
    const variant = `HTTP://${url.host.toUpperCase()}${url.pathname.replace('token', '%74oken')}?x=1#f`
    const res = await dpopTokenRequest(tokenUrl, {
      client: SHOP,
      dpop: await dpopProof(key, variant),
    })
    assert.equal(res.status, 200, res.text)
    assert.equal(res.json().token_type, 'DPoP')
  })

  test('D-05 a proof for another method (htm GET) is refused', async () => {
    await assertRefused(await dpopProof(key, tokenUrl, { htm: 'GET' }), /htm/)
    await assertRefused(await dpopProof(key, tokenUrl, { htm: 'post' }), /htm/)
  })

  test('D-05 a proof for another URI (htu) is refused: another path, another port, https', async () => {
    const url = new URL(tokenUrl)
    await assertRefused(await dpopProof(key, `${base(server)}/introspect`), /htu/)
    await assertRefused(await dpopProof(key, `http://${url.hostname}:1${url.pathname}`), /htu/)
    await assertRefused(await dpopProof(key, tokenUrl.replace(/^http:/, 'https:')), /htu/)
    await assertRefused(await dpopProof(key, '/token'), /htu/)
  })

  test('D-11 a stale proof (iat 2 minutes ago) and one from the future (iat in 2 minutes) are refused', async () => {
    const now = Math.floor(Date.now() / 1000)
    await assertRefused(await dpopProof(key, tokenUrl, { iat: now - 120 }), /too old/)
    await assertRefused(await dpopProof(key, tokenUrl, { iat: now + 120 }), /future/)
  })

  test('D-11 a proof is used once: the same proof again is refused, and issues no second token', async () => {
    const proof = await dpopProof(key, tokenUrl)
    const first = await dpopTokenRequest(tokenUrl, { client: SHOP, dpop: proof })
    assert.equal(first.status, 200, first.text)
    await assertRefused(proof, /already used/)
    assert.match(server.output(), /DPoP proof replayed/)
    // A fresh proof by the same key is fine.
    await boundToken()
  })

  test('D-05 a jwk holding a private key is refused', async () => {
    const privateJwk = await exportJWK(key.privateKey)
    await assertRefused(
      await dpopProof(key, tokenUrl, { header: { jwk: privateJwk } }),
      /public key/,
    )
  })

  test('S-02 S-01 alg none and HS256 (a MAC keyed with anything) are refused', async () => {
    await assertRefused(unsignedProof(key, tokenUrl), /not a signed JWT/)
    const secret = new TextEncoder().encode(JSON.stringify(key.jwk))
    await assertRefused(
      await dpopProof(key, tokenUrl, { header: { alg: 'HS256' }, signWith: secret }),
      /alg/,
    )
  })

  test('S-10 S-11 a JWT of another type (no typ, JWT, at+jwt, client-authentication+jwt) is refused', async () => {
    for (const typ of [undefined, 'JWT', 'at+jwt', 'client-authentication+jwt']) {
      await assertRefused(await dpopProof(key, tokenUrl, { header: { typ } }), /typ/)
    }
  })

  test('D-05 a proof not signed by its jwk (signed by another key, or altered) is refused', async () => {
    const other = await dpopKey('ES256')
    await assertRefused(await dpopProof(key, tokenUrl, { signWith: other.privateKey }), /signature/)
    const [h, , s] = (await dpopProof(key, tokenUrl)).split('.')
    const claims = Buffer.from(
      JSON.stringify({ jti: 'x', htm: 'POST', htu: tokenUrl, iat: Math.floor(Date.now() / 1000) }),
    ).toString('base64url')
    await assertRefused(`${h}.${claims}.${s}`, /signature/)
  })

  test('D-05 a proof whose alg does not fit its jwk (RS256 header, EC key) is refused', async () => {
    const rsa = await dpopKey('RS256')
    await assertRefused(
      await dpopProof(key, tokenUrl, { header: { alg: 'RS256' }, signWith: rsa.privateKey }),
      /signature/,
    )
  })

  test('D-05 two DPoP headers are refused, even two valid proofs', async () => {
    await assertRefused(
      [await dpopProof(key, tokenUrl), await dpopProof(key, tokenUrl)],
      /exactly one/,
    )
  })

  test('D-05 a proof missing a required claim (jti, htm, htu, iat), or not a JWT, or too large, is refused', async () => {
    for (const claim of ['jti', 'htm', 'htu', 'iat']) {
      await assertRefused(
        await dpopProof(key, tokenUrl, { claims: { [claim]: undefined } }),
        new RegExp(claim),
      )
    }
    await assertRefused(
      await dpopProof(key, tokenUrl, { claims: { iat: String(Date.now()) } }),
      /iat/,
    )
    await assertRefused('not-a-jwt', /not a signed JWT/)
    await assertRefused(
      await dpopProof(key, tokenUrl, { claims: { pad: 'x'.repeat(9000) } }),
      /too large/,
    )
  })

  test('D-05 a refused proof is checked only after client authentication: wrong credentials are 401 invalid_client', async () => {
    const res = await dpopTokenRequest(tokenUrl, {
      client: ['shop', 'wrong-secret'],
      dpop: await dpopProof(key, tokenUrl, { htm: 'GET' }),
    })
    assertError(res, 401, 'invalid_client')
  })

  test('§5.2 a client registered with dpopBoundAccessTokens is refused without a proof, and bound with one', async () => {
    const res = await dpopTokenRequest(tokenUrl, { client: STRICT })
    const body = assertError(res, 400, 'invalid_dpop_proof')
    assert.match(String(body.error_description), /DPoP proof/)
    const { res: bound, token } = await boundToken(STRICT)
    assert.equal(bound.json().token_type, 'DPoP')
    assert.deepEqual((await introspect(server, token)).json().cnf, { jkt: key.jkt })
    // A bad proof from it is refused as from anyone.
    await assertRefused(await dpopProof(key, tokenUrl, { htm: 'GET' }), /htm/, STRICT)
  })

  test('proofs never reach the log', async () => {
    const proof = await dpopProof(key, tokenUrl, { htm: 'GET' })
    await assertRefused(proof, /htm/)
    await boundToken()
    const [, payload = '', signature = ''] = proof.split('.')
    assert.equal(server.output().includes(payload), false)
    assert.equal(server.output().includes(signature), false)
  })
})

// ---------------------------------------------------------------------------------------------
// interop: oauth4webapi (panva), a real client nobody here wrote
// ---------------------------------------------------------------------------------------------

describe('interop: oauth4webapi with DPoP', () => {
  let server: RunningServer
  before(async () => {
    server = await startServer(config())
  })
  after(async () => {
    await server?.stop()
  })

  test('§5 oauth4webapi gets a DPoP-bound token by client_credentials, bound to its key', async () => {
    const options = { [oauth.allowInsecureRequests]: true }
    const issuer = new URL(server.issuer)
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oauth2' }),
    )
    assert.ok(as.dpop_signing_alg_values_supported?.includes('ES256'))
    const client: oauth.Client = { client_id: 'strict' }
    const keyPair = await dpopKey('ES256')
    const DPoP = oauth.DPoP(client, {
      privateKey: keyPair.privateKey,
      publicKey: keyPair.publicKey,
    })
    const grant = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic('strict-secret'),
      new URLSearchParams({ scope: 'orders:read' }),
      { ...options, DPoP },
    )
    const tokens = await oauth.processClientCredentialsResponse(as, client, grant)
    assert.equal(tokens.token_type, 'dpop')
    assert.equal(await DPoP.calculateThumbprint(), keyPair.jkt)
    const answer = (await introspect(server, tokens.access_token)).json()
    assert.deepEqual(answer.cnf, { jkt: keyPair.jkt })
    assert.equal(answer.token_type, 'DPoP')
  })
})
