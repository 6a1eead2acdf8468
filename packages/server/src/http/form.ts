/**
 * application/x-www-form-urlencoded bodies, read strictly.
 *
 * RFC 6749 §3.2: parameters sent without a value are treated as omitted, and a parameter MUST NOT be
 * included more than once (except those an endpoint declares repeatable, such as RFC 8707 `resource`).
 * Malformed percent-encoding and invalid UTF-8 are errors, never silently replaced characters.
 */
import { oauthError } from '@keyhole/protocol'
import { fail, ok, type Result } from '../result.ts'

export interface FormParams {
  /** The value of a single-valued parameter (duplicates were already rejected). */
  get(name: string): string | undefined
  /** Every value of a repeatable parameter. */
  getAll(name: string): readonly string[]
  has(name: string): boolean
}

const EMPTY: readonly string[] = []

class Params implements FormParams {
  readonly #values = new Map<string, string[]>()
  add(name: string, value: string): void {
    const list = this.#values.get(name)
    if (list === undefined) this.#values.set(name, [value])
    else list.push(value)
  }
  count(name: string): number {
    return this.#values.get(name)?.length ?? 0
  }
  get(name: string): string | undefined {
    return this.#values.get(name)?.[0]
  }
  getAll(name: string): readonly string[] {
    return this.#values.get(name) ?? EMPTY
  }
  has(name: string): boolean {
    return this.#values.has(name)
  }
}

export const EMPTY_FORM: FormParams = new Params()

/** The parameter names Keyhole's endpoints read (RFC 6749, 7009, 7521, 7662, 8707). */
const PARAMETER_NAMES: ReadonlySet<string> = new Set([
  'grant_type',
  'scope',
  'resource',
  'audience',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'token',
  'token_type_hint',
  'refresh_token',
  'code',
  'redirect_uri',
  'code_verifier',
  'state',
])

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function decodeComponent(raw: string): string | undefined {
  if (!raw.includes('%') && !raw.includes('+')) return raw
  try {
    // decodeURIComponent rejects malformed escapes and escapes that are not valid UTF-8.
    return decodeURIComponent(raw.replaceAll('+', ' '))
  } catch {
    return undefined
  }
}

export function parseForm(body: Uint8Array, repeatable: ReadonlySet<string>): Result<FormParams> {
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    return fail(oauthError('invalid_request', 'the request body is not valid UTF-8'))
  }
  const params = new Params()
  if (text === '') return ok(params)
  for (const pair of text.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq))
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1))
    if (name === undefined || value === undefined) {
      return fail(
        oauthError('invalid_request', 'the request body has malformed percent-encoding or UTF-8'),
      )
    }
    // RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were omitted".
    if (value === '') continue
    if (params.count(name) === 1 && !repeatable.has(name)) {
      // Only the protocol's own names are echoed: anything else may be a pasted token or secret.
      const which = PARAMETER_NAMES.has(name) ? `parameter "${name}"` : 'a parameter'
      return fail(oauthError('invalid_request', `${which} is repeated`))
    }
    params.add(name, value)
  }
  return ok(params)
}
