import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { type AddressInfo, createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import {
  createAuthorizationServer,
  createLogger,
  openSqliteStore,
  parseConfig,
  tokenHash,
} from '@keyhole/server'
import {
  fixtureConfig,
  getToken,
  introspect,
  revoke,
  startServer,
} from '../../../conformance/support/harness.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyhole-restart-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('acknowledged tokens and revocations survive a crash (SIGKILL) and restart', async () => {
  const first = await startServer(fixtureConfig(), { dir })
  const kept = await getToken(first)
  const revoked = await getToken(first)
  assert.equal((await revoke(first, revoked)).status, 200)
  await first.kill()

  const second = await startServer(fixtureConfig(), { dir })
  try {
    assert.equal((await introspect(second, kept)).json().active, true)
    assert.deepEqual((await introspect(second, revoked)).json(), { active: false })
  } finally {
    await second.stop()
  }
})

test('BCP-04 the database files hold token hashes, never a raw token or secret', async () => {
  const local = mkdtempSync(join(tmpdir(), 'keyhole-files-'))
  const server = await startServer(fixtureConfig(), { dir: local })
  const token = await getToken(server)
  await server.kill()
  const bytes = readdirSync(local)
    .filter((f) => f.startsWith('keyhole.db'))
    .map((f) => readFileSync(join(local, f)).toString('latin1'))
    .join('')
  assert.ok(bytes.includes(tokenHash(token)), 'the hash is what is stored')
  assert.ok(!bytes.includes(token), 'the raw token is not')
  for (const secret of ['shop-secret', 'orders-secret']) assert.ok(!bytes.includes(secret), secret)
  rmSync(local, { recursive: true, force: true })
})

test('a start that fails (the port is taken) closes the database it opened', async () => {
  const local = mkdtempSync(join(tmpdir(), 'keyhole-failed-start-'))
  const taken = createNetServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  const port = (taken.address() as AddressInfo).port
  try {
    const path = join(local, 'keyhole.db')
    const config = parseConfig({ ...fixtureConfig(), port, storage: `sqlite:${path}` }, local)
    await assert.rejects(
      createAuthorizationServer(config, { logger: createLogger({ level: 'error' }) }),
      /EADDRINUSE/,
    )
    // SQLite removes the WAL and shared-memory files when the last connection closes. The owner
    // lock's file stays (deleting a lock file races with a server waiting on it), but no longer
    // holds the database: another server takes it at once. The signing keys made at this first
    // start stay: they were written before the port was tried, and a key is never thrown away.
    assert.deepEqual(
      readdirSync(local)
        .filter((f) => f.startsWith('keyhole.db'))
        .sort(),
      ['keyhole.db', 'keyhole.db-keys.json', 'keyhole.db-lock'],
    )
    await openSqliteStore({ path, lockWaitMs: 0 }).close()
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()))
    rmSync(local, { recursive: true, force: true })
  }
})
