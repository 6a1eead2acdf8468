/**
 * A strict RFC 9110 §11.6.1 / §11.2 `WWW-Authenticate` parser for tests: throws on anything that
 * is not a list of challenges, on a challenge without parameters when `requireParams` (RFC 6750 §3:
 * Bearer is followed by at least one auth-param), and on a repeated parameter (RFC 6750 §3: each
 * at most once).
 */

export interface Challenge {
  readonly scheme: string
  /** Parameter names lower-cased; values unquoted. */
  readonly params: Readonly<Record<string, string>>
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y
const OWS = /[ \t]*/y

export function parseChallenges(header: string, requireParams = true): Challenge[] {
  let at = 0
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = at
    const m = re.exec(header)
    if (m === null) return undefined
    at = re.lastIndex
    return m[0]
  }
  const fail = (what: string): never => {
    throw new Error(`invalid WWW-Authenticate at ${at} (${what}): ${header}`)
  }
  const quoted = (): string => {
    let value = ''
    at++ // DQUOTE
    for (;;) {
      const c = header[at]
      if (c === undefined) return fail('unterminated quoted-string')
      if (c === '"') {
        at++
        return value
      }
      if (c === '\\') {
        const next = header[at + 1]
        if (next === undefined) return fail('dangling quoted-pair')
        value += next
        at += 2
        continue
      }
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (!/[\t \x21\x23-\x5B\x5D-\x7E\x80-\xFF]/.test(c)) return fail('character outside qdtext')
      value += c
      at++
    }
  }

  const challenges: Challenge[] = []
  match(OWS)
  while (at < header.length) {
    const scheme = match(TOKEN) ?? fail('auth-scheme')
    const params: Record<string, string> = {}
    if (header[at] === ' ') {
      // 1*SP #auth-param (a token68 is never used by Bearer or DPoP).
      match(OWS)
      for (;;) {
        const start = at
        const name = match(TOKEN) ?? fail('auth-param name')
        match(OWS)
        if (header[at] !== '=') {
          if (Object.keys(params).length === 0) fail('auth-param')
          at = start // a token without "=" after a comma starts the next challenge
          break
        }
        at++
        match(OWS)
        const value = header[at] === '"' ? quoted() : (match(TOKEN) ?? fail('auth-param value'))
        const key = name.toLowerCase()
        if (Object.hasOwn(params, key)) fail(`repeated parameter ${key}`)
        params[key] = value
        match(OWS)
        if (at >= header.length) break
        if (header[at] !== ',') fail('"," expected')
        at++
        match(OWS)
        if (at >= header.length) fail('trailing ","')
      }
    } else if (at < header.length) {
      match(OWS)
      if (header[at] !== ',') fail('"," expected')
      at++
      match(OWS)
    }
    if (requireParams && Object.keys(params).length === 0) fail(`${scheme} without auth-params`)
    challenges.push({ scheme, params })
  }
  return challenges
}

/** The one challenge of `scheme` (case-insensitive) in the header; throws if absent or repeated. */
export function challengeOf(header: string | undefined, scheme = 'Bearer'): Challenge {
  if (header === undefined) throw new Error('no WWW-Authenticate')
  const found = parseChallenges(header).filter(
    (c) => c.scheme.toLowerCase() === scheme.toLowerCase(),
  )
  if (found.length !== 1) throw new Error(`expected one ${scheme} challenge in: ${header}`)
  return found[0] as Challenge
}
