import { createHash, timingSafeEqual } from 'node:crypto'
import type { TokenHash } from '../brand.ts'

/** base64url(SHA-256(token)). Tokens carry 256 random bits, so a fast hash is the right one. */
export function tokenHash(token: string): TokenHash {
  return createHash('sha256').update(token, 'utf8').digest('base64url') as TokenHash
}

const SECRET_HASH = /^sha256:([A-Za-z0-9_-]{43})$/

/** The stored form of a client or resource secret, as `keyhole hash-secret` prints it. */
export function hashSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('base64url')}`
}

export function isSecretHash(value: string): boolean {
  return SECRET_HASH.test(value)
}

// Compared against when the principal does not exist, so that an unknown id costs the same time.
const DUMMY = Buffer.alloc(32)

/** Constant-time check of a presented secret against a stored hash. */
export function verifySecret(presented: string, storedHash: string | undefined): boolean {
  const match = storedHash === undefined ? undefined : SECRET_HASH.exec(storedHash)
  const expected = match?.[1] === undefined ? DUMMY : Buffer.from(match[1], 'base64url')
  const actual = createHash('sha256').update(presented, 'utf8').digest()
  return timingSafeEqual(actual, expected) && match !== undefined && match !== null
}
