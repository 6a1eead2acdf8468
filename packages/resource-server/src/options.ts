/** Public options of createTokenVerifier. Defaults are documented beside each option. */
import type { KeyObject, webcrypto } from 'node:crypto'
import type { JWK } from 'jose'
import type { CacheOptions } from './cache.ts'
import type { DpopReplayStore } from './dpop.ts'
import type { AsHttpOptions } from './http-client.ts'
import type { CompatibilityFlags } from './normalize.ts'
import type { RequestLike } from './request.ts'

/** How this API authenticates to the introspection endpoint. */
export type ClientCredentials =
  | {
      readonly clientId: string
      readonly clientSecret: string
      /**
       * Default `client_secret_basic` (RFC 6749 §2.3.1, form-encoded before base64).
       * `client_secret_basic_raw` skips the form-encoding for servers that expect it (pitfall P-09).
       */
      readonly method?: 'client_secret_basic' | 'client_secret_post' | 'client_secret_basic_raw'
    }
  | {
      readonly clientId: string
      /** private_key_jwt (RFC 7523): a private JWK, KeyObject or CryptoKey. */
      readonly privateKey: JWK | KeyObject | webcrypto.CryptoKey
      /** Default: the key's own `alg`, else RS256 for RSA, ES256 for P-256, EdDSA for Ed25519. */
      readonly alg?: string
      readonly kid?: string
    }

/**
 * - `introspect`: ask the AS about every token (cached). Default.
 * - `jwt`: validate JWT access tokens locally (RFC 9068) with the issuer's JWKS; no AS round trip.
 * - `jwt+introspect`: validate locally first, then introspect too, so revocation is seen.
 * - `auto`: JWT-shaped tokens are validated locally, others introspected.
 */
export type Strategy = 'introspect' | 'jwt' | 'jwt+introspect' | 'auto'

export interface JwtOptions {
  /** Accepted `alg` values (RFC 8725 §3.1). Default RS256, PS256, ES256, EdDSA. Never `none` or HS*. */
  readonly algorithms?: readonly string[]
  /**
   * `strict` (default): header `typ` must be `at+jwt` / `application/at+jwt` (RFC 9068 §4).
   * `allow-jwt`: also `JWT` or no `typ` (Azure AD, PingFederate; pitfall P-12), still with
   * mandatory `aud` and `client_id`.
   */
  readonly typ?: 'strict' | 'allow-jwt'
}

export interface IssuerOptions {
  /** The issuer identifier; discovery (RFC 8414) uses it and it must match exactly. */
  readonly issuer: string
  /** Needed by every strategy that introspects. */
  readonly credentials?: ClientCredentials
  readonly strategy?: Strategy
  /** Skip discovery of the introspection endpoint. */
  readonly introspectionEndpoint?: string
  /** Skip discovery of the JWKS. */
  readonly jwksUri?: string
  /** Ask for RFC 9701 signed introspection responses (verified against the issuer's JWKS). Default `json`. */
  readonly introspectionResponse?: 'json' | 'jwt'
  /** Per-issuer tolerance of known AS quirks (checklist Q-08). */
  readonly compat?: CompatibilityFlags
  readonly jwt?: JwtOptions
  /**
   * Subscribe to the issuer's revocation events (docs/revocation-events.md, an extension served
   * by @keyhole/server and the test kit): the AS pushes the hashes of revoked tokens and this API
   * drops them from its caches at once instead of trusting them until the cache TTL runs out. The stream
   * uses the same credentials as introspection. Default off. `true` finds the endpoint in the
   * RFC 8414 metadata (`keyhole_revocation_events_endpoint`); `{ endpoint }` skips discovery.
   * Only for strategies that introspect (`introspect`, `jwt+introspect`, `auto`).
   * Answers cached before the stream is first ready are dropped then (nothing can replay what
   * was revoked before it existed); a `reset` from the AS, or an event that cannot be read,
   * drops every in-process answer, and shared second-level entries loaded before it are no
   * longer used (they are asked for again). The stream reconnects by itself (backoff from
   * 0.5 s to 30 s; 30 s after a 4xx); `onEvent` reports it. Call `close()` on the verifier to
   * end it.
   */
  readonly revocationEvents?: boolean | { readonly endpoint?: string }
}

export interface DpopOptions {
  /** Accepted proof algorithms. Default ES256, RS256, PS256, EdDSA. */
  readonly algorithms?: readonly string[]
  /** How old (or how far in the future) a proof's `iat` may be, seconds. Default 60. */
  readonly maxAgeSeconds?: number
  /**
   * The scheme, host and port clients use to reach this API (for `htu`, RFC 9449 §4.3), e.g.
   * `https://api.example.com`. Default: the origin of an absolute request URL, else of `audience`.
   */
  readonly origin?: string
  /**
   * Where used proofs are remembered across the API's processes (RFC 9449 §11.1), e.g.
   * `createRedisReplayStore(client)` from `@keyhole/resource-server/redis`: a proof accepted by
   * one instance is then refused by every other. Default: this process only.
   */
  readonly replayStore?: DpopReplayStore
  /**
   * How long to wait for `replayStore`, ms. Default 100. A store that does not answer in time
   * (or fails) makes the request 503 with `Retry-After`: an unchecked proof is not accepted.
   */
  readonly replayStoreTimeoutMs?: number
}

/**
 * RFC 8705 §3 certificate-bound access tokens. Tokens whose `cnf` has `x5t#S256` are checked
 * whether or not this is given (against the TLS connection's client certificate); giving it says
 * that this API is served over mutual TLS, and the RFC 9728 metadata then says
 * `tls_client_certificate_bound_access_tokens: true`.
 */
export interface MtlsOptions {
  /**
   * Read the client certificate from this request header, in RFC 9440 form
   * (`Client-Cert: :<base64 DER>:`), instead of from the TLS connection; e.g. `'client-cert'`.
   * Only behind a TLS-terminating proxy that sets it on every request and removes any copy sent
   * by a client (RFC 9440 §2.4 and §4, RFC 9700 §4.13): whoever can reach this API without the proxy can
   * claim any certificate with it. When set, the connection's own certificate is not used.
   */
  readonly certificateHeader?: string
}

export interface ProtectedResourceMetadataOptions {
  /** Where the RFC 9728 document is published; default derived from `audience` (§3). */
  readonly url?: string
  readonly scopesSupported?: readonly string[]
  readonly resourceName?: string
  readonly resourceDocumentation?: string
}

export type VerifierEvent =
  | {
      readonly type: 'active' | 'inactive'
      readonly issuer: string
      readonly source: 'cache' | 'introspection' | 'jwt'
    }
  | {
      readonly type: 'introspection'
      readonly issuer: string
      readonly durationMs: number
      readonly outcome: 'active' | 'inactive' | 'error'
    }
  | { readonly type: 'cache'; readonly issuer: string; readonly result: 'hit' | 'miss' | 'stale' }
  | { readonly type: 'as_error'; readonly issuer: string; readonly reason: string }
  | {
      readonly type: 'rejected'
      readonly status: number
      readonly error: string
      readonly reason: string
    }
  | {
      readonly type: 'second_level_error'
      readonly operation: 'get' | 'set' | 'delete'
      readonly reason: string
    }
  /**
   * The revocation event stream of an issuer. `connected`: the AS said `ready` (any replay is
   * done; pushes are live). `disconnected`: an attempt ended, connected or not (refused, AS
   * unreachable, stream ended or silent); `reason` says why, and the subscriber retries.
   */
  | {
      readonly type: 'revocation_stream'
      readonly issuer: string
      readonly state: 'connected' | 'disconnected'
      readonly reason?: string
    }
  /**
   * A `revoked` event dropped `tokens` tokens from the caches. `lagMs`: now − the AS's
   * `revoked_at`, across two clocks (0 when ours is behind).
   */
  | {
      readonly type: 'revocation_pushed'
      readonly issuer: string
      readonly tokens: number
      readonly lagMs: number
    }
  /** The AS could not replay what was missed (`reset`): every in-process answer was dropped. */
  | { readonly type: 'revocation_reset'; readonly issuer: string }
  /** A `ready` or `revoked` event whose data could not be used; it was ignored. */
  | {
      readonly type: 'revocation_malformed'
      readonly issuer: string
      readonly event: 'ready' | 'revoked'
      readonly reason: string
    }

/** The top-level issuer members are the single-issuer shorthand; `issuers` configures several. */
export interface VerifierOptions extends Partial<IssuerOptions> {
  /** Several issuers (multi-tenant). A JWT picks its issuer by `iss`; an opaque token by `resolveIssuer`, else the first. */
  readonly issuers?: readonly IssuerOptions[]
  readonly resolveIssuer?: (req: RequestLike) => string | undefined
  /** This API's identifier: tokens whose audience does not include it are `invalid_token`. */
  readonly audience: string
  /** `realm` of the challenges. Default: the audience. */
  readonly realm?: string
  /** Seconds of tolerance on exp / nbf / iat. Default 30. */
  readonly clockSkew?: number
  /** Reject an active answer without `token_type` (checklist Q-09 strict mode). Default false. */
  readonly requireTokenType?: boolean
  readonly cache?: CacheOptions
  readonly http?: AsHttpOptions
  /** Accept and check DPoP-bound tokens (RFC 9449). Default: DPoP on with defaults. `false` turns it off. */
  readonly dpop?: DpopOptions | false
  /**
   * Certificate-bound tokens (RFC 8705). Default: checked against the client certificate of the
   * TLS connection (which the adapters read when the API itself terminates TLS with
   * `requestCert`), not advertised in the metadata. An object (even `{}`) also advertises it;
   * `false` refuses every certificate-bound token.
   */
  readonly mtls?: MtlsOptions | false
  /** RFC 9728: publish metadata and point 401s at it. Default on, derived from `audience`. `false` turns it off. */
  readonly resourceMetadata?: ProtectedResourceMetadataOptions | false
  /** Observability hook; events never carry tokens. An exception it throws is ignored. */
  readonly onEvent?: (event: VerifierEvent) => void
}
