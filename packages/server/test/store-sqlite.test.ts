import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { openSqliteStore } from '@keyhole/server'
import Database from 'better-sqlite3'
import { storeContract } from './store-contract.ts'

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
