/** @keyhole/resource-server public API. */
export type { CacheOptions, SecondLevelCache } from './cache.ts'
export type { DpopReplayStore } from './dpop.ts'
export type { MetricsSnapshot } from './metrics.ts'
export { certificateThumbprint } from './mtls.ts'
export type { CompatibilityFlags } from './normalize.ts'
export type {
  ClientCredentials,
  DpopOptions,
  IssuerOptions,
  JwtOptions,
  MtlsOptions,
  ProtectedResourceMetadataOptions,
  Strategy,
  VerifierEvent,
  VerifierOptions,
} from './options.ts'
export type { Policy, VerifiedToken } from './policy.ts'
export type { HeadersLike, RequestLike } from './request.ts'
export type { ProtectedResourceMetadata } from './resource-metadata.ts'
export {
  createTokenVerifier,
  type TokenVerifier,
  VerifierOptionsError,
  type VerifyErrorCode,
  type VerifyFailure,
  type VerifyResult,
} from './verifier.ts'
