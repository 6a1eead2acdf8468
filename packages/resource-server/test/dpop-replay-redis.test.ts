/**
 * RFC 9449 §11.1 (checklist D-11) across processes: a DPoP proof is single-use for the whole API,
 * not per process. Two verifiers stand for two instances of one API behind a load balancer; they
 * share a real redis-server through `createRedisReplayStore`, and the AS is the test kit issuing
 * DPoP-bound (cnf.jkt) opaque tokens.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import {
  createTokenVerifier,
  type DpopReplayStore,
  type TokenVerifier,
} from '@keyhole/resource-server'
import { createRedisReplayStore } from '@keyhole/resource-server/redis'
import {
  startTestAuthorizationServer,
  type TestAuthorizationServer,
} from '@keyhole/resource-server/testing'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { createClient } from 'redis'
import { accessTokenHash } from '../src/dpop.ts'
import { type RunningRedis, startRedis } from './support/redis.ts'
import { accepted, refused } from './support/results.ts'

const AUDIENCE = 'https://api.example.test'

describe('D-11 DPoP proofs are single-use across the API’s processes', () => {
  let as: TestAuthorizationServer
  let redis: RunningRedis
  const clients: ReturnType<typeof createClient>[] = []
  const verifiers: TokenVerifier[] = []
  let key: Awaited<ReturnType<typeof generateKeyPair>>
  let jwk: Awaited<ReturnType<typeof exportJWK>>
  let jkt: string

  before(async () => {
    ;[as, redis] = await Promise.all([
      startTestAuthorizationServer({ audience: AUDIENCE }),
      startRedis(),
    ])
    key = await generateKeyPair('ES256', { extractable: true })
    jwk = await exportJWK(key.publicKey)
    jkt = await calculateJwkThumbprint(jwk, 'sha256')
  })
  after(async () => {
    await Promise.all(verifiers.map((v) => v.close()))
    for (const client of clients) if (client.isOpen) client.destroy()
    await Promise.all([as.close(), redis.stop()])
  })

  async function redisStore(): Promise<DpopReplayStore> {
    const client = createClient({ url: redis.url })
    client.on('error', () => {})
    await client.connect()
    clients.push(client)
    return createRedisReplayStore(client)
  }

  /** One instance of the API. */
  function instance(replayStore?: DpopReplayStore, replayStoreTimeoutMs?: number): TokenVerifier {
    const verifier = createTokenVerifier({
      issuer: as.issuer,
      audience: AUDIENCE,
      credentials: as.credentials,
      dpop: {
        ...(replayStore === undefined ? {} : { replayStore }),
        ...(replayStoreTimeoutMs === undefined ? {} : { replayStoreTimeoutMs }),
      },
    })
    verifiers.push(verifier)
    return verifier
  }

  async function dpopRequest(token: string) {
    const proof = await new SignJWT({
      jti: randomUUID(),
      htm: 'GET',
      htu: `${AUDIENCE}/orders`,
      iat: Math.floor(Date.now() / 1000),
      ath: accessTokenHash(token),
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
      .sign(key.privateKey)
    return {
      method: 'GET',
      url: '/orders',
      headers: { authorization: `DPoP ${token}`, dpop: proof },
    }
  }

  test('without a shared store, a second instance accepts a proof the first one used (the gap)', async () => {
    const token = as.issueToken({ cnf: { jkt } })
    const req = await dpopRequest(token)
    accepted(await instance().verify(req))
    accepted(await instance().verify(req))
  })

  test('with Redis, the proof is accepted once, and refused by the other instance and by the same one', async () => {
    const [first, second] = [instance(await redisStore()), instance(await redisStore())]
    const token = as.issueToken({ cnf: { jkt } })
    const req = await dpopRequest(token)
    accepted(await first.verify(req))
    const replayed = refused(await second.verify(req), 401)
    assert.equal(replayed.error, 'invalid_dpop_proof')
    assert.match(replayed.challenge ?? '', /^DPoP /)
    assert.equal(refused(await first.verify(req), 401).error, 'invalid_dpop_proof')
    // A fresh proof for the same token is fine on either.
    accepted(await second.verify(await dpopRequest(token)))
  })

  test('the same proof sent to both instances at once is accepted by exactly one', async () => {
    const [first, second] = [instance(await redisStore()), instance(await redisStore())]
    const token = as.issueToken({ cnf: { jkt } })
    for (let round = 0; round < 10; round++) {
      const req = await dpopRequest(token)
      const results = await Promise.all([first.verify(req), second.verify(req)])
      assert.equal(results.filter((r) => r.ok).length, 1, `round ${round}`)
    }
  })

  test('a store that fails or does not answer in time: 503 with Retry-After, never accepted', async () => {
    const token = as.issueToken({ cnf: { jkt } })
    const failing = instance({
      remember: () => Promise.reject(new Error('connection refused')),
    })
    const slow = instance({ remember: () => new Promise<boolean>(() => {}) }, 50)
    for (const verifier of [failing, slow]) {
      const down = refused(await verifier.verify(await dpopRequest(token)), 503)
      assert.equal(down.error, 'temporarily_unavailable')
      assert.equal(down.headers['Retry-After'], '1')
      assert.match(down.description, /replay check/)
      assert.doesNotMatch(down.description, /connection refused/)
    }
  })

  test('a replay store timeout that is not a positive number is refused at creation', () => {
    assert.throws(
      () => instance({ remember: async () => true }, 0),
      /options\.dpop: options\.dpop\.replayStoreTimeoutMs must be a positive number/,
    )
  })
})
