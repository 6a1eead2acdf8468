import { ConfigError, type StorageConfig } from '../config.ts'
import { OwnerLockError, StoreInUseError } from './sqlite/owner-lock.ts'
import { openSqliteStore } from './sqlite/sqlite-store.ts'
import type { Store } from './store.ts'

/**
 * Open the configured store. A store that cannot be opened (a path in a folder that is a file,
 * no permission, a database from a newer Keyhole, a file another server owns) is a configuration
 * problem that names the option.
 */
export function openStore(storage: StorageConfig): Store {
  try {
    switch (storage.kind) {
      case 'sqlite':
        return openSqliteStore({ path: storage.path, durability: storage.durability })
    }
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
