/**
 * Self-checking opaque tokens: `kh_at_` / `kh_rt_` + 43 base62 characters (256 bits from the CSPRNG)
 * + a 6-character base62 CRC-32 of everything before it.
 *
 * The type prefix lets secret scanners find leaked tokens; the checksum lets every endpoint reject a
 * mistyped, truncated or made-up token before any store lookup (it is not a secret and not a MAC:
 * it keeps garbage away from the store, while the 256 random bits keep guessing hopeless, RFC 6749 §10.10).
 */
import { randomBytes } from 'node:crypto'
import type { TokenKind } from './token-record.ts'

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const PREFIX: Record<TokenKind, string> = { access_token: 'kh_at_', refresh_token: 'kh_rt_' }
const PREFIX_LENGTH = 6
// 43 × log2(62) = 256.03 bits
const RANDOM_LENGTH = 43
const CHECKSUM_LENGTH = 6
export const TOKEN_LENGTH = PREFIX_LENGTH + RANDOM_LENGTH + CHECKSUM_LENGTH

const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

function crc32(ascii: string): number {
  let crc = 0xffffffff
  for (let i = 0; i < ascii.length; i++) {
    crc = (CRC_TABLE[(crc ^ ascii.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8)
  }
  return (crc ^ 0xffffffff) >>> 0
}

function checksum(head: string): string {
  let value = crc32(head)
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62] + out
    value = Math.floor(value / 62)
  }
  return out
}

function randomBase62(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(64)) {
      // 248 = 4 × 62: rejecting the top 8 values keeps every character uniform.
      if (byte < 248) out += ALPHABET[byte % 62]
      if (out.length === length) break
    }
  }
  return out
}

export function mintToken(kind: TokenKind): string {
  const head = PREFIX[kind] + randomBase62(RANDOM_LENGTH)
  return head + checksum(head)
}

const SHAPE = /^kh_(at|rt)_[0-9A-Za-z]{49}$/

/** The kind of a well-formed Keyhole token, or undefined for anything else (no store lookup needed). */
export function tokenKindOf(token: string): TokenKind | undefined {
  if (token.length !== TOKEN_LENGTH || !SHAPE.test(token)) return undefined
  const head = token.slice(0, PREFIX_LENGTH + RANDOM_LENGTH)
  if (checksum(head) !== token.slice(PREFIX_LENGTH + RANDOM_LENGTH)) return undefined
  return token.startsWith(PREFIX.access_token) ? 'access_token' : 'refresh_token'
}
