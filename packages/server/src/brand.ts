/** Branded primitives: a value of these types has been validated or computed by the one function that makes it. */
declare const brand: unique symbol
export type Brand<T, B extends string> = T & { readonly [brand]: B }

/** base64url(SHA-256(token)): the only form of a token that is stored or used as a key. */
export type TokenHash = Brand<string, 'TokenHash'>
/** Seconds since the epoch (RFC 7519 NumericDate, whole seconds). */
export type EpochSeconds = Brand<number, 'EpochSeconds'>

export interface Clock {
  now(): EpochSeconds
}

export const systemClock: Clock = {
  now: () => Math.floor(Date.now() / 1000) as EpochSeconds,
}
