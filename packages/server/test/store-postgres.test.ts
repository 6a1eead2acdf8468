/**
 * The PostgreSQL store against a real PostgreSQL server that this file starts on loopback
 * (test/support/postgres.ts): the store contract, what is particular to a database that several
 * servers share, and two real `keyhole serve` processes on one database. Each part uses a
 * database of its own.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  type EpochSeconds,
  type RevokedToken,
  type Store,
  StoreUnavailableError,
  type TokenHash,
  type TokenRecord,
} from '@keyhole/server'
import { openPostgresStore } from '@keyhole/server/postgres'
import postgres from 'postgres'
import { dpopKey, dpopProof, dpopTokenRequest } from '../../../conformance/support/dpop.ts'
import {
  fixtureConfig,
  getToken,
  introspect,
  KEYHOLE_BIN,
  ORDERS,
  ORDERS_AUD,
  post,
  type RunningServer,
  revoke,
  SHOP,
  startServer,
} from '../../../conformance/support/harness.ts'
import {
  readRevocationPayload,
  revocationPayloads,
  SCHEMA_VERSION,
} from '../src/store/postgres/postgres-store.ts'
import { token as record, storeContract } from './store-contract.ts'
import { hashOf, type OpenStream, subscribe } from './support/event-stream.ts'
import { type RunningPostgres, sharedSigningKeys, startPostgres } from './support/postgres.ts'

const at = (n: number) => n as EpochSeconds

let pg: RunningPostgres
let contractUrl = ''
before(async () => {
  pg = await startPostgres()
  contractUrl = await pg.createDatabase('contract')
})
after(async () => {
  await pg?.stop()
})

storeContract('postgres', {
  open: async () => openPostgresStore({ url: contractUrl }),
  reopen: async (store) => {
    await store.close()
    return openPostgresStore({ url: contractUrl })
  },
})

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Run SQL as the superuser on `url`'s database. */
async function admin<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    return await run(sql)
  } finally {
    await sql.end()
  }
}

/** A listener that records what it hears, and can wait for it. */
function recorder() {
  const revoked: { tokens: readonly RevokedToken[]; atMs: number }[] = []
  let missed = 0
  let wake: (() => void) | undefined
  return {
    revoked,
    get missed() {
      return missed
    },
    listener: {
      revoked(tokens: readonly RevokedToken[], atMs: number) {
        revoked.push({ tokens, atMs })
        wake?.()
      },
      missed() {
        missed += 1
        wake?.()
      },
    },
    /** Wait until `check` holds (checked on each call, and now). */
    async until(check: () => boolean, ms = 5_000): Promise<void> {
      const deadline = Date.now() + ms
      while (!check()) {
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`not heard within ${ms} ms`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 50))
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    },
  }
}

const flatHashes = (heard: { tokens: readonly RevokedToken[] }[]) =>
  heard.flatMap((h) => h.tokens.map((t) => t.hash)).sort()

describe('postgres store: a database several servers share', () => {
  test('a database from a newer Keyhole is refused, and left as it was', async () => {
    const url = await pg.createDatabase('newer')
    await admin(url, (sql) =>
      sql.unsafe(
        'CREATE TABLE keyhole_schema (version integer NOT NULL); INSERT INTO keyhole_schema VALUES (99)',
      ),
    )
    const store = openPostgresStore({ url })
    try {
      await assert.rejects(
        store.syncPrincipals('config', []),
        (err: Error) =>
          err instanceof StoreUnavailableError &&
          err.message.includes(`schema is version 99, newer than this Keyhole (${SCHEMA_VERSION})`),
      )
      await assert.rejects(store.ping(), /schema is version 99/)
    } finally {
      await store.close()
    }
    const tables = await admin(
      url,
      (sql) =>
        sql`SELECT to_regclass('tokens') IS NULL AS none, (SELECT version FROM keyhole_schema) AS version`,
    )
    assert.deepEqual([...tables], [{ none: true, version: 99 }])
  })

  test('servers starting together on an empty database migrate it once', async () => {
    const url = await pg.createDatabase('together')
    const stores = Array.from({ length: 4 }, () => openPostgresStore({ url }))
    try {
      await Promise.all(stores.map((s) => s.ping()))
      const version = await admin(url, (sql) => sql`SELECT version FROM keyhole_schema`)
      assert.deepEqual([...version], [{ version: SCHEMA_VERSION }])
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  test('a database of schema 3 is migrated to 4: its tokens read as Bearer, bound ones round-trip', async () => {
    const url = await pg.createDatabase('schema3')
    const old = record({ expiresAt: at(3_000_000_000) })
    const first = openPostgresStore({ url })
    try {
      await first.insertToken(old)
    } finally {
      await first.close()
    }
    // Schema 3 as released: no jkt column (RFC 9449 cnf.jkt came with schema 4).
    await admin(url, (sql) =>
      sql.unsafe('ALTER TABLE tokens DROP COLUMN jkt; UPDATE keyhole_schema SET version = 3'),
    )
    const store = openPostgresStore({ url })
    try {
      assert.deepEqual(await store.findToken(old.hash), old)
      const bound = record({ cnf: { jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' } })
      await store.insertToken(bound)
      assert.deepEqual(await store.findToken(bound.hash), bound)
      const version = await admin(url, (sql) => sql`SELECT version FROM keyhole_schema`)
      assert.deepEqual([...version], [{ version: SCHEMA_VERSION }])
    } finally {
      await store.close()
    }
  })

  test('a password in the URL never appears in an error', async () => {
    const password = 'hunter2-never-shown'
    const port = await closedPort()
    const unreachable = openPostgresStore({
      url: `postgres://keyhole:${password}@127.0.0.1:${port}/keyhole`,
    })
    try {
      const err = await unreachable.syncPrincipals('config', []).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e as Error,
      )
      assert.ok(err instanceof StoreUnavailableError)
      assert.equal(
        err.message,
        `cannot reach the PostgreSQL server at 127.0.0.1:${port} (ECONNREFUSED)`,
      )
      assert.ok(!`${err.stack}`.includes(password))
      await assert.rejects(unreachable.ping(), (e: Error) => !`${e.stack}`.includes(password))
    } finally {
      await unreachable.close()
    }

    const noDatabase = openPostgresStore({
      url: `postgres://keyhole:${password}@127.0.0.1:${pg.port}/no_such_database`,
    })
    try {
      await assert.rejects(noDatabase.findToken(hashOf('x') as TokenHash), (e: Error) => {
        assert.match(e.message, /^the PostgreSQL server at 127\.0\.0\.1:\d+ refused: .*3D000/)
        assert.ok(!`${e.stack}`.includes(password))
        return true
      })
    } finally {
      await noDatabase.close()
    }

    assert.throws(
      () => openPostgresStore({ url: `postgres://keyhole:${password}@127.0.0.1:x/db` }),
      (e: Error) => e instanceof StoreUnavailableError && !`${e.stack}`.includes(password),
    )
  })

  test('ping fails while the database is down (readiness), without waiting long', async () => {
    const own = await startPostgres()
    const store = openPostgresStore({ url: await own.createDatabase('ping') })
    try {
      await store.ping()
      await own.stop()
      const started = Date.now()
      await assert.rejects(store.ping())
      assert.ok(Date.now() - started < 6_000)
    } finally {
      await store.close()
    }
  })

  test('the pool holds at most `?max=` connections (default 10)', async () => {
    for (const [name, query, expected] of [
      ['pool_of_two', '?max=2', 2],
      ['pool_by_default', '', 10],
    ] as const) {
      const store = openPostgresStore({ url: `${await pg.createDatabase(name)}${query}` })
      try {
        await store.ping()
        await Promise.all(Array.from({ length: 200 }, (_, i) => store.findPrincipal(`p${i}`)))
        const [row] = await admin(
          pg.url,
          (sql) => sql<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = ${name} AND application_name = 'keyhole'`,
        )
        assert.equal(row?.n, expected, name)
      } finally {
        await store.close()
      }
    }
  })

  describe('two stores on one database (two servers)', () => {
    let url = ''
    let a: Store
    let b: Store
    before(async () => {
      url = await pg.createDatabase('shared')
      a = openPostgresStore({ url, max: 2 })
      b = openPostgresStore({ url })
      await a.ping()
    })
    after(async () => {
      await Promise.all([a?.close(), b?.close()])
    })

    test('an assertion id taken through one is refused through the other (RFC 7523 §3 jti, P-07)', async () => {
      const id = crypto.randomUUID()
      const results = await Promise.all([
        a.claimAssertionId(id, at(1_800_000_300), at(1_800_000_000)),
        b.claimAssertionId(id, at(1_800_000_300), at(1_800_000_000)),
      ])
      assert.deepEqual([...results].sort(), [false, true], 'exactly one server took it')
      assert.equal(await a.claimAssertionId(id, at(1_800_000_300), at(1_800_000_010)), false)
      assert.equal(await b.claimAssertionId(id, at(1_800_000_300), at(1_800_000_010)), false)
    })

    test('each sees the other’s writes at once: no token record is kept in memory', async () => {
      const grantId = crypto.randomUUID()
      const token = record({ grantId })
      await a.insertToken(token)
      assert.deepEqual(await b.findToken(token.hash), token, 'inserted through A, found at B')
      assert.equal((await a.findToken(token.hash))?.revokedAt, null, 'read at A first')
      await b.revokeGrant(token.hash, at(1_800_000_100))
      assert.equal((await a.findToken(token.hash))?.revokedAt, 1_800_000_100, 'revoked at B')

      const old = record({ expiresAt: at(1_000) })
      await a.insertToken(old)
      assert.deepEqual(await a.findToken(old.hash), old)
      assert.ok((await b.deleteExpiredTokens(at(2_000))) >= 1)
      assert.equal(await a.findToken(old.hash), undefined, 'swept at B')

      await b.syncPrincipals('cli', [
        {
          kind: 'client',
          id: 'added-at-b',
          secretHash: 'sha256:x',
          jwks: null,
          grantTypes: ['client_credentials'],
          scopes: [],
          accessTokenFormat: 'opaque',
          dpopBoundAccessTokens: false,
          accessTokenTtl: 60,
          source: 'cli',
        },
      ])
      assert.equal((await a.findPrincipal('added-at-b'))?.kind, 'client')
    })

    test('a revocation is told once to the listeners of every store, the revoking one included', async () => {
      const atA = recorder()
      const atB = recorder()
      const stopA = await a.revocations?.listen(atA.listener)
      const stopB = await b.revocations?.listen(atB.listener)
      assert.ok(stopA !== undefined && stopB !== undefined, 'the postgres store has a feed')
      try {
        const grantId = crypto.randomUUID()
        const access = record({ grantId })
        const refresh = record({ grantId, kind: 'refresh_token' })
        await a.insertToken(access)
        await a.insertToken(refresh)
        const before = Date.now()
        const changed = await a.revokeGrant(access.hash, at(1_800_000_100))
        await atA.until(() => atA.revoked.length >= 1)
        await atB.until(() => atB.revoked.length >= 1)
        for (const heard of [atA, atB]) {
          assert.equal(heard.revoked.length, 1)
          const [event] = heard.revoked
          assert.deepEqual(
            [...(event?.tokens ?? [])].sort((x, y) => x.kind.localeCompare(y.kind)),
            [...changed].sort((x, y) => x.kind.localeCompare(y.kind)),
          )
          assert.ok((event?.atMs ?? 0) >= before - 1_000 && (event?.atMs ?? 0) <= Date.now())
        }

        // Revoking again changes nothing and tells nothing; B's revocation is told to A too.
        await b.revokeGrant(access.hash, at(1_800_000_200))
        const other = record()
        await b.insertToken(other)
        await b.revokeGrant(other.hash, at(1_800_000_300))
        await atA.until(() => atA.revoked.length >= 2)
        await atB.until(() => atB.revoked.length >= 2)
        for (const heard of [atA, atB]) {
          assert.equal(heard.revoked.length, 2)
          assert.deepEqual(
            heard.revoked[1]?.tokens.map((t) => t.hash),
            [other.hash],
          )
          assert.equal(heard.missed, 0)
        }
      } finally {
        await stopA()
        await stopB()
      }
    })

    test('two servers revoking one grant at once: each token is told once', async () => {
      const heard = recorder()
      const stop = await a.revocations?.listen(heard.listener)
      try {
        const grantId = crypto.randomUUID()
        const tokens = [record({ grantId }), record({ grantId, kind: 'refresh_token' })]
        for (const t of tokens) await a.insertToken(t)
        const [access, refresh] = tokens as [TokenRecord, TokenRecord]
        const results = await Promise.all([
          a.revokeGrant(access.hash, at(1_800_000_100)),
          b.revokeGrant(refresh.hash, at(1_800_000_101)),
        ])
        assert.equal(results.flat().length, 2, 'between them, each token changed once')
        await heard.until(() => flatHashes(heard.revoked).length >= 2)
        await new Promise((resolve) => setTimeout(resolve, 100))
        assert.deepEqual(flatHashes(heard.revoked), tokens.map((t) => t.hash).sort())
      } finally {
        await stop?.()
      }
    })

    test('a revocation too large for one notification is told in several, nothing lost', async () => {
      const heard = recorder()
      const stop = await b.revocations?.listen(heard.listener)
      try {
        // 300 audiences of ~70 bytes: about 21 KB, where PostgreSQL takes under 8000 bytes.
        const audience = Array.from(
          { length: 300 },
          (_, i) => `https://api-${String(i).padStart(3, '0')}.example.test/${'x'.repeat(40)}`,
        )
        const big = record({ audience })
        await a.insertToken(big)
        await a.revokeGrant(big.hash, at(1_800_000_100))
        const told = () => heard.revoked.flatMap((h) => h.tokens.flatMap((t) => t.audience))
        await heard.until(() => told().length >= audience.length)
        assert.ok(heard.revoked.length >= 3, `${heard.revoked.length} notifications`)
        assert.deepEqual(told().sort(), [...audience].sort())
        assert.ok(heard.revoked.every((h) => h.tokens.every((t) => t.hash === big.hash)))
      } finally {
        await stop?.()
      }
    })

    test('when the listening connection drops, listeners hear `missed`, then revocations again', async () => {
      const heard = recorder()
      const stop = await a.revocations?.listen(heard.listener)
      try {
        await admin(
          url,
          (sql) => sql`
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = 'shared' AND query = 'LISTEN keyhole_revocations'`,
        )
        await heard.until(() => heard.missed >= 1)
        const after = record()
        await b.insertToken(after)
        await b.revokeGrant(after.hash, at(1_800_000_100))
        await heard.until(() => heard.revoked.length >= 1)
        assert.deepEqual(
          heard.revoked[0]?.tokens.map((t) => t.hash),
          [after.hash],
        )
        assert.equal(heard.missed, 1)
      } finally {
        await stop?.()
      }
    })
  })
})

describe('postgres store: notification payloads', () => {
  const token = (audience: string[]): RevokedToken => ({
    hash: hashOf(crypto.randomUUID()) as RevokedToken['hash'],
    kind: 'access_token',
    audience,
  })

  test('a small revocation is one payload that reads back as it was', () => {
    const revoked = [token([ORDERS_AUD]), { ...token([]), kind: 'refresh_token' as const }]
    const payloads = revocationPayloads(revoked, 1_764_400_000_000)
    assert.equal(payloads.length, 1)
    assert.deepEqual(readRevocationPayload(payloads[0] ?? ''), {
      tokens: revoked,
      atMs: 1_764_400_000_000,
    })
  })

  test('every payload stays under the limit; an audience that cannot fit is told as `missed`', () => {
    const many = Array.from({ length: 40 }, () => token([`https://${'a'.repeat(300)}.test`]))
    const payloads = revocationPayloads(many, 1, 2_000)
    assert.ok(payloads.length > 1)
    assert.ok(payloads.every((p) => Buffer.byteLength(p) <= 2_000))
    const back = payloads.flatMap((p) => readRevocationPayload(p)?.tokens ?? [])
    assert.deepEqual(back, many)

    const huge = token([ORDERS_AUD, `https://${'h'.repeat(3_000)}.test`])
    const split = revocationPayloads([huge], 1, 2_000)
    assert.deepEqual(readRevocationPayload(split[0] ?? '')?.tokens[0]?.audience, [ORDERS_AUD])
    assert.equal(readRevocationPayload(split[1] ?? ''), undefined, 'missed: subscribers reset')
  })

  test('a payload that cannot be read is taken as `missed`', () => {
    for (const bad of [
      '',
      'null',
      '{"v":2,"at":1,"t":[]}',
      '{"v":1,"at":1,"t":[["h","x",[]]]}',
      // Anyone who may connect to the database can NOTIFY: what is not a token hash is refused.
      '{"v":1,"at":1,"t":[["forged-hash","access_token",["https://orders.example.test"]]]}',
    ]) {
      assert.equal(readRevocationPayload(bad), undefined, bad)
    }
  })
})

describe('keyhole serve: two servers on one PostgreSQL database', () => {
  let a: RunningServer
  let b: RunningServer
  let storageUrl = ''
  before(async () => {
    const storage = await pg.createDatabase('servers')
    storageUrl = storage
    // One at a time would hide a race between two servers migrating an empty database.
    ;[a, b] = await Promise.all([
      startServer(fixtureConfig({ storage, signingKeys: await sharedSigningKeys() })),
      startServer(fixtureConfig({ storage, signingKeys: await sharedSigningKeys() })),
    ])
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  test('a token issued by one is active at the other; revoked at the other, inactive at the first', async () => {
    const token = await getToken(a, SHOP, { scope: 'orders:read' })
    const atB = await introspect(b, token)
    assert.equal(atB.status, 200)
    assert.equal(atB.json().active, true)
    assert.equal((await revoke(b, token)).status, 200)
    assert.deepEqual((await introspect(a, token)).json(), { active: false })
  })

  test('every server tells its subscribers of every revocation, once, whichever server revoked', async () => {
    const streams: OpenStream[] = [await subscribe(a), await subscribe(b)]
    try {
      for (const stream of streams) assert.equal((await stream.next()).event, 'ready')
      const viaA = await getToken(a, SHOP, { scope: 'orders:read', resource: ORDERS_AUD })
      const viaB = await getToken(b, SHOP, { scope: 'orders:read', resource: ORDERS_AUD })
      const marker = await getToken(a, SHOP, { scope: 'orders:read', resource: ORDERS_AUD })
      await revoke(a, viaA)
      await revoke(b, viaB)
      await revoke(b, marker)
      for (const stream of streams) {
        for (const expected of [viaA, viaB, marker]) {
          const event = await stream.next()
          assert.equal(event.event, 'revoked')
          assert.deepEqual(JSON.parse(event.data).token_hashes, [hashOf(expected)])
        }
      }
    } finally {
      for (const stream of streams) stream.close()
    }
  })

  test('when a server stops hearing the database, its subscribers are told `reset`, then events again', async () => {
    const stream = await subscribe(a)
    try {
      assert.equal((await stream.next()).event, 'ready')
      await admin(
        storageUrl,
        (sql) => sql`
          SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = 'servers' AND query = 'LISTEN keyhole_revocations'`,
      )
      // Revocations made while nobody listened cannot be told: the subscriber must drop its cache.
      assert.equal((await stream.next()).event, 'reset')
      const token = await getToken(b, SHOP, { scope: 'orders:read', resource: ORDERS_AUD })
      await revoke(b, token)
      const event = await stream.next()
      assert.equal(event.event, 'revoked')
      assert.deepEqual(JSON.parse(event.data).token_hashes, [hashOf(token)])
      assert.match(a.output(), /revocation feed interrupted/)
    } finally {
      stream.close()
    }
  })
})

describe('keyhole serve: two servers behind one issuer share DPoP proof replay protection', () => {
  // One issuer, as behind a load balancer: a proof's htu names the published token endpoint, so
  // it is good at either server, and only the store can tell a replay (RFC 9449 §11.1, D-11).
  const issuer = 'https://keyhole.example.test'
  let a: RunningServer
  let b: RunningServer
  before(async () => {
    const storage = await pg.createDatabase('dpop')
    const signingKeys = await sharedSigningKeys()
    a = await startServer(fixtureConfig({ storage, signingKeys, issuer }))
    b = await startServer(fixtureConfig({ storage, signingKeys, issuer }))
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  test('D-11 a DPoP proof used at one server is refused at the other', async () => {
    const key = await dpopKey('ES256')
    const proof = await dpopProof(key, `${issuer}/token`)
    const first = await dpopTokenRequest(`${a.url}/token`, { client: SHOP, dpop: proof })
    assert.equal(first.status, 200, first.text)
    assert.equal(first.json().token_type, 'DPoP')
    const replay = await dpopTokenRequest(`${b.url}/token`, { client: SHOP, dpop: proof })
    assert.equal(replay.status, 400, replay.text)
    assert.equal(replay.json().error, 'invalid_dpop_proof')
    // A fresh proof is good at the second server, and its token introspects there with cnf.jkt.
    const fresh = await dpopTokenRequest(`${b.url}/token`, {
      client: SHOP,
      dpop: await dpopProof(key, `${issuer}/token`),
    })
    assert.equal(fresh.status, 200, fresh.text)
    const token = fresh.json<{ access_token: string }>().access_token
    const answer = await post(`${a.url}/introspect`, { basic: ORDERS, form: { token } })
    assert.deepEqual(answer.json().cnf, { jkt: key.jkt })
  })
})

test('keyhole serve on PostgreSQL: a client id no principal can have (a NUL) is 401, not a 500', async () => {
  const server = await startServer(
    fixtureConfig({
      storage: await pg.createDatabase('nul'),
      signingKeys: await sharedSigningKeys(),
    }),
  )
  try {
    const url = `${server.issuer}/introspect`
    const form = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      })
    const post = await form('token=x&client_id=a%00b&client_secret=x')
    assert.equal(post.status, 401)
    assert.equal(((await post.json()) as { error: string }).error, 'invalid_client')
    const basic = `Basic ${Buffer.from('a%00b:x').toString('base64')}`
    const viaBasic = await form('token=x', { authorization: basic })
    assert.equal(viaBasic.status, 401)
    assert.doesNotMatch(server.output(), /unexpected error/)
  } finally {
    await server.stop()
  }
})

/**
 * A TCP relay to PostgreSQL whose connections can go silent: bytes stop flowing and no
 * connection is reset, as on a dead network path. `freeze()` silences every connection, now and
 * later; `silenceOpen()` only those open now (a new connection then works).
 */
async function freezableRelay(port: number): Promise<{
  port: number
  freeze(): void
  silenceOpen(): void
  close(): void
}> {
  const { connect } = await import('node:net')
  let frozen = false
  const pairs = new Set<{ silent: boolean; sockets: import('node:net').Socket[] }>()
  const relay = createServer((client) => {
    const upstream = connect(port, '127.0.0.1')
    const pair = { silent: false, sockets: [client, upstream] }
    pairs.add(pair)
    for (const socket of pair.sockets) socket.on('error', () => {})
    client.on('data', (chunk) => {
      if (!frozen && !pair.silent) upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (!frozen && !pair.silent) client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
  return {
    port: (relay.address() as { port: number }).port,
    freeze: () => {
      frozen = true
    },
    silenceOpen: () => {
      for (const pair of pairs) pair.silent = true
    },
    close: () => {
      for (const pair of pairs) for (const socket of pair.sockets) socket.destroy()
      relay.close()
    },
  }
}

test('a revocation listener whose connection goes silent is replaced, and listeners hear `missed`', async () => {
  const database = await pg.createDatabase('silent')
  const url = new URL(database)
  const relay = await freezableRelay(Number(url.port))
  url.port = String(relay.port)
  const listening = openPostgresStore({ url: url.toString(), listenerCheckMs: 200 })
  // Revokes straight to the database, not through the relay.
  const direct = openPostgresStore({ url: database })
  let missed = 0
  const heard: string[] = []
  const stop = await (listening.revocations as NonNullable<Store['revocations']>).listen({
    revoked: (tokens) => heard.push(...tokens.map((t) => t.hash)),
    missed: () => {
      missed += 1
    },
  })
  try {
    relay.silenceOpen() // the listener's connection (and the pool's) go silent, unreset
    const deadline = Date.now() + 5_000
    while (missed === 0) {
      if (Date.now() > deadline) assert.fail('the silent listener was never replaced')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    // The new listening connection hears revocations again.
    const live = record()
    await direct.insertToken(live)
    await direct.revokeGrant(live.hash, at(1_800_000_100))
    const until = Date.now() + 5_000
    while (!heard.includes(live.hash)) {
      if (Date.now() > until) assert.fail('no revocation heard after the replacement')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  } finally {
    await stop()
    relay.close()
    await Promise.all([listening.close().catch(() => {}), direct.close()])
  }
})

test('a database that stops answering: operations give up within 5 s as unavailable', async () => {
  const url = new URL(await pg.createDatabase('frozen'))
  const relay = await freezableRelay(Number(url.port))
  url.port = String(relay.port)
  const store = openPostgresStore({ url: url.toString() })
  try {
    const live = record()
    await store.insertToken(live)
    relay.freeze()
    const started = Date.now()
    await assert.rejects(
      store.findToken(live.hash),
      (e: Error) => e instanceof StoreUnavailableError && /no answer/.test(e.message),
    )
    assert.ok(Date.now() - started < 8_000, 'not held until TCP gives up')
  } finally {
    relay.close()
    await store.close().catch(() => {})
  }
})

test('keyhole serve on PostgreSQL: a database that goes away is 503 with Retry-After, and the server goes on', async () => {
  const own = await startPostgres()
  const storage = await own.createDatabase('away')
  const server = await startServer(
    fixtureConfig({ storage, signingKeys: await sharedSigningKeys() }),
  )
  try {
    const token = await getToken(server, SHOP, { scope: 'orders:read' })
    assert.equal((await introspect(server, token)).json().active, true)
    await own.stop()
    const down = await introspect(server, token)
    assert.equal(down.status, 503)
    assert.equal(down.json().error, 'temporarily_unavailable')
    assert.equal(down.headers.get('retry-after'), '1')
    assert.doesNotMatch(server.output(), /unexpected error/)
    // The server itself keeps answering what needs no database.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
  } finally {
    await server.stop()
  }
})

test('keyhole serve: an unreachable database exits 2 naming storage, without the password', async () => {
  const password = 'hunter2-never-shown'
  const port = await closedPort()
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-pg-cli-'))
  const configPath = join(dir, 'keyhole.json')
  writeFileSync(
    configPath,
    JSON.stringify(
      fixtureConfig({
        storage: `postgres://keyhole:${password}@127.0.0.1:${port}/keyhole`,
        signingKeys: await sharedSigningKeys(),
      }),
    ),
  )
  const child = spawn(
    process.execPath,
    [KEYHOLE_BIN, 'serve', '--config', configPath, '--port', '0'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  rmSync(dir, { recursive: true, force: true })
  assert.equal(status, 2, output)
  assert.match(
    output,
    new RegExp(
      `storage: cannot reach the PostgreSQL server at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`,
    ),
  )
  assert.ok(!output.includes(password), output)
  assert.ok(!/\n\s+at /.test(output), `no stack trace:\n${output}`)
})
