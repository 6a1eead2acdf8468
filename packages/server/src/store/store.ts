/**
 * The store contract. Every backend (SQLite, PostgreSQL) implements exactly this and passes the one
 * contract suite in test/store-contract.ts. Tokens are keyed by their hash; a raw token or secret
 * never reaches a store.
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
  /** SHA-256 of its secret (client_secret_basic / _post), or null: it has `jwks` instead. */
  readonly secretHash: string | null
  /** The public keys of private_key_jwt (RFC 7523), or null: it has a secret instead. */
  readonly jwks: PublicJwkSet | null
  readonly grantTypes: readonly GrantType[]
  readonly scopes: readonly string[]
  readonly accessTokenTtl: number
  /** Opaque `kh_at_` tokens, or RFC 9068 JWTs signed by the server's first key. */
  readonly accessTokenFormat: AccessTokenFormat
  /**
   * RFC 9449 §5.2 `dpop_bound_access_tokens`: the client always uses DPoP, so a token request
   * without a DPoP proof is refused. False: a proof binds the token when one is sent.
   */
  readonly dpopBoundAccessTokens: boolean
  readonly source: PrincipalSource
}

/** A protected resource (an API): owns an audience and scopes, introspects tokens meant for it. */
export interface ResourceRecord {
  readonly kind: 'resource'
  readonly id: string
  readonly audience: string
  /** As for a client: exactly one of `secretHash` and `jwks` is set. */
  readonly secretHash: string | null
  readonly jwks: PublicJwkSet | null
  readonly scopes: readonly string[]
  /**
   * RFC 9701 §6 `introspection_signed_response_alg`: what signs its JWT introspection answers.
   * Undefined: none registered (RS256 when a key has it, else the server's first key).
   */
  readonly introspectionSignedResponseAlg?: string | undefined
  readonly source: PrincipalSource
}

export type AccessTokenFormat = 'opaque' | 'jwt'

export type Principal = ClientRecord | ResourceRecord

/**
 * A registered public key (RFC 7517) for private_key_jwt, as the config checked it
 * (client-auth/client-jwks.ts): no private members, and the one algorithm it verifies (RFC 8725
 * §3.1; `Ed25519` stands for `EdDSA` too).
 */
export interface PublicJwk {
  readonly kty: 'RSA' | 'EC' | 'OKP'
  readonly alg: string
  readonly kid?: string
  readonly crv?: string
  readonly x?: string
  readonly y?: string
  readonly n?: string
  readonly e?: string
}

/** A JWK Set of public keys (RFC 7517 §5): one principal's private_key_jwt keys. */
export interface PublicJwkSet {
  readonly keys: readonly PublicJwk[]
}

/** What a revocation changed: enough to tell the resources each token was meant for. */
export interface RevokedToken {
  readonly hash: TokenHash
  readonly kind: TokenKind
  /** RFC 8707: the audiences the token was meant for. */
  readonly audience: readonly string[]
}

/**
 * Told of revocations as they are committed. Calls come in commit order and never overlap; a
 * listener must not throw.
 */
export interface RevocationListener {
  /** Tokens one revocation changed (a large one may come in several calls); `atMs`: epoch ms. */
  revoked(tokens: readonly RevokedToken[], atMs: number): void
  /**
   * The feed was cut and is back: revocations committed in between may never be told. Everyone
   * who relies on the feed must assume the worst (the event hub tells its subscribers `reset`).
   */
  missed(): void
}

/**
 * The revocations committed in a store that several servers share, whichever server made them
 * (this one included), told to every server: each listener hears of each revocation once.
 */
export interface RevocationFeed {
  /** Resolves once listening; the function it gives stops the listener. */
  listen(listener: RevocationListener): Promise<() => Promise<void>>
}

/**
 * A store that cannot serve at all (the server is unreachable, refuses us, or holds a newer
 * schema). The message is safe to show: it names no password.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StoreUnavailableError'
  }
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
   * (none when the grant was already revoked), for the revocation events. A store with a
   * `revocations` feed also tells the feed, in the same commit.
   */
  revokeGrant(hash: TokenHash, at: EpochSeconds): Promise<readonly RevokedToken[]>
  /**
   * Housekeeping: forget tokens, and used assertion ids, that expired before `before`. Returns
   * how many of both were forgotten.
   */
  deleteExpiredTokens(before: EpochSeconds): Promise<number>

  /**
   * RFC 7523 §3 (7), OIDC Core §9: a client assertion's `jti` is used once; so is a DPoP proof's
   * (RFC 9449 §11.1), under keys of its own. Records `key` (a SHA-256 of what identifies the JWT,
   * never the jti itself) as used until `expiresAt`, atomically: true when this call took it,
   * false when it is in use (also by another server sharing the store). An id whose use expired
   * before `now` may be taken again.
   */
  claimAssertionId(key: string, expiresAt: EpochSeconds, now: EpochSeconds): Promise<boolean>

  /**
   * Present on stores that several servers share (PostgreSQL): revocations reach the event hub of
   * every server through it, the revoking server's included. Absent (SQLite: one server per
   * file): the revoking server tells its own hub.
   */
  readonly revocations?: RevocationFeed

  /** Throws when the backend cannot serve (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
