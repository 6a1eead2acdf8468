/**
 * `@keyhole/server/postgres`: the PostgreSQL store, for servers that share one database. A
 * subpath of its own, so that the `postgres` driver (an optional peer dependency) is loaded only by
 * those who use it; `keyhole serve` loads it when `storage` is a PostgreSQL URL.
 */
export {
  openPostgresStore,
  type PostgresStoreOptions,
} from './store/postgres/postgres-store.ts'
