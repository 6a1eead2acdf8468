/**
 * The composition root: builds the dependencies once, mounts the routes the features turn on, and
 * derives the metadata document from the same table. The only module that imports http/.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Clock, systemClock } from './brand.ts'
import { createVerifiedCredentials, forgettingOnSync } from './client-auth/verified-credentials.ts'
import { ConfigError, type ServerConfig } from './config.ts'
import type { Deps } from './deps.ts'
import { healthEndpoint, readinessEndpoint } from './endpoints/health.ts'
import { introspectionEndpoint } from './endpoints/introspection.ts'
import { jwksEndpoint } from './endpoints/jwks.ts'
import { metadataEndpoint } from './endpoints/metadata.ts'
import { revocationEndpoint } from './endpoints/revocation.ts'
import { revocationEventsEndpoint } from './endpoints/revocation-events.ts'
import { tokenEndpoint } from './endpoints/token.ts'
import { createRevocationEvents } from './events/revocation-events.ts'
import { trustedProxies } from './http/client-address.ts'
import { createRequestListener } from './http/server.ts'
import type { Route } from './http/types.ts'
import { createLogger, describeError, type Logger } from './log.ts'
import { openStore, storeStartError } from './store/open-store.ts'
import type { Store } from './store/store.ts'
import { openThrottles, type Throttles } from './throttle/throttles.ts'
import {
  GENERATED_ALGORITHMS,
  generateSigningJwk,
  importSigningKeys,
  loadOrCreateSigningKeys,
  SigningKeyError,
  type SigningKeys,
} from './tokens/signing-keys.ts'

export interface AuthorizationServer {
  /** Where the server listens, e.g. http://127.0.0.1:9400. */
  readonly url: string
  /** The issuer identifier it publishes. */
  readonly issuer: string
  close(): Promise<void>
}

export interface StartOptions {
  readonly logger?: Logger
  readonly clock?: Clock
  /** Use this store instead of opening the configured one (store contract tests, embedding). */
  readonly store?: Store
}

const SWEEP_INTERVAL_MS = 60_000
/** How long `close()` lets requests in flight finish before it cuts their connections. */
const CLOSE_GRACE_MS = 5_000

export async function createAuthorizationServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<AuthorizationServer> {
  const logger = options.logger ?? createLogger({ level: config.log.level })
  const clock = options.clock ?? systemClock
  const verified = createVerifiedCredentials(config.clientAuthentication.verifiedCacheMs)
  const store = forgettingOnSync(options.store ?? (await openStore(config.storage)), verified)
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 })
  server.keepAliveTimeout = 65_000
  const revocationEvents = createRevocationEvents({
    perResource: config.limits.revocationStreamsPerResource,
  })
  let stopRevocationFeed: (() => Promise<void>) | undefined
  let signingKeys: SigningKeys
  let throttles: Throttles | undefined
  try {
    signingKeys = await openSigningKeys(config, logger)
    throttles = await openThrottles(config, logger)
    await store.syncPrincipals('config', [...config.resources, ...config.clients])
    // A store that several servers share tells every server of every revocation, whichever
    // server made it (this one included: the revocation endpoint then leaves publishing to the
    // feed). Listening starts before the port opens, so no subscriber can miss the first ones.
    if (config.features.revocationEvents && store.revocations !== undefined) {
      stopRevocationFeed = await store.revocations.listen({
        revoked: (tokens, atMs) => revocationEvents.publish(tokens, atMs),
        missed: () => {
          logger.log('warn', 'revocation feed interrupted: event subscribers are told to reset')
          revocationEvents.reset()
        },
      })
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.port, config.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    // A start that fails (the port taken, a config the store refuses) leaves no file open.
    await stopRevocationFeed?.()
    await throttles?.close()
    if (options.store === undefined) await store.close()
    // A database that cannot be reached or used is named like any other storage problem.
    throw storeStartError(err)
  }
  for (const warning of config.warnings) logger.log('warn', warning)
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host}:${address.port}`
  const issuer = config.issuer ?? url
  const base = issuer.endsWith('/') ? issuer.slice(0, -1) : issuer
  // RFC 8414 §3: the well-known string goes between the host and the issuer's path.
  const issuerPath = new URL(base).pathname.replace(/\/$/, '')

  const deps: Deps = {
    config,
    issuer,
    store,
    clock,
    logger,
    auth: {
      store,
      failedAuth: throttles.failedAuth,
      tolerateRawBasic: config.clientAuthentication.tolerateRawBasic,
      // The realm is a quoted-string (RFC 9110 §11.6.1): drop what would end it early.
      realm: issuer.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, ''),
      verified,
      issuer,
      clock,
      logger,
    },
    inactiveIntrospection: throttles.inactiveIntrospection,
    revocationEvents,
    signingKeys,
  }

  // The feature table: routes and metadata both come from here.
  const { features } = config
  const endpoints = {
    token: `${base}/token`,
    jwks: `${base}/jwks`,
    introspection: features.introspection ? `${base}/introspect` : undefined,
    revocation: features.revocation.enabled ? `${base}/revoke` : undefined,
    revocationEvents: features.revocationEvents ? `${base}/revocation-events` : undefined,
  }
  const routes: Route[] = [
    {
      method: 'POST',
      path: `${issuerPath}/token`,
      repeatable: ['resource'],
      noStore: true,
      handle: tokenEndpoint(deps, endpoints.token),
    },
    {
      method: 'GET',
      path: `/.well-known/oauth-authorization-server${issuerPath}`,
      handle: metadataEndpoint({ issuer, endpoints }, deps),
    },
    { method: 'GET', path: `${issuerPath}/jwks`, handle: jwksEndpoint(deps) },
    { method: 'GET', path: '/healthz', handle: healthEndpoint() },
    { method: 'GET', path: '/readyz', handle: readinessEndpoint(deps) },
  ]
  if (features.introspection) {
    routes.push({
      method: 'POST',
      path: `${issuerPath}/introspect`,
      noStore: true,
      handle: introspectionEndpoint(deps),
    })
  }
  if (features.revocation.enabled) {
    routes.push({
      method: 'POST',
      path: `${issuerPath}/revoke`,
      noStore: true,
      handle: revocationEndpoint(deps),
    })
  }
  if (features.revocationEvents) {
    routes.push({
      method: 'POST',
      path: `${issuerPath}/revocation-events`,
      noStore: true,
      handle: revocationEventsEndpoint(deps),
    })
  }
  const listener = createRequestListener({
    routes,
    bodyLimit: config.limits.bodyBytes,
    logger,
    logRequests: config.log.requests,
    proxies: trustedProxies(config.trustedProxies),
  })
  let closing = false
  server.on('request', (req, res) => {
    // While closing, every answer ends its connection: a keep-alive client (a resource server's
    // pool) would otherwise keep one open, and serve on it, for ever.
    if (closing) res.setHeader('Connection', 'close')
    listener(req, res)
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed HTTP, headers over the limit, a request too slow: answer and drop the connection,
    // never crash. As node's own handler does: not while an earlier request's answer is on its
    // way on this connection (a raw status line would be taken for that answer), and 431 or 408
    // where they apply (RFC 6585 §5, RFC 9110 §15.5.9).
    const pending = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (!socket.writable || pending?.headersSent === true) {
      socket.destroy()
      return
    }
    socket.end(
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'
          : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
    )
  })

  const sweep = setInterval(() => {
    store
      .deleteExpiredTokens(clock.now())
      .catch((err: unknown) =>
        logger.log('error', 'expired-token sweep failed', describeError(err)),
      )
  }, SWEEP_INTERVAL_MS)
  sweep.unref()

  logger.log('info', 'listening', { url, issuer })
  // Whoever started the server (the CLI, a test, a supervisor) reads this line before going on.
  logger.flush?.()
  return {
    url,
    issuer,
    async close() {
      clearInterval(sweep)
      closing = true
      // Open event streams would hold the server up to its grace period: they end now (their
      // subscribers reconnect to whichever server is up, and learn what they missed).
      deps.revocationEvents.close()
      await stopRevocationFeed?.()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // Requests in flight get this long to finish; then their connections are cut.
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref()
      })
      await throttles?.close()
      if (options.store === undefined) await store.close()
      logger.flush?.()
    },
  }
}

/**
 * The key file, created beside a SQLite database at first start; fresh keys in memory for an
 * in-memory database. Every algorithm a resource registered must have a key (RFC 9701 §6).
 */
async function openSigningKeys(config: ServerConfig, logger: Logger): Promise<SigningKeys> {
  let keys: SigningKeys
  try {
    if (config.signingKeys.kind === 'memory') {
      const jwks = { keys: await Promise.all(GENERATED_ALGORITHMS.map(generateSigningJwk)) }
      keys = await importSigningKeys(jwks, 'signingKeys (in memory)')
    } else {
      const opened = await loadOrCreateSigningKeys(config.signingKeys.path, config.signingKeys)
      if (opened.created) {
        logger.log('info', 'signing keys created', { file: config.signingKeys.path })
      }
      keys = opened.keys
    }
  } catch (err) {
    if (err instanceof SigningKeyError) throw new ConfigError([err.message])
    throw err
  }
  const problems = config.resources.flatMap((r, i) =>
    r.introspectionSignedResponseAlg !== undefined &&
    keys.forAlgorithm(r.introspectionSignedResponseAlg) === undefined
      ? [
          `resources[${i}].introspectionSignedResponseAlg: no key of signingKeys has ${r.introspectionSignedResponseAlg}`,
        ]
      : [],
  )
  if (problems.length > 0) throw new ConfigError(problems)
  return keys
}
