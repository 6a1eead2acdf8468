import type { StorageConfig } from '../config.ts'
import { openSqliteStore } from './sqlite/sqlite-store.ts'
import type { Store } from './store.ts'

export function openStore(storage: StorageConfig): Store {
  switch (storage.kind) {
    case 'sqlite':
      return openSqliteStore({ path: storage.path, durability: storage.durability })
  }
}
