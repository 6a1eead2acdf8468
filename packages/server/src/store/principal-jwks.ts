/**
 * A principal's private_key_jwt keys as stored: the JWK Set as JSON text in a `jwks` column, NULL
 * for a principal with a secret (exactly one of `secret_hash` and `jwks` is set; both stores check
 * it). The config checked the keys before they were written (client-auth/client-jwks.ts).
 */
import type { PublicJwkSet } from './store.ts'

export function jwksJson(jwks: PublicJwkSet | null): string | null {
  return jwks === null ? null : JSON.stringify(jwks)
}

/** What a `jwks` column holds, read back. Text that is not a key set reads as no keys at all. */
export function readJwks(value: string | null): PublicJwkSet | null {
  if (value === null) return null
  try {
    const parsed = JSON.parse(value) as unknown
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      Array.isArray((parsed as { keys?: unknown }).keys)
    ) {
      return parsed as PublicJwkSet
    }
  } catch {
    // fall through: fail closed
  }
  return { keys: [] }
}
