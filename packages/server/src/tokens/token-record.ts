import type { EpochSeconds, TokenHash } from '../brand.ts'

export type TokenKind = 'access_token' | 'refresh_token'

/** What the store keeps of a token. The raw token is never part of it. */
export interface TokenRecord {
  readonly hash: TokenHash
  readonly kind: TokenKind
  /** Public identifier of the token (RFC 7662 `jti`); random, unrelated to the token's value. */
  readonly jti: string
  readonly clientId: string
  readonly sub: string
  readonly scopes: readonly string[]
  /** RFC 8707: the audiences (resource identifiers) the token is meant for. */
  readonly audience: readonly string[]
  readonly issuedAt: EpochSeconds
  readonly notBefore: EpochSeconds
  readonly expiresAt: EpochSeconds
  readonly revokedAt: EpochSeconds | null
  /** Tokens of one grant are revoked together (RFC 7009 §2.1). */
  readonly grantId: string
}

/** RFC 7662 §4: every applicable check (revocation, expiry, not-before). Policy is checked by the caller. */
export function isActive(record: TokenRecord, now: EpochSeconds): boolean {
  return record.revokedAt === null && now < record.expiresAt && now >= record.notBefore
}
