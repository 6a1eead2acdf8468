import { oauthError } from '@keyhole/protocol'
import { fail, ok, type Result } from '../result.ts'

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by spaces.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** The distinct scope-tokens of a `scope` parameter, in request order. */
export function parseScope(value: string): Result<string[]> {
  const scopes = new Set<string>()
  for (const token of value.split(' ')) {
    if (token === '') continue
    if (!SCOPE_TOKEN.test(token)) {
      return fail(oauthError('invalid_scope', 'scope has a character RFC 6749 §3.3 does not allow'))
    }
    scopes.add(token)
  }
  if (scopes.size === 0) return fail(oauthError('invalid_scope', 'scope is empty'))
  return ok([...scopes])
}
