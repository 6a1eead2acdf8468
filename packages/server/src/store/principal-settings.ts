/**
 * A principal's protocol settings that no query selects on (RFC 7591-style metadata): one JSON
 * column in every store, so that a new setting needs no schema change. Absent members take their
 * defaults, which is also what a row written before a setting existed reads as.
 */
import type { AccessTokenFormat, Principal } from './store.ts'

export interface PrincipalSettings {
  readonly accessTokenFormat: AccessTokenFormat
  readonly introspectionSignedResponseAlg: string | undefined
  readonly dpopBoundAccessTokens: boolean
}

export const DEFAULT_SETTINGS: PrincipalSettings = Object.freeze({
  accessTokenFormat: 'opaque',
  introspectionSignedResponseAlg: undefined,
  dpopBoundAccessTokens: false,
})

export function settingsJson(p: Principal): string {
  return JSON.stringify(
    p.kind === 'client'
      ? { accessTokenFormat: p.accessTokenFormat, dpopBoundAccessTokens: p.dpopBoundAccessTokens }
      : { introspectionSignedResponseAlg: p.introspectionSignedResponseAlg },
  )
}

export function readSettings(value: unknown): PrincipalSettings {
  let parsed: unknown = value
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value)
    } catch {
      parsed = undefined
    }
  }
  const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>
  return {
    accessTokenFormat: o.accessTokenFormat === 'jwt' ? 'jwt' : DEFAULT_SETTINGS.accessTokenFormat,
    introspectionSignedResponseAlg:
      typeof o.introspectionSignedResponseAlg === 'string'
        ? o.introspectionSignedResponseAlg
        : DEFAULT_SETTINGS.introspectionSignedResponseAlg,
    dpopBoundAccessTokens: o.dpopBoundAccessTokens === true,
  }
}
