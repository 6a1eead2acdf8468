/**
 * Target (b): the real `keyhole serve` (the bin operators run) with a throwaway config and SQLite
 * file: one resource `orders`, one client. The load introspects one live access token as the
 * resource, authenticating with client_secret_basic on every request. A variant stores in a
 * PostgreSQL server on loopback that the bench starts itself (every introspection then reads
 * the database: no record is kept in memory when several servers share it). Another counts its
 * throttles in a Redis server that the bench starts (the `redis` option: introspecting an active
 * token must still make no Redis call).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { basicAuthorization } from '@keyhole/protocol'
import { startRedis } from '../../conformance/support/redis.ts'
import { sharedSigningKeys, startPostgres } from '../../packages/server/test/support/postgres.ts'
import { clientCredentialsToken, expectActive, FORM_TYPE, type FormPost } from '../lib/http.ts'
import { ROOT, spawnServer } from '../lib/process.ts'
import type { RunningTarget, Target } from './target.ts'

const KEYHOLE_BIN = join(ROOT, 'packages/cli/bin/keyhole.js')
const SCOPE = 'orders:read'

export interface KeyholeTargetOptions {
  /**
   * One JSON log line per request on stdout (`log.requests`, on by default). Off for the
   * headline figure; on in an extra row so that its cost is visible. The parent drains the pipe.
   */
  readonly requestLogs: boolean
  /** Where tokens live. Default `sqlite`. */
  readonly storage?: 'sqlite' | 'postgres'
  /** Where the throttles count. Default in the process. */
  readonly throttles?: 'process' | 'redis'
}

export function keyholeTarget(options: KeyholeTargetOptions): Target {
  if (options.storage === 'postgres') {
    return {
      id: 'keyhole-postgres',
      label: 'keyhole, PostgreSQL store',
      start: () => startKeyhole(options),
    }
  }
  if (options.throttles === 'redis') {
    return {
      id: 'keyhole-redis',
      label: 'keyhole, throttles in Redis',
      start: () => startKeyhole(options),
    }
  }
  return {
    id: options.requestLogs ? 'keyhole-request-logs' : 'keyhole',
    label: options.requestLogs ? 'keyhole, request logs on' : 'keyhole',
    start: () => startKeyhole(options),
  }
}

async function startKeyhole(options: KeyholeTargetOptions): Promise<RunningTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-bench-'))
  const resourceSecret = randomBytes(32).toString('base64url')
  const clientSecret = randomBytes(32).toString('base64url')
  const configPath = join(dir, 'keyhole.json')
  const postgres = options.storage === 'postgres' ? await startPostgres() : undefined
  const redis = options.throttles === 'redis' ? await startRedis() : undefined
  const config = {
    storage:
      postgres === undefined ? 'sqlite:./keyhole.db' : await postgres.createDatabase('keyhole'),
    // Required with PostgreSQL; beside the SQLite file it is created at first start.
    ...(postgres === undefined ? {} : { signingKeys: await sharedSigningKeys() }),
    ...(redis === undefined ? {} : { redis: redis.url }),
    resources: [
      {
        id: 'orders',
        audience: 'https://orders.example.test',
        secret: resourceSecret,
        scopes: [SCOPE],
      },
    ],
    clients: [
      {
        id: 'bench-client',
        secret: clientSecret,
        grantTypes: ['client_credentials'],
        scopes: [SCOPE],
        // The longest allowed: a long BENCH_DURATION must never see the token expire.
        accessTokenTtl: 86_400,
      },
    ],
    log: { level: 'info', requests: options.requestLogs },
  }
  writeFileSync(configPath, JSON.stringify(config, null, 2))
  const cleanUp = async () => {
    await postgres?.stop()
    await redis?.stop()
    rmSync(dir, { recursive: true, force: true })
  }

  const server = await spawnServer({
    args: [KEYHOLE_BIN, 'serve', '--config', configPath, '--port', '0'],
  }).catch(async (err: unknown) => {
    await cleanUp()
    throw err
  })
  const stop = async () => {
    await server.stop()
    await cleanUp()
  }
  try {
    const token = await clientCredentialsToken(
      `${server.issuer}/token`,
      basicAuthorization('bench-client', clientSecret),
      SCOPE,
    )
    const request: FormPost = {
      url: `${server.issuer}/introspect`,
      headers: {
        'content-type': FORM_TYPE,
        authorization: basicAuthorization('orders', resourceSecret),
      },
      body: new URLSearchParams({ token }).toString(),
    }
    return { server, request, expectBody: await expectActive(request), stop }
  } catch (err) {
    await stop()
    throw err
  }
}
