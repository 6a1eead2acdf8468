import type { OAuthError } from '@keyhole/protocol'

/** What validators return: a value, or the protocol error to answer with. */
export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: OAuthError }

export const ok = <T>(value: T): Result<T> => ({ ok: true, value })
export const fail = <T = never>(error: OAuthError): Result<T> => ({ ok: false, error })
