/**
 * The production store: PostgreSQL through `postgres` (porsager), shared by several servers.
 *
 * No token record is kept in memory. Several servers write the same tables, so no process sees
 * every write, and a record kept here could hide a revocation made through another server
 * (docs/architecture.md: the SQLite store may keep records because it owns its file; this one
 * may not). Every read asks the database; statements are prepared once per connection.
 *
 * Opening is synchronous and connects nothing: the pool connects on first use, and the schema is
 * created or migrated once, before the first operation (a schema from a newer Keyhole is refused).
 * Failures of that first use are `StoreUnavailableError`s whose messages name the server's host
 * and port, never the user or password.
 *
 * Revocations fan out through LISTEN/NOTIFY: `revokeGrant` sends a notification on
 * `keyhole_revocations` in the same transaction as its UPDATE, so PostgreSQL delivers it exactly
 * when the revocation commits, to every server listening (this one included), and never for one
 * that did not commit. Each store listens on one connection of its own; when that connection
 * drops, it listens again and tells its listeners that revocations may have been missed.
 */
import postgres from 'postgres'
import type { EpochSeconds, TokenHash } from '../../brand.ts'
import type { TokenKind, TokenRecord } from '../../tokens/token-record.ts'
import { jwksJson, readJwks } from '../principal-jwks.ts'
import { readSettings, settingsJson } from '../principal-settings.ts'
import {
  type GrantType,
  type Principal,
  type PrincipalSource,
  type ResourceRecord,
  type RevocationFeed,
  type RevocationListener,
  type RevokedToken,
  type Store,
  StoreUnavailableError,
} from '../store.ts'
import { type PostgresTarget, parsePostgresUrl } from './postgres-url.ts'
import { createSlots } from './slots.ts'

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`, optionally `?max=10&sslmode=require`. */
  readonly url: string
  /** Connections in the pool. Default: the URL's `max`, else 10. */
  readonly max?: number
  /**
   * How often the revocation listener's connection is checked, ms (a `SELECT 1` that must answer
   * within the same time). Default 15,000.
   */
  readonly listenerCheckMs?: number
}

export const SCHEMA_VERSION = 4

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE principals (
      id               text PRIMARY KEY,
      kind             text NOT NULL CHECK (kind IN ('client', 'resource')),
      secret_hash      text NOT NULL,
      audience         text UNIQUE,
      scopes           text[] NOT NULL,
      grant_types      text[] NOT NULL,
      access_token_ttl integer,
      source           text NOT NULL
    );
    CREATE TABLE tokens (
      hash        text PRIMARY KEY,
      kind        text NOT NULL,
      jti         text NOT NULL,
      client_id   text NOT NULL,
      sub         text NOT NULL,
      scopes      text[] NOT NULL,
      audience    text[] NOT NULL,
      issued_at   bigint NOT NULL,
      not_before  bigint NOT NULL,
      expires_at  bigint NOT NULL,
      revoked_at  bigint,
      grant_id    text NOT NULL
    );
    CREATE INDEX tokens_expires_at ON tokens (expires_at);
    CREATE INDEX tokens_grant_id ON tokens (grant_id);
  `,
  // Protocol settings of a principal (principal-settings.ts).
  2: `ALTER TABLE principals ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';`,
  // private_key_jwt (principal-jwks.ts): a principal has a secret hash or a JWK Set, exactly one.
  // Used client assertion ids (RFC 7523 §3 jti), by SHA-256, until they expire: every server
  // sharing the database refuses an assertion any of them took.
  3: `
    ALTER TABLE principals ALTER COLUMN secret_hash DROP NOT NULL;
    ALTER TABLE principals ADD COLUMN jwks text;
    ALTER TABLE principals ADD CONSTRAINT principals_one_credential
      CHECK ((secret_hash IS NULL) <> (jwks IS NULL));
    CREATE TABLE used_assertions (
      key         text PRIMARY KEY,
      expires_at  bigint NOT NULL
    );
    CREATE INDEX used_assertions_expires_at ON used_assertions (expires_at);
  `,
  // RFC 9449 §6: the JWK thumbprint a DPoP-bound token is bound to (cnf.jkt); NULL: Bearer (a
  // nullable column without a default: no table rewrite). Used DPoP proof ids share
  // used_assertions, under keys of their own (tokens/dpop-proof.ts).
  4: 'ALTER TABLE tokens ADD COLUMN jkt text;',
}

/** The channel revocations are told on. */
export const REVOCATION_CHANNEL = 'keyhole_revocations'
/** PostgreSQL refuses a notification payload of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7_999
/** Expired tokens deleted per statement by the sweep. */
const SWEEP_BATCH = 1_000
/** A readiness check that gets no answer in this long fails. */
const PING_TIMEOUT_MS = 5_000
const CONNECT_TIMEOUT_SECONDS = 10
/** Longest pause between two attempts to listen again after the listening connection dropped. */
const RELISTEN_MAX_PAUSE_MS = 5_000
/**
 * A listening connection whose network path dies silently (no reset) would otherwise be noticed
 * only by TCP keepalive, minutes later, while subscribers are told nothing.
 */
const LISTENER_CHECK_MS = 15_000
// Transaction-scoped advisory locks: the servers sharing a database migrate it, and sync their
// config into it, one at a time (two syncs upserting the same rows in different orders could
// deadlock). Any two 32-bit numbers Keyhole owns ("kh" and a counter).
const MIGRATION_LOCK = 0x6b68_0001
const SYNC_LOCK = 0x6b68_0002

interface PrincipalRow {
  id: string
  kind: 'client' | 'resource'
  secret_hash: string | null
  audience: string | null
  scopes: string[]
  grant_types: string[]
  access_token_ttl: number | null
  source: PrincipalSource
  settings: unknown
  jwks: string | null
}

/** bigint columns come back as strings (they may exceed 2^53 in general; ours never do). */
interface TokenRow {
  kind: TokenKind
  jti: string
  client_id: string
  sub: string
  scopes: string[]
  audience: string[]
  issued_at: string
  not_before: string
  expires_at: string
  revoked_at: string | null
  grant_id: string
  jkt: string | null
}

interface RevokedRow {
  hash: string
  kind: TokenKind
  audience: string[]
}

function principalOf(row: PrincipalRow): Principal {
  const settings = readSettings(row.settings)
  if (row.kind === 'resource') {
    return {
      kind: 'resource',
      id: row.id,
      audience: row.audience ?? '',
      secretHash: row.secret_hash,
      jwks: readJwks(row.jwks),
      scopes: row.scopes,
      introspectionSignedResponseAlg: settings.introspectionSignedResponseAlg,
      source: row.source,
    }
  }
  return {
    kind: 'client',
    id: row.id,
    secretHash: row.secret_hash,
    jwks: readJwks(row.jwks),
    grantTypes: row.grant_types as GrantType[],
    scopes: row.scopes,
    accessTokenTtl: row.access_token_ttl ?? 0,
    accessTokenFormat: settings.accessTokenFormat,
    dpopBoundAccessTokens: settings.dpopBoundAccessTokens,
    source: row.source,
  }
}

function tokenRecordOf(hash: TokenHash, row: TokenRow): TokenRecord {
  return {
    hash,
    kind: row.kind,
    jti: row.jti,
    clientId: row.client_id,
    sub: row.sub,
    scopes: row.scopes,
    audience: row.audience,
    issuedAt: Number(row.issued_at) as EpochSeconds,
    notBefore: Number(row.not_before) as EpochSeconds,
    expiresAt: Number(row.expires_at) as EpochSeconds,
    revokedAt: row.revoked_at === null ? null : (Number(row.revoked_at) as EpochSeconds),
    grantId: row.grant_id,
    cnf: row.jkt === null ? null : { jkt: row.jkt },
  }
}

/**
 * A failure of the database, told without the URL (it may hold a password): what the server
 * answered, or the driver's or the network's code. Anything else (a bug) is left as it is.
 */
function unavailable(err: unknown, where: string): unknown {
  if (err instanceof StoreUnavailableError) return err
  if (err instanceof postgres.PostgresError) {
    // Class 28 (invalid authorization): the server's text names the user; the code says enough.
    if (err.code.startsWith('28')) {
      return new StoreUnavailableError(
        `the PostgreSQL server at ${where} refused the credentials (${err.code})`,
      )
    }
    return new StoreUnavailableError(
      `the PostgreSQL server at ${where} refused: ${err.message} (${err.code})`,
    )
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (typeof code !== 'string') return err
  const unreachable = /^E[A-Z]+$|^CONNECT|^CONNECTION_/.test(code)
  return new StoreUnavailableError(
    `cannot ${unreachable ? 'reach' : 'use'} the PostgreSQL server at ${where} (${code})`,
  )
}

/**
 * SQLSTATE classes that say the database cannot serve now (connection exception, insufficient
 * resources, operator intervention such as a shutdown, system error), not that a query is wrong.
 */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58'])
const UNREACHABLE = /^E[A-Z]+$|^CONNECT|^CONNECTION_/

/**
 * While serving: a database that cannot answer becomes a StoreUnavailableError (the request is
 * answered 503 with Retry-After); anything else (a constraint, a bug) stays what it is (500).
 */
function unavailableNow(err: unknown, where: string): unknown {
  if (err instanceof StoreUnavailableError) return err
  if (err instanceof postgres.PostgresError) {
    return UNAVAILABLE_CLASSES.has(err.code.slice(0, 2)) ? unavailable(err, where) : err
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && UNREACHABLE.test(code) ? unavailable(err, where) : err
}

/** How long one operation may take, waiting for a slot included, before it is given up (503). */
const OPERATION_TIMEOUT_MS = 5_000

function driverOptions(
  target: PostgresTarget,
  max: number,
): postgres.Options<Record<string, never>> {
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ssl: target.ssl,
    max,
    connect_timeout: CONNECT_TIMEOUT_SECONDS,
    // The driver prints notices with console.log by default: stdout is the JSON log.
    onnotice: () => {},
    connection: { application_name: 'keyhole' },
  }
}

export function openPostgresStore(options: PostgresStoreOptions): Store {
  const target = parsePostgresUrl(options.url)
  // The config checked the URL already; embedders get the same message, quoting nothing.
  if (typeof target === 'string') throw new StoreUnavailableError(`the PostgreSQL URL ${target}`)
  const { where } = target
  const max = options.max ?? target.max
  const sql = postgres(driverOptions(target, max))
  // Never more operations in flight than connections (slots.ts says why).
  const { run } = createSlots(max)

  /**
   * One operation while serving: in its turn, within OPERATION_TIMEOUT_MS. A database that stops
   * answering (a partition, no reset) would otherwise hold requests until TCP gives up, minutes
   * later; the operation itself keeps its slot until the driver settles it.
   */
  async function serve<T>(operation: () => PromiseLike<T>): Promise<T> {
    try {
      return await withDeadline(run(operation), OPERATION_TIMEOUT_MS, where)
    } catch (err) {
      throw unavailableNow(err, where)
    }
  }
  const feed = createRevocationFeed(target, options.listenerCheckMs ?? LISTENER_CHECK_MS)

  let migrated = false
  let migrating: Promise<void> | undefined
  /** Migrate once, before the first operation; a failed attempt is tried again next time. */
  const ready = (): Promise<void> => {
    migrating ??= run(() => migrate(sql)).then(
      () => {
        migrated = true
      },
      (err: unknown) => {
        migrating = undefined
        throw unavailable(err, where)
      },
    )
    return migrating
  }

  return {
    revocations: feed,

    // Run at every start: what goes wrong is told as a store problem (the start names `storage`).
    async syncPrincipals(source, principals) {
      if (!migrated) await ready()
      const keep = principals.map((p) => p.id)
      try {
        await run(() =>
          sql.begin(async (tx) => {
            await tx`SELECT pg_advisory_xact_lock(${SYNC_LOCK})`
            await tx`
            DELETE FROM principals WHERE source = ${source} AND NOT (id = ANY(${keep}::text[]))`
            for (const p of principals) {
              await tx`
              INSERT INTO principals (id, kind, secret_hash, audience, scopes, grant_types,
                access_token_ttl, source, settings, jwks)
              VALUES (${p.id}, ${p.kind}, ${p.secretHash},
                ${p.kind === 'resource' ? p.audience : null}, ${p.scopes as string[]}::text[],
                ${p.kind === 'client' ? (p.grantTypes as string[]) : []}::text[],
                ${p.kind === 'client' ? p.accessTokenTtl : null}, ${source},
                ${settingsJson(p)}::jsonb, ${jwksJson(p.jwks)})
              ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,
                secret_hash = excluded.secret_hash, audience = excluded.audience,
                scopes = excluded.scopes, grant_types = excluded.grant_types,
                access_token_ttl = excluded.access_token_ttl, source = excluded.source,
                settings = excluded.settings, jwks = excluded.jwks`
            }
          }),
        )
      } catch (err) {
        throw unavailable(err, where)
      }
    },

    async findPrincipal(id) {
      if (!migrated) await ready()
      const [row] = await serve(
        () => sql<PrincipalRow[]>`
        SELECT id, kind, secret_hash, audience, scopes, grant_types, access_token_ttl, source,
          settings, jwks
        FROM principals WHERE id = ${id}`,
      )
      return row === undefined ? undefined : principalOf(row)
    },

    async listResources() {
      if (!migrated) await ready()
      const rows = await serve(
        () => sql<PrincipalRow[]>`
        SELECT id, kind, secret_hash, audience, scopes, grant_types, access_token_ttl, source,
          settings, jwks
        FROM principals WHERE kind = 'resource' ORDER BY id COLLATE "C"`,
      )
      return rows.map((row) => principalOf(row) as ResourceRecord)
    },

    // The promise settles when the INSERT has committed (synchronous_commit: the server's own
    // durability setting decides what "committed" survives).
    async insertToken(r) {
      if (!migrated) await ready()
      await serve(
        () => sql`
        INSERT INTO tokens (hash, kind, jti, client_id, sub, scopes, audience, issued_at,
          not_before, expires_at, revoked_at, grant_id, jkt)
        VALUES (${r.hash}, ${r.kind}, ${r.jti}, ${r.clientId}, ${r.sub},
          ${r.scopes as string[]}::text[], ${r.audience as string[]}::text[], ${r.issuedAt},
          ${r.notBefore}, ${r.expiresAt}, ${r.revokedAt}, ${r.grantId},
          ${r.cnf === null ? null : r.cnf.jkt})`,
      )
    },

    async findToken(hash) {
      if (!migrated) await ready()
      const [row] = await serve(
        () => sql<TokenRow[]>`
        SELECT kind, jti, client_id, sub, scopes, audience, issued_at, not_before, expires_at,
          revoked_at, grant_id, jkt
        FROM tokens WHERE hash = ${hash}`,
      )
      return row === undefined ? undefined : tokenRecordOf(hash, row)
    },

    async revokeGrant(hash, at) {
      if (!migrated) await ready()
      const atMs = Date.now()
      let revoked: RevokedToken[] = []
      await serve(() =>
        sql.begin(async (tx) => {
          // Two servers revoking one grant at once: the second waits for the first's row locks,
          // then finds revoked_at set and changes (and tells) nothing. Each token is told once.
          const rows = await tx<RevokedRow[]>`
          UPDATE tokens SET revoked_at = ${at}
          WHERE revoked_at IS NULL
            AND grant_id = (SELECT grant_id FROM tokens WHERE hash = ${hash})
          RETURNING hash, kind, audience`
          revoked = rows.map((row) => ({
            hash: row.hash as TokenHash,
            kind: row.kind,
            audience: row.audience,
          }))
          // Delivered when, and only if, this transaction commits.
          for (const payload of revocationPayloads(revoked, atMs)) {
            await tx`SELECT pg_notify(${REVOCATION_CHANNEL}, ${payload})`
          }
        }),
      )
      return revoked
    },

    async deleteExpiredTokens(before) {
      if (!migrated) await ready()
      let deleted = 0
      for (;;) {
        // SKIP LOCKED: servers sweeping at the same time take different batches instead of
        // waiting for each other.
        const result = await serve(
          () => sql`
          DELETE FROM tokens WHERE hash IN (
            SELECT hash FROM tokens WHERE expires_at < ${before}
            LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED)`,
        )
        deleted += result.count
        if (result.count < SWEEP_BATCH) break
      }
      for (;;) {
        const result = await serve(
          () => sql`
          DELETE FROM used_assertions WHERE key IN (
            SELECT key FROM used_assertions WHERE expires_at < ${before}
            LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED)`,
        )
        deleted += result.count
        if (result.count < SWEEP_BATCH) return deleted
      }
    },

    // One statement, atomic across servers: of two servers taking one id at once, the second
    // waits on the first's row and then finds it in use (the WHERE is false), so it gets no row.
    async claimAssertionId(key, expiresAt, now) {
      if (!migrated) await ready()
      const rows = await serve(
        () => sql`
        INSERT INTO used_assertions (key, expires_at) VALUES (${key}, ${expiresAt})
        ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
          WHERE used_assertions.expires_at < ${now}
        RETURNING key`,
      )
      return rows.length > 0
    },

    async ping() {
      const check = (async () => {
        if (!migrated) await ready()
        await run(() => sql`SELECT 1`)
      })()
      await withDeadline(check, PING_TIMEOUT_MS, where)
    },

    async close() {
      await Promise.all([feed.close(), sql.end({ timeout: 5 })])
    },
  }
}

type Sql = postgres.Sql

/**
 * `work`, or a StoreUnavailableError naming `where` once `ms` have passed without an answer. The
 * work itself goes on (it keeps its connection until the driver settles it); its later failure
 * is not an unhandled rejection.
 */
async function withDeadline<T>(work: Promise<T>, ms: number, where: string): Promise<T> {
  work.catch(() => {})
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StoreUnavailableError(
            `no answer from the PostgreSQL server at ${where} in ${ms / 1000} s`,
          ),
        ),
      ms,
    )
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

async function schemaVersion(q: Sql): Promise<number | undefined> {
  const [found] = await q<{ present: boolean }[]>`
    SELECT to_regclass('keyhole_schema') IS NOT NULL AS present`
  if (found?.present !== true) return undefined
  const [row] = await q<{ version: number }[]>`SELECT version FROM keyhole_schema`
  return row?.version ?? 0
}

function refuseNewer(version: number | undefined): void {
  if (version !== undefined && version > SCHEMA_VERSION) {
    throw new StoreUnavailableError(
      `the database schema is version ${version}, newer than this Keyhole (${SCHEMA_VERSION})`,
    )
  }
}

async function migrate(sql: Sql): Promise<void> {
  // The usual case, every start but the first: one read, no lock, nothing written.
  const seen = await schemaVersion(sql)
  refuseNewer(seen)
  if (seen === SCHEMA_VERSION) return
  // Servers starting together on an empty database: one migrates, the others wait, then find the
  // work done. The lock is a session lock taken before the transaction begins: PostgreSQL reads
  // the catalog changes others committed when a transaction begins, so a transaction that began
  // before it got the lock could still not see the tables just created, and create them again.
  const conn = await sql.reserve()
  try {
    await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK})`
    try {
      await conn.unsafe('BEGIN')
      try {
        const current = await schemaVersion(conn)
        refuseNewer(current)
        if (current === undefined) {
          await conn.unsafe(
            'CREATE TABLE keyhole_schema (version integer NOT NULL); INSERT INTO keyhole_schema VALUES (0)',
          )
        }
        for (let v = (current ?? 0) + 1; v <= SCHEMA_VERSION; v++) {
          const ddl = MIGRATIONS[v]
          if (ddl === undefined) throw new Error(`missing migration ${v}`)
          await conn.unsafe(ddl)
          await conn`UPDATE keyhole_schema SET version = ${v}`
        }
        await conn.unsafe('COMMIT')
      } catch (err) {
        await conn.unsafe('ROLLBACK').catch(() => {})
        throw err
      }
    } finally {
      // Also let go when the connection is gone: PostgreSQL drops a session's locks with it.
      await conn`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => {})
    }
  } finally {
    conn.release()
  }
}

// The notification payload, version 1:
//   {"v":1,"at":<epoch ms>,"t":[[hash, kind, [audience, ...]], ...]}
// or, when something cannot be told in 8000 bytes (one audience longer than that):
//   {"v":1,"missed":true}
// A token whose audiences do not fit in one payload is split across several, each with some of
// its audiences: a resource hears of it through the one that names its own.
type Entry = [hash: string, kind: TokenKind, audience: string[]]
const MISSED = '{"v":1,"missed":true}'

/** The payloads that tell `revoked`, each shorter than PostgreSQL's 8000-byte limit. */
export function revocationPayloads(
  revoked: readonly RevokedToken[],
  atMs: number,
  limit = MAX_PAYLOAD_BYTES,
): string[] {
  if (revoked.length === 0) return []
  const head = `{"v":1,"at":${atMs},"t":[`
  const tail = ']}'
  const room = limit - Buffer.byteLength(head) - Buffer.byteLength(tail)
  const size = (entry: Entry) => Buffer.byteLength(JSON.stringify(entry))

  const entries: string[] = []
  let missed = false
  for (const token of revoked) {
    const whole: Entry = [token.hash, token.kind, [...token.audience]]
    if (size(whole) <= room) {
      entries.push(JSON.stringify(whole))
      continue
    }
    let part: Entry = [token.hash, token.kind, []]
    for (const audience of token.audience) {
      const grown: Entry = [token.hash, token.kind, [...part[2], audience]]
      if (size(grown) <= room) {
        part = grown
        continue
      }
      if (part[2].length > 0) entries.push(JSON.stringify(part))
      part = [token.hash, token.kind, [audience]]
      if (size(part) > room) {
        missed = true
        part = [token.hash, token.kind, []]
      }
    }
    if (part[2].length > 0) entries.push(JSON.stringify(part))
  }

  const payloads: string[] = []
  let batch: string[] = []
  let used = 0
  for (const entry of entries) {
    const cost = Buffer.byteLength(entry) + (batch.length > 0 ? 1 : 0)
    if (batch.length > 0 && used + cost > room) {
      payloads.push(head + batch.join(',') + tail)
      batch = []
      used = 0
    }
    used += Buffer.byteLength(entry) + (batch.length > 0 ? 1 : 0)
    batch.push(entry)
  }
  if (batch.length > 0) payloads.push(head + batch.join(',') + tail)
  if (missed) payloads.push(MISSED)
  return payloads
}

const TOKEN_KINDS: ReadonlySet<unknown> = new Set(['access_token', 'refresh_token'])

/** A payload read back, or undefined when it tells of something missed or cannot be read. */
const TOKEN_HASH = /^[A-Za-z0-9_-]{43}$/

export function readRevocationPayload(
  payload: string,
): { tokens: RevokedToken[]; atMs: number } | undefined {
  let body: unknown
  try {
    body = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (typeof body !== 'object' || body === null) return undefined
  const { v, at, t } = body as { v?: unknown; at?: unknown; t?: unknown }
  if (v !== 1 || typeof at !== 'number' || !Array.isArray(t)) return undefined
  const tokens: RevokedToken[] = []
  for (const entry of t as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 3) return undefined
    const [hash, kind, audience] = entry as [unknown, unknown, unknown]
    // Only what a revocation can name: a token hash (base64url SHA-256) of a known kind.
    if (
      typeof hash !== 'string' ||
      !TOKEN_HASH.test(hash) ||
      !TOKEN_KINDS.has(kind) ||
      !Array.isArray(audience)
    ) {
      return undefined
    }
    if (!audience.every((a): a is string => typeof a === 'string')) return undefined
    tokens.push({ hash: hash as TokenHash, kind: kind as TokenKind, audience })
  }
  return { tokens, atMs: at }
}

interface ClosableFeed extends RevocationFeed {
  close(): Promise<void>
}

/**
 * LISTEN on a connection of its own (outside the pool: it must stay open, and a pooled
 * connection is shared). When it drops, listen again with growing pauses, then tell every
 * listener `missed`: notifications sent while nobody listened are gone.
 */
function createRevocationFeed(target: PostgresTarget, checkMs: number): ClosableFeed {
  const listeners = new Set<RevocationListener>()
  let state: 'idle' | 'starting' | 'listening' | 'retrying' | 'closed' = 'idle'
  let starting: Promise<void> | undefined
  let connection: Sql | undefined
  let checking = false

  /**
   * While listening, the connection must answer a `SELECT 1` within `checkMs`. One that does not
   * is given up (not ended politely: its path may be dead) and a new one listens; listeners are
   * then told `missed`, as after any drop.
   */
  const check = setInterval(() => {
    const open = connection
    if (state !== 'listening' || open === undefined || checking) return
    checking = true
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), checkMs)
    })
    const probe = open.unsafe('SELECT 1').then(
      () => 'ok' as const,
      () => 'failed' as const,
    )
    void Promise.race([probe, late]).then((outcome) => {
      clearTimeout(timer)
      checking = false
      if (outcome === 'ok' || state !== 'listening' || connection !== open) return
      connection = undefined
      state = 'retrying'
      void open.end({ timeout: 0 }).catch(() => {})
      void relisten()
    })
  }, checkMs)
  check.unref()

  const deliver = (payload: string) => {
    const message = readRevocationPayload(payload)
    for (const listener of [...listeners]) {
      if (message === undefined) listener.missed()
      else if (message.tokens.length > 0) listener.revoked(message.tokens, message.atMs)
    }
  }

  const connect = (): Sql => {
    if (connection !== undefined) return connection
    // `onnotify` is the driver's own hook (what its `listen` uses), left out of its types.
    const options: postgres.Options<Record<string, never>> & {
      onnotify: (channel: string, payload: string) => void
    } = {
      ...driverOptions(target, 1),
      idle_timeout: undefined,
      max_lifetime: null,
      fetch_types: false,
      onnotify: (channel, payload) => {
        if (channel === REVOCATION_CHANNEL) deliver(payload)
      },
      onclose: () => {
        if (state !== 'listening') return
        state = 'retrying'
        void relisten()
      },
    }
    connection = postgres(options)
    return connection
  }

  const listenOnce = async () => {
    await connect().unsafe(`LISTEN ${REVOCATION_CHANNEL}`)
  }

  const relisten = async () => {
    for (let attempt = 0; state === 'retrying'; attempt++) {
      try {
        await listenOnce()
      } catch {
        const pause = Math.min(100 * 2 ** attempt, RELISTEN_MAX_PAUSE_MS)
        await new Promise<void>((resolve) => setTimeout(resolve, pause).unref())
        continue
      }
      if (state !== 'retrying') return
      state = 'listening'
      for (const listener of [...listeners]) listener.missed()
    }
  }

  const start = (): Promise<void> => {
    if (state === 'listening' || state === 'retrying') return Promise.resolve()
    if (state === 'closed') return Promise.reject(new Error('the store is closed'))
    state = 'starting'
    starting ??= listenOnce().then(
      () => {
        starting = undefined
        if (state === 'starting') state = 'listening'
      },
      (err: unknown) => {
        starting = undefined
        if (state === 'starting') state = 'idle'
        throw unavailable(err, target.where)
      },
    )
    return starting
  }

  const stop = async () => {
    const open = connection
    connection = undefined
    await open?.end({ timeout: 5 })
  }

  return {
    async listen(listener) {
      listeners.add(listener)
      try {
        await start()
      } catch (err) {
        listeners.delete(listener)
        throw err
      }
      return async () => {
        if (!listeners.delete(listener) || listeners.size > 0 || state === 'closed') return
        state = 'idle'
        await stop()
      }
    },
    async close() {
      state = 'closed'
      clearInterval(check)
      listeners.clear()
      await stop()
    },
  }
}
