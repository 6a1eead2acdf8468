import type { Clock } from './brand.ts'
import type { ClientAuthDeps } from './client-auth/authenticate.ts'
import type { ServerConfig } from './config.ts'
import type { RevocationEvents } from './events/revocation-events.ts'
import type { Logger } from './log.ts'
import type { Store } from './store/store.ts'
import type { RateLimiter } from './throttle/rate-limiter.ts'
import type { SigningKeys } from './tokens/signing-keys.ts'

/** Everything an endpoint may depend on. Endpoints take a Pick of it; only app.ts builds it. */
export interface Deps {
  readonly config: ServerConfig
  /** The issuer identifier, exactly as published (RFC 8414 §2). */
  readonly issuer: string
  readonly store: Store
  readonly clock: Clock
  readonly logger: Logger
  readonly auth: ClientAuthDeps
  /** Where revocations are told to the resource servers they concern. */
  readonly revocationEvents: RevocationEvents
  /** Per-caller budget of inactive answers (RFC 7662 §4, token scanning). */
  readonly inactiveIntrospection: RateLimiter
  /** What signs JWT access tokens and RFC 9701 answers, and what `jwks_uri` publishes. */
  readonly signingKeys: SigningKeys
}
