/**
 * client_secret_basic (RFC 6749 §2.3.1): `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
 * Split on the first raw ":" (an encoded secret carries its own ":" as %3A), then form-decode both
 * parts. Many clients skip the encoding (checklist P-09), so the raw parts are offered too.
 */
import { oauthError } from '@keyhole/protocol'
import { fail, ok, type Result } from '../result.ts'
import type { Credentials } from './credentials.ts'

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '))
  } catch {
    return undefined
  }
}

/** The credential pairs to try, decoded form first. */
export function parseBasicCredentials(
  authorization: string,
  tolerateRaw: boolean,
): Result<readonly Credentials[]> {
  const encoded = authorization.slice('basic'.length).trim()
  const malformed = fail<readonly Credentials[]>(
    oauthError('invalid_client', 'malformed Basic credentials'),
  )
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) return malformed
  let userPass: string
  try {
    userPass = utf8.decode(Buffer.from(encoded, 'base64'))
  } catch {
    return malformed
  }
  const colon = userPass.indexOf(':')
  if (colon <= 0) return malformed
  const rawId = userPass.slice(0, colon)
  const rawSecret = userPass.slice(colon + 1)
  const id = formDecode(rawId)
  const secret = formDecode(rawSecret)
  const candidates: Credentials[] = []
  if (id !== undefined && secret !== undefined && id !== '' && secret !== '') {
    candidates.push({ clientId: id, secret })
  }
  if (
    (tolerateRaw || candidates.length === 0) &&
    (rawId !== id || rawSecret !== secret) &&
    rawSecret !== ''
  ) {
    candidates.push({ clientId: rawId, secret: rawSecret })
  }
  return candidates.length === 0 ? malformed : ok(candidates)
}
