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
  /** RFC 9449 §6 / RFC 7800: the key a DPoP-bound token is bound to; null for a Bearer token. */
  readonly cnf: TokenConfirmation | null
}

/** RFC 7800 `cnf`, with the one confirmation method Keyhole binds tokens by. */
export interface TokenConfirmation {
  /** RFC 9449 §6.1: base64url of the RFC 7638 SHA-256 thumbprint of the DPoP public key. */
  readonly jkt: string
}

/** RFC 7662 §4: every applicable check (revocation, expiry, not-before). Policy is checked by the caller. */
export function isActive(record: TokenRecord, now: EpochSeconds): boolean {
  return record.revokedAt === null && now < record.expiresAt && now >= record.notBefore
}
