/**
 * One server per SQLite file. The store keeps the token records it reads in memory and forgets
 * them when it changes them itself (sqlite-store.ts), which is only right while no other process
 * writes tokens to the file. Asking SQLite whether another connection wrote (`PRAGMA
 * data_version`) costs as much as the read it would save, so the file is owned instead: the
 * server holds an exclusive SQLite lock on a companion file (`<path>-lock`) for as long as the
 * store is open, and a second server on the same file is refused at start.
 *
 * The database itself is not locked: `sqlite3` and backup tools can still read it while the
 * server runs. The operating system drops the lock when the process ends, however it ends.
 */
import Database from 'better-sqlite3'

export interface OwnerLock {
  release(): void
}

/** Thrown when another process holds the file; `openStore` turns it into a start-up error. */
export class StoreInUseError extends Error {
  constructor(readonly path: string) {
    super(`${path} is in use by another Keyhole server`)
    this.name = 'StoreInUseError'
  }
}

export function lockFileOf(path: string): string {
  return `${path}-lock`
}

/**
 * Take the file, waiting up to `waitMs` for a server that is shutting down (a restart that
 * overlaps the old process) to let go.
 */
export function takeOwnerLock(path: string, waitMs: number): OwnerLock {
  const lock = new Database(lockFileOf(path), { timeout: waitMs })
  try {
    // In EXCLUSIVE locking mode SQLite keeps the lock of its first write until the connection
    // closes. SQLite also keeps two connections of one process apart on the same file.
    lock.pragma('locking_mode = EXCLUSIVE')
    // Nothing in this file needs a rollback journal: no `-lock-journal` file beside it.
    lock.pragma('journal_mode = MEMORY')
    lock.exec(
      'CREATE TABLE IF NOT EXISTS owner (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER)',
    )
    lock.prepare('INSERT OR REPLACE INTO owner (id, pid) VALUES (1, ?)').run(process.pid)
  } catch (err) {
    lock.close()
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') throw new StoreInUseError(path)
    throw err
  }
  return {
    release() {
      if (lock.open) lock.close()
    },
  }
}
