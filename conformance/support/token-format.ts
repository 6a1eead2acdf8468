/**
 * Keyhole's public token format, written out independently of the server: kh_at_ / kh_rt_ + 43
 * base62 characters + a 6-character base62 CRC-32 of what precedes it. Black-box tests use it to
 * make well-formed tokens no server ever issued, and tampered ones.
 */
import { randomInt } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

export function checksum(head: string): string {
  let crc = 0xffffffff
  for (let i = 0; i < head.length; i++) {
    crc = (CRC_TABLE[(crc ^ head.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8)
  }
  let value = (crc ^ 0xffffffff) >>> 0
  let out = ''
  for (let i = 0; i < 6; i++) {
    out = ALPHABET[value % 62] + out
    value = Math.floor(value / 62)
  }
  return out
}

/** A token in the public format, with a valid checksum, that no server ever issued. */
export function wellFormedToken(prefix: 'kh_at_' | 'kh_rt_' = 'kh_at_'): string {
  let head = prefix
  for (let i = 0; i < 43; i++) head += ALPHABET[randomInt(62)]
  return head + checksum(head)
}

/** The same token with one character of its random part changed: the checksum no longer holds. */
export function tamper(token: string): string {
  const i = 20
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)
}
