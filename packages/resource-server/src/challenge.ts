/**
 * RFC 6750 §3 `WWW-Authenticate` challenges (plus RFC 9728 §5.1 `resource_metadata` and RFC 9449
 * §7.1 DPoP). One function builds them all, so every parameter is escaped the same way.
 */

/** RFC 6750 §3.1 codes, plus RFC 9449 §7.1 `invalid_dpop_proof` (DPoP challenges only). */
export type BearerErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'

export interface ChallengeInput {
  readonly scheme: 'Bearer' | 'DPoP'
  readonly realm?: string | undefined
  /** RFC 6750 §3.1: SHOULD NOT be sent when the request had no authentication at all. */
  readonly error?: BearerErrorCode | undefined
  readonly description?: string | undefined
  /** RFC 6750 §3: the scopes needed (403 insufficient_scope). */
  readonly scope?: readonly string[] | undefined
  /** RFC 9728 §5.1 */
  readonly resourceMetadata?: string | undefined
  /** RFC 9449 §7.1: the DPoP algorithms accepted. */
  readonly algs?: readonly string[] | undefined
}

/**
 * RFC 6750 §3: error and error_description use %x20-21 / %x23-5B / %x5D-7E; scope-tokens
 * %x21 / %x23-5B / %x5D-7E. Quotes and backslashes are dropped so the quoted-string stays valid
 * (checklist B-10).
 */
const quoted = (value: string) => `"${value.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')}"`

export function buildChallenge(input: ChallengeInput): string {
  const params: string[] = []
  if (input.realm !== undefined) params.push(`realm=${quoted(input.realm)}`)
  if (input.algs !== undefined && input.algs.length > 0)
    params.push(`algs=${quoted(input.algs.join(' '))}`)
  if (input.error !== undefined) {
    params.push(`error=${quoted(input.error)}`)
    if (input.description !== undefined)
      params.push(`error_description=${quoted(input.description)}`)
  }
  if (input.scope !== undefined && input.scope.length > 0)
    params.push(`scope=${quoted(input.scope.join(' '))}`)
  if (input.resourceMetadata !== undefined)
    params.push(`resource_metadata=${quoted(input.resourceMetadata)}`)
  // RFC 6750 §3: the scheme is followed by at least one auth-param; realm is the fallback.
  if (params.length === 0) params.push('realm="api"')
  return `${input.scheme} ${params.join(', ')}`
}
