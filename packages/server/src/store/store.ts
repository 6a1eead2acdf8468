/**
 * The store contract. Every backend (SQLite here; PostgreSQL next) implements exactly this and passes
 * the one contract suite in test/store-contract.ts. Tokens are keyed by their hash; a raw token or
 * secret never reaches a store.
 */
import type { EpochSeconds, TokenHash } from '../brand.ts'
import type { TokenKind, TokenRecord } from '../tokens/token-record.ts'

export type GrantType = 'client_credentials'
/** Where a principal came from: config entries are replaced on every start. */
export type PrincipalSource = 'config' | 'cli'

/** An OAuth client: asks for tokens, may introspect and revoke its own. */
export interface ClientRecord {
  readonly kind: 'client'
  readonly id: string
  readonly secretHash: string
  readonly grantTypes: readonly GrantType[]
  readonly scopes: readonly string[]
  readonly accessTokenTtl: number
  readonly source: PrincipalSource
}

/** A protected resource (an API): owns an audience and scopes, introspects tokens meant for it. */
export interface ResourceRecord {
  readonly kind: 'resource'
  readonly id: string
  readonly audience: string
  readonly secretHash: string
  readonly scopes: readonly string[]
  readonly source: PrincipalSource
}

export type Principal = ClientRecord | ResourceRecord

/** What a revocation changed: enough to tell the resources each token was meant for. */
export interface RevokedToken {
  readonly hash: TokenHash
  readonly kind: TokenKind
  /** RFC 8707: the audiences the token was meant for. */
  readonly audience: readonly string[]
}

export interface Store {
  /** Make the principals from `source` exactly `principals`: upsert these, delete the others of that source. */
  syncPrincipals(source: PrincipalSource, principals: readonly Principal[]): Promise<void>
  findPrincipal(id: string): Promise<Principal | undefined>
  listResources(): Promise<readonly ResourceRecord[]>

  /** Acknowledged only once durable: a token that was handed out survives a restart. */
  insertToken(record: TokenRecord): Promise<void>
  /**
   * May be answered from memory (the SQLite store does, as the only writer of its file), but a
   * token changed through this store is read changed right after (the contract suite checks it).
   */
  findToken(hash: TokenHash): Promise<TokenRecord | undefined>
  /**
   * Revoke every token of the token's grant (RFC 7009 §2.1). Returns the tokens this call changed
   * (none when the grant was already revoked), for the revocation events.
   */
  revokeGrant(hash: TokenHash, at: EpochSeconds): Promise<readonly RevokedToken[]>
  /** Housekeeping: forget tokens that expired before `before`. */
  deleteExpiredTokens(before: EpochSeconds): Promise<number>

  /** Throws when the backend cannot serve (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
