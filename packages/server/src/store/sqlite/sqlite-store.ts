/**
 * The embedded default: one SQLite file in WAL mode through better-sqlite3 (synchronous, prepared
 * statements, 100k+ point lookups a second). `synchronous=NORMAL` in WAL mode keeps every committed
 * write across a process crash or restart; `durability: 'full'` also survives power loss, at one
 * fsync per write.
 *
 * The server owns its file (owner-lock.ts), so every token write goes through this store: the
 * token records it reads are kept in a bounded in-memory LRU, and every write that changes a
 * token (revocation, the expiry sweep) drops the records it changed before it returns. A
 * revocation is therefore seen by the very next introspection, and a hit costs no SQLite read
 * (the read was the largest single cost of an introspection: docs/benchmarks.md).
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { LRUCache } from 'lru-cache'
import type { EpochSeconds, TokenHash } from '../../brand.ts'
import type { TokenKind, TokenRecord } from '../../tokens/token-record.ts'
import { jwksJson, readJwks } from '../principal-jwks.ts'
import { readSettings, settingsJson } from '../principal-settings.ts'
import type { GrantType, Principal, PrincipalSource, ResourceRecord, Store } from '../store.ts'
import { type OwnerLock, takeOwnerLock } from './owner-lock.ts'

export interface SqliteStoreOptions {
  /** A file path, or ':memory:' (tests, throwaway servers). */
  readonly path: string
  readonly durability?: 'normal' | 'full'
  /**
   * How long to wait for another server to let go of the file before refusing it. Default 5 s.
   * The wait blocks the thread (SQLite's busy handler): in one process, close a server before
   * opening its file again.
   */
  readonly lockWaitMs?: number
}

/** Token records kept in memory: about 0.5 KB each. */
const TOKEN_CACHE_ENTRIES = 10_000
const LOCK_WAIT_MS = 5_000

const SCHEMA_VERSION = 4

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE principals (
      id               TEXT PRIMARY KEY,
      kind             TEXT NOT NULL CHECK (kind IN ('client', 'resource')),
      secret_hash      TEXT NOT NULL,
      audience         TEXT UNIQUE,
      scopes           TEXT NOT NULL,
      grant_types      TEXT NOT NULL,
      access_token_ttl INTEGER,
      source           TEXT NOT NULL
    ) STRICT;
    CREATE TABLE tokens (
      hash        TEXT PRIMARY KEY,
      kind        TEXT NOT NULL,
      jti         TEXT NOT NULL,
      client_id   TEXT NOT NULL,
      sub         TEXT NOT NULL,
      scopes      TEXT NOT NULL,
      audience    TEXT NOT NULL,
      issued_at   INTEGER NOT NULL,
      not_before  INTEGER NOT NULL,
      expires_at  INTEGER NOT NULL,
      revoked_at  INTEGER,
      grant_id    TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX tokens_expires_at ON tokens (expires_at);
    CREATE INDEX tokens_grant_id ON tokens (grant_id);
  `,
  // Protocol settings of a principal (principal-settings.ts), as JSON.
  2: `ALTER TABLE principals ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';`,
  // private_key_jwt (principal-jwks.ts): a principal has a secret hash or a JWK Set, exactly one.
  // SQLite cannot drop a NOT NULL: the table is rebuilt (it holds the principals only, a few rows).
  // Used client assertion ids (RFC 7523 §3 jti), by SHA-256, until they expire.
  3: `
    CREATE TABLE principals_v3 (
      id               TEXT PRIMARY KEY,
      kind             TEXT NOT NULL CHECK (kind IN ('client', 'resource')),
      secret_hash      TEXT,
      audience         TEXT UNIQUE,
      scopes           TEXT NOT NULL,
      grant_types      TEXT NOT NULL,
      access_token_ttl INTEGER,
      source           TEXT NOT NULL,
      settings         TEXT NOT NULL DEFAULT '{}',
      jwks             TEXT,
      CHECK ((secret_hash IS NULL) <> (jwks IS NULL))
    ) STRICT;
    INSERT INTO principals_v3 (id, kind, secret_hash, audience, scopes, grant_types,
      access_token_ttl, source, settings)
    SELECT id, kind, secret_hash, audience, scopes, grant_types, access_token_ttl, source, settings
    FROM principals;
    DROP TABLE principals;
    ALTER TABLE principals_v3 RENAME TO principals;
    CREATE TABLE used_assertions (
      key         TEXT PRIMARY KEY,
      expires_at  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX used_assertions_expires_at ON used_assertions (expires_at);
  `,
  // RFC 9449 §6: the JWK thumbprint a DPoP-bound token is bound to (cnf.jkt); NULL: Bearer. Used
  // DPoP proof ids share used_assertions, under keys of their own (tokens/dpop-proof.ts).
  4: 'ALTER TABLE tokens ADD COLUMN jkt TEXT;',
}

interface PrincipalRow {
  id: string
  kind: 'client' | 'resource'
  secret_hash: string | null
  audience: string | null
  scopes: string
  grant_types: string
  access_token_ttl: number | null
  source: PrincipalSource
  settings: string
  jwks: string | null
}

interface TokenRow {
  hash: string
  kind: TokenKind
  jti: string
  client_id: string
  sub: string
  scopes: string
  audience: string
  issued_at: number
  not_before: number
  expires_at: number
  revoked_at: number | null
  grant_id: string
  jkt: string | null
}

// Principal reads return raw rows (arrays, columns in the listed order): otherwise better-sqlite3
// builds an object per row, interning every column name of every row, which costs more than the
// lookup itself. Keep each tuple type beside its column list.
const PRINCIPAL_COLUMNS =
  'id, kind, secret_hash, audience, scopes, grant_types, access_token_ttl, source, settings, jwks'
/** What `revokeGrant` reads back of each token it changed (the audience as stored, JSON). */
interface RevokedRow {
  hash: string
  kind: TokenKind
  audience: string
}

type PrincipalTuple = [
  id: string,
  kind: 'client' | 'resource',
  secret_hash: string | null,
  audience: string | null,
  scopes: string,
  grant_types: string,
  access_token_ttl: number | null,
  source: PrincipalSource,
  settings: string,
  jwks: string | null,
]
// The token read, on every introspection, asks SQLite for the row as one JSON array (the audience,
// stored as JSON text, embedded as an array): one string for better-sqlite3 to hand over and one
// JSON.parse, instead of a JavaScript value and a slow property store per column. The hash is the
// one looked up, so it is not read back.
const TOKEN_JSON =
  'json_array(kind, jti, client_id, sub, scopes, json(audience), issued_at, not_before, expires_at, revoked_at, grant_id, jkt)'
type TokenTuple = [
  kind: TokenKind,
  jti: string,
  client_id: string,
  sub: string,
  scopes: string,
  audience: string[],
  issued_at: number,
  not_before: number,
  expires_at: number,
  revoked_at: number | null,
  grant_id: string,
  jkt: string | null,
]

const splitScopes = (s: string): string[] => (s === '' ? [] : s.split(' '))

function principalOf(row: PrincipalTuple): Principal {
  const [id, kind, secretHash, audience, scopes, grantTypes, accessTokenTtl, source, json, keys] =
    row
  const settings = readSettings(json)
  if (kind === 'resource') {
    return {
      kind: 'resource',
      id,
      audience: audience ?? '',
      secretHash,
      jwks: readJwks(keys),
      scopes: splitScopes(scopes),
      introspectionSignedResponseAlg: settings.introspectionSignedResponseAlg,
      source,
    }
  }
  return {
    kind: 'client',
    id,
    secretHash,
    jwks: readJwks(keys),
    grantTypes: splitScopes(grantTypes) as GrantType[],
    scopes: splitScopes(scopes),
    accessTokenTtl: accessTokenTtl ?? 0,
    accessTokenFormat: settings.accessTokenFormat,
    dpopBoundAccessTokens: settings.dpopBoundAccessTokens,
    source,
  }
}

/** Frozen: one record may be handed to many requests from the cache. */
function tokenRecordOf(hash: TokenHash, json: string): TokenRecord {
  const row = JSON.parse(json) as TokenTuple
  return Object.freeze({
    hash,
    kind: row[0],
    jti: row[1],
    clientId: row[2],
    sub: row[3],
    scopes: Object.freeze(splitScopes(row[4])),
    audience: Object.freeze(row[5]),
    issuedAt: row[6] as EpochSeconds,
    notBefore: row[7] as EpochSeconds,
    expiresAt: row[8] as EpochSeconds,
    revokedAt: row[9] as EpochSeconds | null,
    grantId: row[10],
    cnf: row[11] === null ? null : Object.freeze({ jkt: row[11] }),
  })
}

/** Expired tokens deleted per statement by the sweep. */
const SWEEP_BATCH = 1_000

export function openSqliteStore(options: SqliteStoreOptions): Store {
  const inMemory = options.path === ':memory:'
  if (!inMemory) mkdirSync(dirname(options.path), { recursive: true })
  const lock = inMemory
    ? undefined
    : takeOwnerLock(options.path, options.lockWaitMs ?? LOCK_WAIT_MS)
  try {
    return openOwned(options, lock)
  } catch (err) {
    lock?.release()
    throw err
  }
}

function openOwned(options: SqliteStoreOptions, lock: OwnerLock | undefined): Store {
  const db = new Database(options.path)
  try {
    // A database from a newer Keyhole is refused before anything in it is changed.
    refuseNewerSchema(db)
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma('busy_timeout = 5000')
    db.pragma('foreign_keys = ON')
    migrate(db)
  } catch (err) {
    db.close()
    throw err
  }

  const upsertPrincipal = db.prepare<PrincipalRow>(`
    INSERT INTO principals (id, kind, secret_hash, audience, scopes, grant_types, access_token_ttl, source, settings, jwks)
    VALUES (@id, @kind, @secret_hash, @audience, @scopes, @grant_types, @access_token_ttl, @source, @settings, @jwks)
    ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, secret_hash = excluded.secret_hash,
      audience = excluded.audience, scopes = excluded.scopes, grant_types = excluded.grant_types,
      access_token_ttl = excluded.access_token_ttl, source = excluded.source,
      settings = excluded.settings, jwks = excluded.jwks`)
  const selectPrincipal = db
    .prepare<[string], PrincipalTuple>(`SELECT ${PRINCIPAL_COLUMNS} FROM principals WHERE id = ?`)
    .raw(true)
  const selectResources = db
    .prepare<[], PrincipalTuple>(
      `SELECT ${PRINCIPAL_COLUMNS} FROM principals WHERE kind = 'resource' ORDER BY id`,
    )
    .raw(true)
  const selectIdsBySource = db.prepare<[string], { id: string }>(
    'SELECT id FROM principals WHERE source = ?',
  )
  const deletePrincipal = db.prepare<[string]>('DELETE FROM principals WHERE id = ?')
  const insertToken = db.prepare<TokenRow>(`
    INSERT INTO tokens (hash, kind, jti, client_id, sub, scopes, audience, issued_at, not_before,
      expires_at, revoked_at, grant_id, jkt)
    VALUES (@hash, @kind, @jti, @client_id, @sub, @scopes, @audience, @issued_at, @not_before,
      @expires_at, @revoked_at, @grant_id, @jkt)`)
  const selectToken = db
    .prepare<[string], string>(`SELECT ${TOKEN_JSON} FROM tokens WHERE hash = ?`)
    .pluck(true)
  // Both writes return the hashes they changed, for the cache to forget.
  const revokeGrant = db.prepare<{ hash: string; at: number }, RevokedRow>(`
      UPDATE tokens SET revoked_at = @at
      WHERE revoked_at IS NULL AND grant_id = (SELECT grant_id FROM tokens WHERE hash = @hash)
      RETURNING hash, kind, audience`)
  // In batches, yielding between them: after downtime the backlog can be large, and a single
  // statement would hold the event loop (every request) for its whole length.
  const deleteExpired = db
    .prepare<[number, number], string>(
      'DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens WHERE expires_at < ? LIMIT ?) RETURNING hash',
    )
    .pluck(true)
  const ping = db.prepare('SELECT 1')
  // RFC 7523 §3 jti: taken when new, or when its last use has expired (not yet swept); a row comes
  // back only when this statement took the id.
  const claimAssertion = db
    .prepare<{ key: string; expires_at: number; now: number }, string>(`
      INSERT INTO used_assertions (key, expires_at) VALUES (@key, @expires_at)
      ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
        WHERE used_assertions.expires_at < @now
      RETURNING key`)
    .pluck(true)
  const deleteExpiredAssertions = db.prepare<[number, number]>(
    'DELETE FROM used_assertions WHERE key IN (SELECT key FROM used_assertions WHERE expires_at < ? LIMIT ?)',
  )

  const sync = db.transaction((source: PrincipalSource, principals: readonly Principal[]) => {
    const keep = new Set(principals.map((p) => p.id))
    for (const { id } of selectIdsBySource.all(source)) if (!keep.has(id)) deletePrincipal.run(id)
    for (const p of principals) {
      upsertPrincipal.run({
        id: p.id,
        kind: p.kind,
        secret_hash: p.secretHash,
        audience: p.kind === 'resource' ? p.audience : null,
        scopes: p.scopes.join(' '),
        grant_types: p.kind === 'client' ? p.grantTypes.join(' ') : '',
        access_token_ttl: p.kind === 'client' ? p.accessTokenTtl : null,
        source,
        settings: settingsJson(p),
        jwks: jwksJson(p.jwks),
      })
    }
  })

  // Only records that exist are kept: a token inserted later is never hidden by a cached miss.
  const tokens = new LRUCache<string, TokenRecord>({ max: TOKEN_CACHE_ENTRIES })
  const forget = (hashes: readonly string[]) => {
    for (const hash of hashes) tokens.delete(hash)
  }

  return {
    async syncPrincipals(source, principals) {
      sync(source, principals)
    },
    async findPrincipal(id) {
      const row = selectPrincipal.get(id)
      return row === undefined ? undefined : principalOf(row)
    },
    async listResources() {
      return selectResources.all().map((row) => principalOf(row) as ResourceRecord)
    },
    async insertToken(r) {
      insertToken.run({
        hash: r.hash,
        kind: r.kind,
        jti: r.jti,
        client_id: r.clientId,
        sub: r.sub,
        scopes: r.scopes.join(' '),
        audience: JSON.stringify(r.audience),
        issued_at: r.issuedAt,
        not_before: r.notBefore,
        expires_at: r.expiresAt,
        revoked_at: r.revokedAt,
        grant_id: r.grantId,
        jkt: r.cnf === null ? null : r.cnf.jkt,
      })
    },
    async findToken(hash) {
      const cached = tokens.get(hash)
      if (cached !== undefined) return cached
      const row = selectToken.get(hash)
      if (row === undefined) return undefined
      const record = tokenRecordOf(hash, row)
      tokens.set(hash, record)
      return record
    },
    async revokeGrant(hash, at) {
      const changed = revokeGrant.all({ hash, at })
      forget(changed.map((row) => row.hash))
      return changed.map((row) => ({
        hash: row.hash as TokenHash,
        kind: row.kind,
        audience: JSON.parse(row.audience) as string[],
      }))
    },
    async deleteExpiredTokens(before) {
      let deleted = 0
      for (;;) {
        const changed = deleteExpired.all(before, SWEEP_BATCH)
        forget(changed)
        deleted += changed.length
        if (changed.length < SWEEP_BATCH || !db.open) break
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
      for (;;) {
        if (!db.open) return deleted
        const { changes } = deleteExpiredAssertions.run(before, SWEEP_BATCH)
        deleted += changes
        if (changes < SWEEP_BATCH) return deleted
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    },
    async claimAssertionId(key, expiresAt, now) {
      return claimAssertion.get({ key, expires_at: expiresAt, now }) !== undefined
    },
    async ping() {
      ping.get()
    },
    async close() {
      tokens.clear()
      if (db.open) db.close()
      lock?.release()
    },
  }
}

function refuseNewerSchema(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `the database schema is version ${current}, newer than this Keyhole (${SCHEMA_VERSION})`,
    )
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
    const sql = MIGRATIONS[v]
    if (sql === undefined) throw new Error(`missing migration ${v}`)
    db.transaction(() => {
      db.exec(sql)
      db.pragma(`user_version = ${v}`)
    })()
  }
}
