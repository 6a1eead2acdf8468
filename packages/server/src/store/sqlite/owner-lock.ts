/**
 * One server per SQLite file. The store keeps the token records it reads in memory and forgets
 * them when it changes them itself (sqlite-store.ts), which is only right while no other process
 * writes tokens to the file. Asking SQLite whether another connection wrote (`PRAGMA
 * data_version`) costs as much as the read it would save, so the file is owned instead: the
 * server holds an exclusive SQLite lock on a companion file (`<path>-lock`, named after the
 * database's real path, so that a symbolic link to it finds the same lock) for as long as the
 * store is open, and a second server on the same file is refused at start.
 *
 * The lock is an open `BEGIN EXCLUSIVE` transaction on that file and nothing is ever written to
 * it: the file stays empty, and no crash can leave it damaged. The database itself is not locked:
 * `sqlite3` and backup tools can still read it while the server runs. The operating system drops
 * the lock when the process ends, however it ends.
 *
 * The wait for a previous owner is SQLite's busy handler: it blocks the thread, for at most
 * `waitMs`, once, when the store is opened.
 */
import { realpathSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import Database from 'better-sqlite3'

export interface OwnerLock {
  release(): void
}

/** Another process holds the file; `openStore` turns it into a start-up error. */
export class StoreInUseError extends Error {
  constructor(readonly path: string) {
    super(`${path} is in use by another Keyhole server`)
    this.name = 'StoreInUseError'
  }
}

/** The lock's own file could not be used (a folder in its place, no permission, not SQLite). */
export class OwnerLockError extends Error {
  constructor(
    readonly lockPath: string,
    readonly code: string,
  ) {
    super(`cannot use the lock file ${lockPath} (${code})`)
    this.name = 'OwnerLockError'
  }
}

/** `<real path of the database>-lock`; the database's folder must exist. */
function lockFileOf(path: string): string {
  let real: string
  try {
    real = realpathSync(path)
  } catch {
    // Not created yet: the folder's real path and the name.
    real = join(realpathSync(dirname(path)), basename(path))
  }
  return `${real}-lock`
}

/**
 * Take the file, waiting up to `waitMs` for a server that is shutting down (a restart that
 * overlaps the old process) to let go.
 */
export function takeOwnerLock(path: string, waitMs: number): OwnerLock {
  const lockPath = lockFileOf(path)
  let lock: Database.Database
  try {
    lock = new Database(lockPath, { timeout: waitMs })
  } catch (err) {
    throw new OwnerLockError(lockPath, codeOf(err))
  }
  try {
    // No rollback journal beside the file; the transaction below writes nothing anyway.
    lock.pragma('journal_mode = MEMORY')
    // Held until the connection closes. SQLite also keeps two connections of one process apart.
    lock.exec('BEGIN EXCLUSIVE')
  } catch (err) {
    lock.close()
    const code = codeOf(err)
    if (code === 'SQLITE_BUSY') throw new StoreInUseError(path)
    throw new OwnerLockError(lockPath, code)
  }
  return {
    release() {
      if (lock.open) lock.close()
    },
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)
}
