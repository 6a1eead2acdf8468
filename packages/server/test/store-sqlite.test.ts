import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { type EpochSeconds, openSqliteStore } from '@keyhole/server'
import Database from 'better-sqlite3'
import { token as record, storeContract } from './store-contract.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyhole-sqlite-'))
const path = join(dir, 'keyhole.db')

storeContract('sqlite', {
  open: async () => openSqliteStore({ path }),
  reopen: async (store) => {
    await store.close()
    return openSqliteStore({ path })
  },
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
})

test('sqlite: a database from a newer Keyhole is refused rather than misread', () => {
  const newer = join(mkdtempSync(join(tmpdir(), 'keyhole-sqlite-')), 'newer.db')
  const db = new Database(newer)
  db.pragma('user_version = 99')
  db.close()
  assert.throws(() => openSqliteStore({ path: newer }), /schema is version 99/)
  // Refused before anything in it changed, and the file is let go: the same error again at once.
  assert.throws(() => openSqliteStore({ path: newer, lockWaitMs: 0 }), /schema is version 99/)
  const after = new Database(newer, { readonly: true })
  assert.equal(after.pragma('journal_mode', { simple: true }), 'delete', 'not switched to WAL')
  after.close()
})

test('sqlite: a database of schema 1 is migrated, keeping its principals and tokens', async () => {
  // Schema 1 as released (0.1.0); later migrations rebuild the principals table (private_key_jwt).
  const file = join(mkdtempSync(join(tmpdir(), 'keyhole-sqlite-')), 'v1.db')
  const db = new Database(file)
  db.exec(`
    CREATE TABLE principals (id TEXT PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('client', 'resource')), secret_hash TEXT NOT NULL,
      audience TEXT UNIQUE, scopes TEXT NOT NULL, grant_types TEXT NOT NULL,
      access_token_ttl INTEGER, source TEXT NOT NULL) STRICT;
    CREATE TABLE tokens (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, jti TEXT NOT NULL,
      client_id TEXT NOT NULL, sub TEXT NOT NULL, scopes TEXT NOT NULL, audience TEXT NOT NULL,
      issued_at INTEGER NOT NULL, not_before INTEGER NOT NULL, expires_at INTEGER NOT NULL,
      revoked_at INTEGER, grant_id TEXT NOT NULL) STRICT, WITHOUT ROWID;
    CREATE INDEX tokens_expires_at ON tokens (expires_at);
    CREATE INDEX tokens_grant_id ON tokens (grant_id);
    INSERT INTO principals VALUES ('shop', 'client', 'sha256:${'A'.repeat(43)}', NULL,
      'orders:read', 'client_credentials', 300, 'cli');
    INSERT INTO principals VALUES ('orders', 'resource', 'sha256:${'B'.repeat(43)}',
      'https://orders.example.test', 'orders:read', '', NULL, 'cli');
    PRAGMA user_version = 1;
  `)
  const old = record({ expiresAt: 3_000_000_000 as EpochSeconds })
  db.prepare(`INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`).run(
    old.hash,
    old.kind,
    old.jti,
    old.clientId,
    old.sub,
    old.scopes.join(' '),
    JSON.stringify(old.audience),
    old.issuedAt,
    old.notBefore,
    old.expiresAt,
    old.grantId,
  )
  db.close()
  const store = openSqliteStore({ path: file })
  try {
    const shop = await store.findPrincipal('shop')
    assert.equal(shop?.secretHash, `sha256:${'A'.repeat(43)}`)
    assert.equal(shop?.jwks, null)
    assert.equal(shop?.kind === 'client' && shop.accessTokenTtl, 300)
    assert.equal((await store.findPrincipal('orders'))?.kind, 'resource')
    assert.deepEqual(await store.findToken(old.hash), old)
    assert.equal(
      await store.claimAssertionId('k', 3_000_000_000 as EpochSeconds, 1 as EpochSeconds),
      true,
    )
  } finally {
    await store.close()
  }
})

test('sqlite: the database runs in WAL mode', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'keyhole-sqlite-')), 'wal.db')
  const store = openSqliteStore({ path: file })
  await store.ping()
  await store.close()
  const db = new Database(file, { readonly: true })
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  db.close()
})

test('sqlite: one server per file: a second store is refused while the first is open', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'keyhole-sqlite-')), 'owned.db')
  const first = openSqliteStore({ path: file })
  // The lock's file keeps no rollback journal beside it.
  assert.ok(!readdirSync(dirname(file)).some((name) => name.endsWith('-journal')))
  assert.throws(
    () => openSqliteStore({ path: file, lockWaitMs: 50 }),
    (err: Error) => err.name === 'StoreInUseError' && err.message.includes(file),
  )
  await first.ping()
  await first.close()
  const next = openSqliteStore({ path: file, lockWaitMs: 0 })
  await next.ping()
  await next.close()
})

test('sqlite: a second store waits for the owner to let go (a restart that overlaps)', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'keyhole-sqlite-')), 'handover.db')
  // The wait blocks this thread, so the owner that lets go is another process: a child holds
  // the file for a second, then closes its store, says when, and exits.
  const holder = spawnHolder(file, 1_000)
  await holder.holding
  const started = Date.now()
  const next = openSqliteStore({ path: file, lockWaitMs: 10_000 })
  await next.close()
  assert.ok(started < (await holder.releasedAt), 'began waiting while the file was held')
})

test('sqlite: a symbolic link to the file finds the same owner', async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'keyhole-sqlite-'))
  const file = join(folder, 'real.db')
  const first = openSqliteStore({ path: file })
  t.after(() => first.close())
  symlinkSync(file, join(folder, 'link.db'))
  symlinkSync(folder, join(folder, 'linked-folder'))
  for (const alias of [join(folder, 'link.db'), join(folder, 'linked-folder', 'real.db')]) {
    assert.throws(
      () => openSqliteStore({ path: alias, lockWaitMs: 0 }),
      (err: Error) => err.name === 'StoreInUseError',
      alias,
    )
  }
})

test('sqlite: a lock file that cannot be used is named in the error', () => {
  const folder = mkdtempSync(join(tmpdir(), 'keyhole-sqlite-'))
  const file = join(folder, 'blocked.db')
  mkdirSync(`${file}-lock`)
  assert.throws(
    () => openSqliteStore({ path: file }),
    (err: Error) => err.name === 'OwnerLockError' && err.message.includes('blocked.db-lock'),
  )
})

test('sqlite: the database stays readable by other tools while a server owns it', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'keyhole-sqlite-')), 'readable.db')
  const store = openSqliteStore({ path: file })
  await store.insertToken(record())
  const reader = new Database(file, { readonly: true })
  assert.equal(reader.prepare('SELECT count(*) FROM tokens').pluck(true).get(), 1)
  reader.close()
  await store.close()
})

test('sqlite: token records are served from memory once read, and are frozen', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'keyhole-sqlite-')), 'cached.db')
  const store = openSqliteStore({ path: file })
  const r = record()
  await store.insertToken(r)
  const first = await store.findToken(r.hash)
  assert.ok(first !== undefined && Object.isFrozen(first) && Object.isFrozen(first.scopes))
  assert.ok(Object.isFrozen(first.audience))
  // A write behind the server's back (documented as unsupported while it runs) is not seen:
  // the second read came from memory. Writes through the store are (the contract suite).
  const outside = new Database(file)
  outside.prepare('UPDATE tokens SET revoked_at = 1').run()
  outside.close()
  assert.equal((await store.findToken(r.hash))?.revokedAt, null)
  await store.close()
  const reopened = openSqliteStore({ path: file })
  assert.equal((await reopened.findToken(r.hash))?.revokedAt, 1)
  await reopened.close()
})

/** Another process that owns `file` for `ms`, then closes its store and exits. */
function spawnHolder(
  file: string,
  ms: number,
): { holding: Promise<void>; releasedAt: Promise<number> } {
  const code = `
    import { openSqliteStore } from '@keyhole/server'
    const store = openSqliteStore({ path: ${JSON.stringify(file)} })
    process.stdout.write('holding\\n')
    setTimeout(async () => {
      await store.close()
      process.stdout.write('released ' + Date.now() + '\\n')
      process.exit(0)
    }, ${ms})
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const holding = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => {
      if (output.includes('holding')) resolve()
    })
    child.once('exit', (status) => reject(new Error(`the holder exited with ${status}`)))
  })
  const releasedAt = new Promise<number>((resolve, reject) =>
    child.once('exit', () => {
      const at = /released (\d+)/.exec(output)?.[1]
      if (at === undefined) reject(new Error('the holder never let go'))
      else resolve(Number(at))
    }),
  )
  return { holding, releasedAt }
}
