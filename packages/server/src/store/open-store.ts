import { ConfigError, type StorageConfig } from '../config.ts'
import { OwnerLockError, StoreInUseError } from './sqlite/owner-lock.ts'
import { openSqliteStore } from './sqlite/sqlite-store.ts'
import { type Store, StoreUnavailableError } from './store.ts'

/**
 * Open the configured store. A store that cannot be opened (a path in a folder that is a file,
 * no permission, a database from a newer Keyhole, a file another server owns) is a configuration
 * problem that names the option.
 *
 * PostgreSQL connects on first use, so its problems (unreachable, refused, newer schema) surface
 * at the server's first store call: `storeStartError` turns them into the same kind of message.
 * Its driver is an optional peer dependency, loaded only here and only for a PostgreSQL URL.
 */
export async function openStore(storage: StorageConfig): Promise<Store> {
  if (storage.kind === 'postgres') {
    const { openPostgresStore } = await loadOptional(
      () => import('./postgres/postgres-store.ts'),
      'postgres',
    )
    try {
      return openPostgresStore({ url: storage.url })
    } catch (err) {
      throw storeStartError(err)
    }
  }
  try {
    return openSqliteStore({ path: storage.path, durability: storage.durability })
  } catch (err) {
    if (err instanceof StoreInUseError) {
      throw new ConfigError([
        `storage: ${storage.path} is in use by another Keyhole server (one server per SQLite file)`,
      ])
    }
    if (err instanceof OwnerLockError) {
      throw new ConfigError([
        `storage: cannot use the lock file ${err.lockPath} (${err.code}); it may be removed while no server runs`,
      ])
    }
    const reason = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : ''
    throw new ConfigError([`storage: cannot open ${storage.path} (${reason})`])
  }
}

/**
 * A store that cannot serve at start is a configuration problem naming `storage` (its message
 * names no password); anything else is left as it is.
 */
export function storeStartError(err: unknown): unknown {
  return err instanceof StoreUnavailableError ? new ConfigError([`storage: ${err.message}`]) : err
}

/**
 * A module that needs an optional peer dependency; when that package is not installed, a
 * configuration problem that says what to install instead of a resolution stack trace.
 */
export async function loadOptional<T>(load: () => Promise<T>, dependency: string): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const message = err instanceof Error ? err.message : ''
    if (code === 'ERR_MODULE_NOT_FOUND' && message.includes(`'${dependency}'`)) {
      throw new ConfigError([
        `storage: a PostgreSQL URL needs the ${dependency} package (npm install ${dependency}@3)`,
      ])
    }
    throw err
  }
}
