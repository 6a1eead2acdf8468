import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseForm } from '../src/http/form.ts'

const bytes = (s: string) => Buffer.from(s, 'latin1')
const NONE = new Set<string>()

describe('application/x-www-form-urlencoded parsing', () => {
  test('RFC 6749 Appendix B: + is a space and %XX are UTF-8 bytes', () => {
    const parsed = parseForm(bytes('a=%2B%25%26%2B%C2%A3%E2%82%AC&b=x+y'), NONE)
    assert.ok(parsed.ok)
    assert.equal(parsed.value.get('a'), '+%&+£€')
    assert.equal(parsed.value.get('b'), 'x y')
  })

  test('O-05 a repeated parameter is invalid_request, naming it', () => {
    const parsed = parseForm(bytes('scope=a&scope=b'), NONE)
    assert.ok(!parsed.ok)
    assert.equal(parsed.error.error, 'invalid_request')
    assert.match(parsed.error.description ?? '', /"scope" is repeated/)
  })

  test('X-02 a parameter declared repeatable keeps every value in order', () => {
    const parsed = parseForm(
      bytes('resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb'),
      new Set(['resource']),
    )
    assert.ok(parsed.ok)
    assert.deepEqual(parsed.value.getAll('resource'), ['https://a', 'https://b'])
  })

  test('O-05 empty values count as omitted, so an empty duplicate is not a repeat', () => {
    const parsed = parseForm(bytes('token=&scope=&scope=a&flag'), NONE)
    assert.ok(parsed.ok)
    assert.equal(parsed.value.has('token'), false)
    assert.equal(parsed.value.get('scope'), 'a')
    assert.equal(parsed.value.has('flag'), false)
  })

  for (const [name, body] of [
    ['raw bytes that are not UTF-8', 'token=\xff\xfe'],
    ['a percent escape that is not UTF-8', 'token=%FF'],
    ['an encoded lone surrogate', 'token=%ED%A0%80'],
    ['a malformed percent escape', 'token=%zz'],
    ['a truncated percent escape', 'token=abc%4'],
  ] as const) {
    test(`${name} is invalid_request, not a replaced character`, () => {
      const parsed = parseForm(bytes(body), NONE)
      assert.ok(!parsed.ok)
      assert.equal(parsed.error.error, 'invalid_request')
    })
  }

  test('an error never echoes a parameter value, nor a name that is not a protocol parameter', () => {
    const token = 'kh_at_2sR9xQwKf0bLmN4pV7tY1uZ8cA3dE6gH5iJ0kL9mN2oP4qS'
    for (const body of [`${token}=1&${token}=2`, 'token=a&token=b']) {
      const parsed = parseForm(bytes(body), NONE)
      assert.ok(!parsed.ok)
      const description = parsed.error.description ?? ''
      assert.equal(description.includes('kh_at_'), false, description)
      assert.equal(description.includes(' b'), false, description)
    }
    const pasted = parseForm(bytes(`${token}=1&${token}=2`), NONE)
    assert.ok(!pasted.ok)
    assert.equal(pasted.error.description, 'a parameter is repeated')
  })
})
