/**
 * Configuration: read once at start, validated completely, every default documented beside it.
 * Every error names the option path (`clients[0].scopes[1]: ...`) so an operator can fix it at once.
 * docs/configuration.md is the reference; keep the two together.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, isAbsolute, resolve } from 'node:path'
import * as v from 'valibot'
import { readClientJwks } from './client-auth/client-jwks.ts'
import { PRINCIPAL_ID } from './client-auth/credentials.ts'
import type { LogLevel } from './log.ts'
import { isPostgresUrl, parsePostgresUrl } from './store/postgres/postgres-url.ts'
import type { ClientRecord, ResourceRecord } from './store/store.ts'
import type { RateLimit } from './throttle/rate-limiter.ts'
import { parseRedisUrl, type RedisConfig } from './throttle/redis-url.ts'
import { hashSecret, isSecretHash } from './tokens/hash.ts'
import { SIGNING_ALGORITHMS } from './tokens/signing-keys.ts'

export class ConfigError extends Error {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

const Id = v.pipe(
  v.string(),
  v.regex(
    PRINCIPAL_ID,
    'must be 1 to 255 printable ASCII characters, not starting or ending with a space',
  ),
)
const Scope = v.pipe(v.string(), v.regex(SCOPE_TOKEN, 'is not a scope-token (RFC 6749 §3.3)'))
const Secret = v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(1024))
const SecretHash = v.pipe(
  v.string(),
  v.check(isSecretHash, 'must be a value printed by `keyhole hash-secret` (sha256:...)'),
)
/**
 * A JWK Set (RFC 7517 §5) of the public keys a principal signs private_key_jwt assertions with
 * (RFC 7523); client-auth/client-jwks.ts checks each key.
 */
const Jwks = v.strictObject({
  keys: v.pipe(
    v.array(v.record(v.string(), v.unknown())),
    v.minLength(1, 'must hold at least one key'),
    v.maxLength(10, 'may hold at most 10 keys'),
  ),
})
const Seconds = (max: number) =>
  v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(max))
const Limit = v.strictObject({
  limit: v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1)),
  windowSeconds: Seconds(86_400),
})

const ResourceSchema = v.strictObject({
  id: Id,
  audience: v.string(),
  secret: v.optional(Secret),
  secretHash: v.optional(SecretHash),
  /** Public keys: it authenticates by private_key_jwt only. One of secret, secretHash, jwks. */
  jwks: v.optional(Jwks),
  scopes: v.array(Scope),
  /**
   * RFC 9701 §6 `introspection_signed_response_alg`: the algorithm of its JWT introspection
   * answers; a key of `signingKeys` must have it. Default: RS256 (the RFC's default) when a key
   * has it, else the algorithm of the first key.
   */
  introspectionSignedResponseAlg: v.optional(v.picklist(SIGNING_ALGORITHMS)),
})

const ClientSchema = v.strictObject({
  id: Id,
  secret: v.optional(Secret),
  secretHash: v.optional(SecretHash),
  /** Public keys: it authenticates by private_key_jwt only. One of secret, secretHash, jwks. */
  jwks: v.optional(Jwks),
  /** Grant types the client may use. Default: ["client_credentials"]. */
  grantTypes: v.optional(v.array(v.picklist(['client_credentials'])), ['client_credentials']),
  /** Scopes the client may ask for; each belongs to one resource. Default: none. */
  scopes: v.optional(v.array(Scope), []),
  /** Access-token lifetime in seconds. Default 600 (10 minutes); at most one day. */
  accessTokenTtl: v.optional(Seconds(86_400), 600),
  /** `opaque` (kh_at_ tokens) or `jwt` (RFC 9068, signed by the first key). Default opaque. */
  accessTokenFormat: v.optional(v.picklist(['opaque', 'jwt']), 'opaque'),
  /**
   * RFC 9449 §5.2 `dpop_bound_access_tokens`: refuse its token requests that carry no DPoP proof.
   * Default false: a proof, when sent, binds the token either way.
   */
  dpopBoundAccessTokens: v.optional(v.boolean(), false),
})

/** An IP address, or a CIDR range with a prefix length that fits its family. */
const ProxyAddress = v.pipe(
  v.string(),
  v.check((entry) => {
    const [address, prefix, extra] = entry.split('/')
    const family = isIP(address ?? '')
    if (family === 0 || extra !== undefined) return false
    if (prefix === undefined) return true
    if (!/^[0-9]{1,3}$/.test(prefix)) return false
    return Number(prefix) <= (family === 4 ? 32 : 128)
  }, 'must be an IP address or a CIDR range (10.0.0.0/8, fd00::/8)'),
)

const ConfigSchema = v.strictObject({
  /** The issuer identifier (RFC 8414 §2). Default: http://{host}:{port}. */
  issuer: v.optional(v.string()),
  /** Default 127.0.0.1; `--host` overrides. */
  host: v.optional(v.string(), '127.0.0.1'),
  /** Default 9400; `--port` overrides; 0 picks a free port. */
  port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65_535)), 9400),
  /**
   * `sqlite:PATH` (relative to the config file), `sqlite::memory:`, or a PostgreSQL URL
   * (`postgres://user:password@host:port/db?max=10`) that several servers may share.
   * Default: sqlite:./keyhole.db.
   */
  storage: v.optional(v.string(), 'sqlite:./keyhole.db'),
  /**
   * A JWK Set file of private signing keys (relative to the config file). Default: beside a
   * SQLite database (`keyhole.db-keys.json`), created with new keys at first start; in memory for
   * `sqlite::memory:`; required with PostgreSQL, since every server must sign with the same keys.
   */
  signingKeys: v.optional(v.string()),
  resources: v.optional(v.array(ResourceSchema), []),
  clients: v.optional(v.array(ClientSchema), []),
  /**
   * Reverse proxies in front of Keyhole (addresses or CIDR ranges): for connections from them, the
   * client address the throttles use is read from X-Forwarded-For. Default none: the header is
   * ignored, since any client could send it.
   */
  trustedProxies: v.optional(v.array(ProxyAddress), []),
  /**
   * `redis://:password@host:6379/0` (`rediss://` for TLS): the throttles count there, shared by
   * every server that names the same Redis. Default none: each server counts in its own memory.
   */
  redis: v.optional(v.string()),
  limits: v.optional(
    v.strictObject({
      /** Largest request body, in bytes. Default 16384. */
      bodyBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024)), 16_384),
      /**
       * Revocation event streams one resource may hold open at once: each process of an API
       * holds one per verifier. Default 64.
       */
      revocationStreamsPerResource: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)),
        64,
      ),
    }),
    {},
  ),
  throttle: v.optional(
    v.strictObject({
      /** Failed client authentications, per source address and per client id + address. Default 20 a minute. */
      failedAuth: v.optional(Limit, { limit: 20, windowSeconds: 60 }),
      /** Inactive answers about tokens meant for the caller (expired, revoked), per caller. Default 300 a minute. */
      inactiveIntrospection: v.optional(Limit, { limit: 300, windowSeconds: 60 }),
    }),
    {},
  ),
  features: v.optional(
    v.strictObject({
      /** RFC 7662 endpoint. Default on. */
      introspection: v.optional(v.boolean(), true),
      revocation: v.optional(
        v.strictObject({
          /** RFC 7009 endpoint. Default on. */
          enabled: v.optional(v.boolean(), true),
          /** Whether access tokens can be revoked (RFC 7009 §2: SHOULD). Default on. */
          accessTokens: v.optional(v.boolean(), true),
        }),
        {},
      ),
      /**
       * The revocation event stream resource servers subscribe to (docs/revocation-events.md).
       * Default on.
       */
      revocationEvents: v.optional(v.boolean(), true),
    }),
    {},
  ),
  clientAuthentication: v.optional(
    v.strictObject({
      /** Also accept client_secret_basic values that were not form-encoded (checklist Q-06). Default on. */
      tolerateRawBasic: v.optional(v.boolean(), true),
      /**
       * How long a successfully verified credential is remembered, in milliseconds: a credential
       * removed or re-keyed by another process keeps working in this one at most that long.
       * Default 1000; 0 checks the store on every request; at most 60000.
       */
      verifiedCacheMs: v.optional(
        v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(0), v.maxValue(60_000)),
        1000,
      ),
    }),
    {},
  ),
  log: v.optional(
    v.strictObject({
      level: v.optional(v.picklist(['debug', 'info', 'warn', 'error']), 'info'),
      /** One line per request: method, path, status, milliseconds. Default on. */
      requests: v.optional(v.boolean(), true),
    }),
    {},
  ),
})

export type StorageConfig =
  | {
      readonly kind: 'sqlite'
      readonly path: string
      readonly durability: 'normal' | 'full'
    }
  | {
      readonly kind: 'postgres'
      /** As written in the config: it may hold a password, so no message ever quotes it. */
      readonly url: string
    }

/** Where the signing keys come from (tokens/signing-keys.ts). */
export type SigningKeysConfig =
  | { readonly kind: 'file'; readonly path: string; readonly create: boolean }
  | { readonly kind: 'memory' }

export interface ServerConfig {
  /** Undefined: derived from the address the server listens on. */
  readonly issuer: string | undefined
  readonly host: string
  readonly port: number
  readonly storage: StorageConfig
  readonly signingKeys: SigningKeysConfig
  readonly resources: readonly ResourceRecord[]
  readonly clients: readonly ClientRecord[]
  /** Reverse proxies whose X-Forwarded-For names the client: addresses or CIDR ranges. */
  readonly trustedProxies: readonly string[]
  readonly limits: { readonly bodyBytes: number; readonly revocationStreamsPerResource: number }
  readonly throttle: { readonly failedAuth: RateLimit; readonly inactiveIntrospection: RateLimit }
  /** Where the throttles count, shared; undefined: in this process. The URL is never quoted. */
  readonly redis: RedisConfig | undefined
  readonly features: {
    readonly introspection: boolean
    readonly revocation: { readonly enabled: boolean; readonly accessTokens: boolean }
    readonly revocationEvents: boolean
  }
  readonly clientAuthentication: {
    readonly tolerateRawBasic: boolean
    readonly verifiedCacheMs: number
  }
  readonly log: { readonly level: LogLevel; readonly requests: boolean }
  /** Things worth telling the operator that do not stop the server (weak secrets, plain http). */
  readonly warnings: readonly string[]
}

export interface ConfigOverrides {
  readonly port?: number
  readonly host?: string
}

function pathOf(issue: v.BaseIssue<unknown>): string {
  let out = ''
  for (const item of issue.path ?? []) {
    const key = item.key
    out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`
  }
  return out === '' ? '(root)' : out
}

/** valibot quotes the value it received; never echo it: a secret may sit where it does not belong. */
function messageOf(issue: v.BaseIssue<unknown>): string {
  // Never the value, whatever the key: a secret can sit where an object belongs ("shop:s3cret").
  return issue.message.replace(/ but received [\s\S]*$/, '')
}

/** RFC 8707 §2 / RFC 3986 §4.3: an absolute URI without a fragment. */
export function isAbsoluteUriWithoutFragment(value: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s#]*$/.test(value)) return false
  try {
    new URL(value)
    return true
  } catch {
    return false
  }
}

function checkIssuer(issuer: string): string | undefined {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    return 'must be an absolute URL'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL'
  // RFC 8414 §2: no query or fragment components.
  if (url.search !== '' || url.hash !== '' || issuer.includes('?') || issuer.includes('#')) {
    return 'must not have a query or fragment (RFC 8414 §2)'
  }
  return undefined
}

function parseStorage(value: string, baseDir: string): StorageConfig | string {
  if (isPostgresUrl(value)) {
    // Checked here, connected to at start; the problem never quotes the URL (a password).
    const target = parsePostgresUrl(value)
    return typeof target === 'string' ? target : { kind: 'postgres', url: value }
  }
  if (!value.startsWith('sqlite:')) {
    return 'must be sqlite:PATH, sqlite::memory: or postgres://user:password@host:port/database'
  }
  const [rest = '', query = ''] = value.slice('sqlite:'.length).split('?', 2)
  const params = new URLSearchParams(query)
  const sync = params.get('synchronous') ?? 'normal'
  if (sync !== 'normal' && sync !== 'full') return 'synchronous must be normal or full'
  if (rest === '') return 'needs a path, e.g. sqlite:./keyhole.db'
  const path = rest === ':memory:' ? ':memory:' : isAbsolute(rest) ? rest : resolve(baseDir, rest)
  return { kind: 'sqlite', path, durability: sync }
}

/**
 * An explicit file is created when missing only beside a SQLite database: servers sharing
 * PostgreSQL must all sign with the same keys, so their file is made once, by the operator
 * (`keyhole keys generate`), and copied to each.
 */
function signingKeysOf(
  value: string | undefined,
  storage: StorageConfig | string,
  baseDir: string,
): SigningKeysConfig | string {
  if (typeof storage === 'string') return { kind: 'memory' }
  const shared = storage.kind === 'postgres'
  if (value !== undefined) {
    if (value === '') return 'must be a file path'
    return {
      kind: 'file',
      path: isAbsolute(value) ? value : resolve(baseDir, value),
      create: !shared,
    }
  }
  if (shared) {
    return 'required with PostgreSQL storage: every server must sign with the same keys (create the file with `keyhole keys generate`)'
  }
  if (storage.path === ':memory:') return { kind: 'memory' }
  return { kind: 'file', path: `${storage.path}-keys.json`, create: true }
}

/** Validate a parsed JSON config. `baseDir` resolves relative paths (the config file's folder). */
export function parseConfig(
  input: unknown,
  baseDir: string,
  overrides: ConfigOverrides = {},
): ServerConfig {
  const parsed = v.safeParse(ConfigSchema, input)
  if (!parsed.success) {
    throw new ConfigError(parsed.issues.map((issue) => `${pathOf(issue)}: ${messageOf(issue)}`))
  }
  const raw = parsed.output
  const problems: string[] = []
  const warnings: string[] = []

  if (raw.issuer !== undefined) {
    const problem = checkIssuer(raw.issuer)
    if (problem !== undefined) problems.push(`issuer: ${problem}`)
  }
  const storage = parseStorage(raw.storage, baseDir)
  if (typeof storage === 'string') problems.push(`storage: ${storage}`)

  const ids = new Map<string, string>()
  const claimId = (id: string, path: string) => {
    const first = ids.get(id)
    if (first !== undefined) problems.push(`${path}.id: "${id}" is already used by ${first}`)
    else ids.set(id, path)
  }
  // One method per principal (as RFC 7591 token_endpoint_auth_method): a secret, or keys.
  const secretOf = (
    entry: {
      secret?: string | undefined
      secretHash?: string | undefined
      jwks?: unknown
      id: string
    },
    path: string,
  ): string | null => {
    const given =
      Number(entry.secret !== undefined) +
      Number(entry.secretHash !== undefined) +
      Number(entry.jwks !== undefined)
    if (given !== 1) {
      problems.push(`${path}: give exactly one of secret, secretHash or jwks`)
      return null
    }
    if (entry.jwks !== undefined) return null
    if (entry.secret !== undefined) {
      if (entry.secret.length < 32) {
        warnings.push(
          `${path}.secret is short (${entry.secret.length} characters); use \`keyhole hash-secret --generate\` for production`,
        )
      }
      return hashSecret(entry.secret)
    }
    return entry.secretHash ?? null
  }
  const jwksOf = (entry: { jwks?: v.InferOutput<typeof Jwks> | undefined }, path: string) =>
    entry.jwks === undefined ? null : readClientJwks(entry.jwks.keys, `${path}.jwks`, problems)

  const scopeOwner = new Map<string, string>()
  const audiences = new Map<string, string>()
  const resources: ResourceRecord[] = raw.resources.map((r, i) => {
    const path = `resources[${i}]`
    claimId(r.id, path)
    if (!isAbsoluteUriWithoutFragment(r.audience)) {
      problems.push(`${path}.audience: must be an absolute URI without a fragment (RFC 8707 §2)`)
    }
    const other = audiences.get(r.audience)
    if (other !== undefined) problems.push(`${path}.audience: already used by ${other}`)
    audiences.set(r.audience, path)
    r.scopes.forEach((scope, j) => {
      const owner = scopeOwner.get(scope)
      if (owner !== undefined && owner !== r.id) {
        problems.push(`${path}.scopes[${j}]: "${scope}" already belongs to resource "${owner}"`)
      }
      scopeOwner.set(scope, r.id)
    })
    return {
      kind: 'resource',
      id: r.id,
      audience: r.audience,
      secretHash: secretOf(r, path),
      jwks: jwksOf(r, path),
      scopes: [...new Set(r.scopes)],
      introspectionSignedResponseAlg: r.introspectionSignedResponseAlg,
      source: 'config',
    }
  })
  const clients: ClientRecord[] = raw.clients.map((c, i) => {
    const path = `clients[${i}]`
    claimId(c.id, path)
    c.scopes.forEach((scope, j) => {
      if (!scopeOwner.has(scope)) {
        problems.push(`${path}.scopes[${j}]: "${scope}" is not a scope of any resource`)
      }
    })
    return {
      kind: 'client',
      id: c.id,
      secretHash: secretOf(c, path),
      jwks: jwksOf(c, path),
      grantTypes: [...new Set(c.grantTypes)],
      scopes: [...new Set(c.scopes)],
      accessTokenTtl: c.accessTokenTtl,
      accessTokenFormat: c.accessTokenFormat,
      dpopBoundAccessTokens: c.dpopBoundAccessTokens,
      source: 'config',
    }
  })

  const signingKeys = signingKeysOf(raw.signingKeys, storage, baseDir)
  if (typeof signingKeys === 'string') problems.push(`signingKeys: ${signingKeys}`)
  // Checked here, connected to at start; the problem never quotes the URL (a password).
  const redis = raw.redis === undefined ? undefined : parseRedisUrl(raw.redis)
  if (typeof redis === 'string') problems.push(`redis: ${redis}`)

  if (
    problems.length > 0 ||
    typeof storage === 'string' ||
    typeof signingKeys === 'string' ||
    typeof redis === 'string'
  ) {
    throw new ConfigError(problems)
  }

  const issuer = raw.issuer
  if (issuer?.startsWith('http:')) {
    warnings.push(
      'issuer: plain http is for local development; use https in production (RFC 7662 §4)',
    )
  }
  return {
    issuer,
    host: overrides.host ?? raw.host,
    port: overrides.port ?? raw.port,
    storage,
    signingKeys,
    resources,
    clients,
    trustedProxies: raw.trustedProxies,
    limits: raw.limits,
    throttle: raw.throttle,
    redis,
    features: raw.features,
    clientAuthentication: raw.clientAuthentication,
    log: raw.log,
    warnings,
  }
}

/** Read and validate a JSON config file. */
export function loadConfigFile(file: string, overrides: ConfigOverrides = {}): ServerConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new ConfigError([`${file}: cannot read the file (${code})`])
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // The parser's message quotes the input, which may hold secrets: name the file only.
    throw new ConfigError([`${file}: not valid JSON`])
  }
  return parseConfig(json, dirname(resolve(file)), overrides)
}
