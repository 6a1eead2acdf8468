import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mintToken, tokenKindOf } from '@keyhole/server'

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

test('O-13 access tokens are kh_at_ + 43 base62 characters (256 bits) + a 6-character checksum', () => {
  const token = mintToken('access_token')
  assert.match(token, /^kh_at_[0-9A-Za-z]{49}$/)
  assert.equal(tokenKindOf(token), 'access_token')
  assert.equal(tokenKindOf(mintToken('refresh_token')), 'refresh_token')
})

test('O-13 minted tokens do not repeat and use the whole alphabet', () => {
  const tokens = new Set<string>()
  const seen = new Set<string>()
  for (let i = 0; i < 2_000; i++) {
    const token = mintToken('access_token')
    tokens.add(token)
    for (const c of token.slice(6, 49)) seen.add(c)
  }
  assert.equal(tokens.size, 2_000)
  assert.equal(seen.size, BASE62.length)
})

test('any single changed character fails the checksum', () => {
  const token = mintToken('access_token')
  for (let i = 6; i < token.length; i++) {
    const original = token[i] as string
    const replacement = BASE62[(BASE62.indexOf(original) + 1) % 62] as string
    const mutated = token.slice(0, i) + replacement + token.slice(i + 1)
    assert.equal(tokenKindOf(mutated), undefined, `position ${i}`)
  }
})

test('wrong prefixes, lengths and characters are not tokens', () => {
  const token = mintToken('access_token')
  for (const bad of [
    '',
    'kh_at_',
    token.slice(0, -1),
    `${token}0`,
    token.replace('kh_at_', 'kh_xx_'),
    token.replace('kh_at_', 'KH_AT_'),
    `${token.slice(0, 20)}-${token.slice(21)}`,
    `${token.slice(0, 20)}é${token.slice(21)}`,
    'x'.repeat(100_000),
  ]) {
    assert.equal(tokenKindOf(bad), undefined, JSON.stringify(bad.slice(0, 60)))
  }
})

test('a valid-looking token with the access prefix swapped for refresh fails the checksum', () => {
  const token = mintToken('access_token')
  assert.equal(tokenKindOf(token.replace('kh_at_', 'kh_rt_')), undefined)
})
