/**
 * The verified-credential cache (client-auth/verified-credentials.ts): bounded staleness for
 * credentials changed by another process, nothing remembered of failures, and the throttle, which
 * holds back guesses but not credentials that passed before.
 * "Another process" is played by writing to the store underneath the running server.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type AuthorizationServer,
  createAuthorizationServer,
  createLogger,
  hashSecret,
  openSqliteStore,
  parseConfig,
  type ResourceRecord,
  type Store,
} from '@keyhole/server'
import { post } from '../../../conformance/support/harness.ts'
import {
  basicCredentialKey,
  createVerifiedCredentials,
  forgettingOnSync,
  postCredentialKey,
} from '../src/client-auth/verified-credentials.ts'

const ORDERS = ['orders', 'orders-secret'] as const

function fixture(clientAuthentication: Record<string, unknown>, failedAuthLimit = 20) {
  return parseConfig(
    {
      port: 0,
      storage: 'sqlite::memory:',
      resources: [
        {
          id: 'orders',
          audience: 'https://orders.example.test',
          secret: 'orders-secret',
          scopes: ['orders:read'],
        },
      ],
      clients: [{ id: 'shop', secret: 'shop-secret', scopes: ['orders:read'] }],
      clientAuthentication,
      throttle: { failedAuth: { limit: failedAuthLimit, windowSeconds: 60 } },
      log: { level: 'error', requests: false },
    },
    '/',
  )
}

interface Running {
  readonly server: AuthorizationServer
  /** The store under the server: writing here is what another process would do. */
  readonly store: Store
  readonly token: string
}

async function start(clientAuthentication: Record<string, unknown>, failedAuthLimit?: number) {
  const store = openSqliteStore({ path: ':memory:' })
  const server = await createAuthorizationServer(fixture(clientAuthentication, failedAuthLimit), {
    store,
    logger: createLogger({ level: 'error', write: () => {} }),
  })
  const res = await post(`${server.url}/token`, {
    basic: ['shop', 'shop-secret'],
    form: { grant_type: 'client_credentials' },
  })
  const token = res.json<{ access_token: string }>().access_token
  return { server, store, token } satisfies Running
}

async function stop(running: Running) {
  await running.server.close()
  await running.store.close()
}

function introspectBasic(running: Running, caller: readonly [string, string] = ORDERS) {
  return post(`${running.server.url}/introspect`, { basic: caller, form: { token: running.token } })
}

function introspectPost(running: Running, caller: readonly [string, string] = ORDERS) {
  return post(`${running.server.url}/introspect`, {
    form: { token: running.token, client_id: caller[0], client_secret: caller[1] },
  })
}

function orders(secret: string): ResourceRecord {
  return {
    kind: 'resource',
    id: 'orders',
    audience: 'https://orders.example.test',
    secretHash: hashSecret(secret),
    jwks: null,
    scopes: ['orders:read'],
    introspectionSignedResponseAlg: 'RS256',
    source: 'config',
  }
}

describe('verified-credential cache', () => {
  test('a credential removed by another process keeps working at most verifiedCacheMs, then is refused', async () => {
    const running = await start({ verifiedCacheMs: 400 })
    try {
      assert.equal((await introspectBasic(running)).json().active, true)
      assert.equal((await introspectPost(running)).json().active, true)
      // another process removes the resource (the client stays)
      const shop = await running.store.findPrincipal('shop')
      assert.ok(shop !== undefined)
      await running.store.syncPrincipals('config', [shop])
      assert.equal((await introspectBasic(running)).json().active, true, 'basic, remembered')
      assert.equal((await introspectPost(running)).json().active, true, 'post, remembered')
      await sleep(500)
      assert.equal((await introspectBasic(running)).status, 401)
      assert.equal((await introspectPost(running)).status, 401)
    } finally {
      await stop(running)
    }
  })

  test('a re-keyed credential: the new secret works at once, the old one at most verifiedCacheMs', async () => {
    const running = await start({ verifiedCacheMs: 400 })
    try {
      assert.equal((await introspectBasic(running)).json().active, true)
      const shop = await running.store.findPrincipal('shop')
      assert.ok(shop !== undefined)
      await running.store.syncPrincipals('config', [orders('new-secret'), shop])
      assert.equal((await introspectBasic(running, ['orders', 'new-secret'])).json().active, true)
      assert.equal((await introspectBasic(running)).json().active, true, 'old, remembered')
      await sleep(500)
      assert.equal((await introspectBasic(running)).status, 401)
      assert.equal((await introspectBasic(running, ['orders', 'new-secret'])).json().active, true)
    } finally {
      await stop(running)
    }
  })

  test('with verifiedCacheMs 0, a removed credential is refused at the next request', async () => {
    const running = await start({ verifiedCacheMs: 0 })
    try {
      assert.equal((await introspectBasic(running)).json().active, true)
      const shop = await running.store.findPrincipal('shop')
      assert.ok(shop !== undefined)
      await running.store.syncPrincipals('config', [shop])
      assert.equal((await introspectBasic(running)).status, 401)
    } finally {
      await stop(running)
    }
  })

  test('a failed check is not remembered: credentials that become valid work at the next request', async () => {
    const running = await start({ verifiedCacheMs: 60_000 })
    try {
      assert.equal((await introspectBasic(running, ['orders', 'next-secret'])).status, 401)
      const shop = await running.store.findPrincipal('shop')
      assert.ok(shop !== undefined)
      await running.store.syncPrincipals('config', [orders('next-secret'), shop])
      const res = await introspectBasic(running, ['orders', 'next-secret'])
      assert.equal(res.json().active, true)
    } finally {
      await stop(running)
    }
  })

  for (const verifiedCacheMs of [60_000, 0]) {
    test(`O-04 wrong secrets from an address lock out guesses, not credentials that passed before (verifiedCacheMs ${verifiedCacheMs})`, async () => {
      const running = await start({ verifiedCacheMs }, 2)
      try {
        assert.equal((await introspectBasic(running)).json().active, true)
        for (let i = 0; i < 2; i++) {
          assert.equal((await introspectBasic(running, ['orders', 'wrong'])).status, 401)
        }
        // the address is throttled: guesses wait, whatever id they name
        const guess = await introspectBasic(running, ['orders', 'wrong'])
        assert.equal(guess.status, 429)
        assert.match(guess.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/)
        // the right secret of credentials never seen here (shop's, sent with client_secret_post)
        assert.equal((await introspectPost(running, ['shop', 'shop-secret'])).status, 429)
        // the resource server that authenticated before is no guess: it is still served
        // (with verifiedCacheMs 0, checked against the store each time)
        for (let i = 0; i < 3; i++) {
          assert.equal((await introspectBasic(running)).json().active, true)
        }
      } finally {
        await stop(running)
      }
    })
  }

  test('O-04 credentials known before that fail (re-keyed elsewhere) are forgotten: then the throttle holds them back', async () => {
    const running = await start({ verifiedCacheMs: 0 }, 2)
    try {
      assert.equal((await introspectBasic(running)).json().active, true)
      const shop = await running.store.findPrincipal('shop')
      assert.ok(shop !== undefined)
      await running.store.syncPrincipals('config', [orders('next-secret'), shop])
      // checked again although known, fails, counts, and is known no more
      assert.equal((await introspectBasic(running)).status, 401)
      assert.equal((await introspectBasic(running, ['orders', 'wrong'])).status, 401)
      assert.equal((await introspectBasic(running)).status, 429)
      // the new secret has never passed here: from a throttled address it waits like any guess
      assert.equal((await introspectBasic(running, ['orders', 'next-secret'])).status, 429)
    } finally {
      await stop(running)
    }
  })

  test('syncPrincipals in this process forgets every verified credential at once', async () => {
    const verified = createVerifiedCredentials(60_000)
    const inner = openSqliteStore({ path: ':memory:' })
    const store = forgettingOnSync(inner, verified)
    try {
      const key = basicCredentialKey('Basic b3JkZXJzOnM=')
      const principal = orders('s')
      verified.remember(key, {
        caller: { principal, method: 'client_secret_basic' },
        clientIds: ['orders'],
      })
      assert.ok(verified.get(key) !== undefined)
      await store.syncPrincipals('config', [principal])
      assert.equal(verified.get(key), undefined)
    } finally {
      await store.close()
    }
  })

  test('keys are SHA-256 digests: no raw secret is kept as a key, and methods do not collide', () => {
    const basic = basicCredentialKey('Basic b3JkZXJzOnNlY3JldA==')
    const postKey = postCredentialKey('orders', 'secret')
    for (const key of [basic, postKey]) assert.match(key, /^[A-Za-z0-9+/]{43}=$/)
    assert.notEqual(basic, postKey)
    assert.notEqual(postCredentialKey('ab', 'c'), postCredentialKey('a', 'bc'))
  })
})
