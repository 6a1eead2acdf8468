/**
 * Strict, tolerant-where-safe reading of an introspection response (RFC 7662 §2.2, checklist §1a,
 * Q-08, pitfalls P-01..P-05). Whatever the AS sends, the rest of the library sees one shape.
 *
 * Rules: only the JSON boolean `true` is active (P-02). `scope` is a space-separated string, or an
 * array of strings (P-01; unambiguous, accepted by default). `aud` is a string or an array (P-03).
 * `exp`/`iat`/`nbf` are numbers of seconds; numeric strings only with `compat.numericStrings`, and
 * values that can only be milliseconds are refused unless `compat.millisecondTimes` (P-04).
 * `null` and "" mean absent (P-05); `nbf: 0` means no constraint.
 */

export interface CompatibilityFlags {
  /** Accept `"exp": "1700000000"` (ballerina, some IndieAuth servers). Default false. */
  readonly numericStrings?: boolean
  /** Convert `exp`/`iat`/`nbf` above 10^11 from milliseconds (Gluu oxAuth). Default false: refused. */
  readonly millisecondTimes?: boolean
  /** Accept `scope` as a JSON array. Default true. */
  readonly scopeArray?: boolean
}

/** The normalized facts about an active token. `claims` keeps every member the AS sent. */
export interface TokenInfo {
  readonly active: true
  readonly scopes: readonly string[]
  readonly audience: readonly string[]
  readonly clientId?: string
  readonly username?: string
  readonly tokenType?: string
  readonly exp?: number
  readonly iat?: number
  readonly nbf?: number
  readonly sub?: string
  readonly iss?: string
  readonly jti?: string
  /** RFC 7800 / RFC 9449 §6 / RFC 8705 §3.2 confirmation (sender constraint). */
  readonly cnf?: Readonly<Record<string, unknown>>
  readonly claims: Readonly<Record<string, unknown>>
}

export type Introspected = TokenInfo | { readonly active: false }

export type Normalized =
  | { readonly ok: true; readonly value: Introspected }
  | { readonly ok: false; readonly reason: string }

const INACTIVE = { ok: true, value: { active: false } } as const

function bad(reason: string): Normalized {
  return { ok: false, reason }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

export function normalizeIntrospection(body: unknown, compat: CompatibilityFlags = {}): Normalized {
  if (!isRecord(body)) return bad('the introspection response is not a JSON object')
  if (typeof body.active !== 'boolean') return bad('"active" is not a JSON boolean')
  if (body.active !== true) return INACTIVE

  const scopes = readScope(body.scope, compat)
  if (scopes === undefined) return bad('"scope" is neither a string nor an array of strings')
  const audience = readAudience(body.aud)
  if (audience === undefined) return bad('"aud" is neither a string nor an array of strings')

  const info: Record<string, unknown> = { active: true, scopes, audience, claims: body }
  for (const [member, key] of [
    ['client_id', 'clientId'],
    ['username', 'username'],
    ['token_type', 'tokenType'],
    ['sub', 'sub'],
    ['iss', 'iss'],
    ['jti', 'jti'],
  ] as const) {
    const value = body[member]
    if (value === undefined || value === null || value === '') continue
    if (typeof value !== 'string') return bad(`"${member}" is not a string`)
    info[key] = value
  }
  for (const member of ['exp', 'iat', 'nbf'] as const) {
    const value = readTime(body[member], compat)
    if (value === 'invalid') return bad(`"${member}" is not a NumericDate in seconds`)
    if (value !== undefined && !(member === 'nbf' && value === 0)) info[member] = value
  }
  if (body.cnf !== undefined && body.cnf !== null) {
    if (!isRecord(body.cnf)) return bad('"cnf" is not an object')
    info.cnf = body.cnf
  }
  return { ok: true, value: info as unknown as TokenInfo }
}

function readScope(value: unknown, compat: CompatibilityFlags): string[] | undefined {
  if (value === undefined || value === null) return []
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '')
  if (
    Array.isArray(value) &&
    compat.scopeArray !== false &&
    value.every((s): s is string => typeof s === 'string')
  ) {
    return value.flatMap((s) => s.split(' ')).filter((s) => s !== '')
  }
  return undefined
}

/** Never split a string on spaces, never join an array (P-03). */
function readAudience(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return []
  if (typeof value === 'string') return value === '' ? [] : [value]
  if (Array.isArray(value) && value.every((s): s is string => typeof s === 'string')) return value
  return undefined
}

const MILLISECONDS_THRESHOLD = 1e11

function readTime(value: unknown, compat: CompatibilityFlags): number | undefined | 'invalid' {
  if (value === undefined || value === null) return undefined
  let n: number
  if (typeof value === 'number') n = value
  else if (
    typeof value === 'string' &&
    compat.numericStrings === true &&
    /^\d+(\.\d+)?$/.test(value)
  ) {
    n = Number(value)
  } else return 'invalid'
  if (!Number.isFinite(n) || n < 0) return 'invalid'
  if (n > MILLISECONDS_THRESHOLD) {
    if (compat.millisecondTimes !== true) return 'invalid'
    n = n / 1000
  }
  return Math.floor(n)
}
