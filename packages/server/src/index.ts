/** @keyhole/server public API. Nothing else is exported; internals may change without notice. */
export {
  type AuthorizationServer,
  createAuthorizationServer,
  type StartOptions,
} from './app.ts'
export type { Clock, EpochSeconds, TokenHash } from './brand.ts'
export {
  ConfigError,
  type ConfigOverrides,
  loadConfigFile,
  parseConfig,
  type ServerConfig,
  type StorageConfig,
} from './config.ts'
export { createLogger, type Logger, type LogLevel } from './log.ts'
export { openSqliteStore, type SqliteStoreOptions } from './store/sqlite/sqlite-store.ts'
export {
  type ClientRecord,
  type GrantType,
  type Principal,
  type PrincipalSource,
  type PublicJwk,
  type PublicJwkSet,
  type ResourceRecord,
  type RevocationFeed,
  type RevocationListener,
  type RevokedToken,
  type Store,
  StoreUnavailableError,
} from './store/store.ts'
export { hashSecret, tokenHash } from './tokens/hash.ts'
export {
  GENERATED_ALGORITHMS,
  generateSigningJwk,
  importSigningKeys,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
  SigningKeyError,
  type SigningKeys,
} from './tokens/signing-keys.ts'
export { mintToken, tokenKindOf } from './tokens/token-format.ts'
export type { TokenConfirmation, TokenKind, TokenRecord } from './tokens/token-record.ts'
