import { hash, timingSafeEqual } from 'node:crypto'
import type { TokenHash } from '../brand.ts'

// One-shot `crypto.hash` (Node >= 20.12): about a third of the cost of a createHash chain for
// inputs this small, which matters on the introspection path (every request hashes its token).

/** base64url(SHA-256(token)). Tokens carry 256 random bits, so a fast hash is the right one. */
export function tokenHash(token: string): TokenHash {
  return hash('sha256', token, 'base64url') as TokenHash
}

const SECRET_HASH = /^sha256:([A-Za-z0-9_-]{43})$/

/** The stored form of a client or resource secret, as `keyhole hash-secret` prints it. */
export function hashSecret(secret: string): string {
  return `sha256:${hash('sha256', secret, 'base64url')}`
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
  // 'binary' (latin1) maps each digest byte to one character and back: the 32 raw bytes, without
  // the slow 'buffer' output of crypto.hash on Node 20.
  const actual = Buffer.from(hash('sha256', presented, 'binary'), 'binary')
  return timingSafeEqual(actual, expected) && match !== undefined && match !== null
}
