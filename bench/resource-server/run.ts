/**
 * The resource-server part of `npm run bench` (docs/benchmarks.md):
 * 1. verify() on a warm cache, in process, in nanoseconds per call;
 * 2. one API route protected by the node adapter (`protect()`) beside the same route unprotected,
 *    in the same API process, loaded alternately with autocannon (50 connections). Target: ≥ 0.9×.
 *    Also shown: the same check through `await authenticate()`.
 * 3. for reference, the same route behind the least check a warm protected route can do, written
 *    inline (api-server.ts `/minimal`): how close to the target any library can come on this machine;
 * 4. revocation propagation: from sending RFC 7009 revocation to the moment a verifier subscribed to
 *    the revocation events refuses the token it had cached (docs/revocation-events.md).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { basicAuthorization } from '@keyhole/protocol'
import { createTokenVerifier } from '@keyhole/resource-server'
import autocannon from 'autocannon'
import { clientCredentialsToken, FORM_TYPE, send } from '../lib/http.ts'
import { CONNECTIONS, PIPELINING } from '../lib/load.ts'
import { ROOT, type ServerProcess, spawnServer } from '../lib/process.ts'
import { fixed, markdownTable, thousands, wholeMs } from '../lib/table.ts'

const KEYHOLE_BIN = join(ROOT, 'packages/cli/bin/keyhole.js')
const API_SERVER = join(ROOT, 'bench/resource-server/api-server.ts')
export const ROUTE_GOAL = 0.9
const ROUTES = ['open', 'orders', 'orders-await', 'minimal'] as const
type Route = (typeof ROUTES)[number]

export interface RouteFigures {
  readonly requestsPerSec: number
  /** User + system CPU of the API process per request over the measured run, µs. */
  readonly cpuUsPerRequest: number
  readonly p50: number
  readonly p99: number
  readonly failures: number
}

/** Revocation → refusal by a subscribed verifier whose cache held the token, ms. */
export interface RevocationFigures {
  readonly samples: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

export interface ResourceServerFigures {
  readonly verifyNsPerOp: number
  readonly verifyCalls: number
  readonly revocation: RevocationFigures
  readonly open: RouteFigures
  readonly protected: RouteFigures
  /** The same check through the node adapter's `await authenticate()`. */
  readonly awaited: RouteFigures
  readonly minimal: RouteFigures
  readonly openRounds: readonly number[]
  readonly protectedRounds: readonly number[]
  readonly awaitedRounds: readonly number[]
  readonly minimalRounds: readonly number[]
  readonly ratio: number
  readonly awaitedRatio: number
  /** The reference: `/minimal` against `/open` (no goal; what this machine allows). */
  readonly minimalRatio: number
}

async function startAuthorizationServer(dir: string, resourceSecret: string, clientSecret: string) {
  const configPath = join(dir, 'keyhole.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      storage: 'sqlite:./keyhole.db',
      resources: [
        {
          id: 'orders',
          audience: 'https://orders.example.test',
          secret: resourceSecret,
          scopes: ['orders:read'],
        },
      ],
      clients: [
        {
          id: 'bench-client',
          secret: clientSecret,
          scopes: ['orders:read'],
          accessTokenTtl: 86_400,
        },
      ],
      log: { level: 'info', requests: false },
    }),
  )
  return spawnServer({ args: [KEYHOLE_BIN, 'serve', '--config', configPath, '--port', '0'] })
}

/** Sequential verify() calls on a warm cache: the per-request cost an API pays. */
async function measureVerify(
  issuer: string,
  resourceSecret: string,
  token: string,
  seconds: number,
) {
  const verifier = createTokenVerifier({
    issuer,
    audience: 'https://orders.example.test',
    credentials: { clientId: 'orders', clientSecret: resourceSecret },
  })
  const req = { method: 'GET', url: '/orders', headers: { authorization: `Bearer ${token}` } }
  const policy = { scopes: ['orders:read'] }
  const first = await verifier.verify(req, policy)
  if (!first.ok)
    throw new Error(`verify() failed during warm-up: ${first.status} ${first.description}`)
  for (let i = 0; i < 20_000; i++) await verifier.verify(req, policy)
  let calls = 0
  const deadline = performance.now() + seconds * 1000
  const started = performance.now()
  while (performance.now() < deadline) {
    for (let i = 0; i < 1000; i++) {
      const result = await verifier.verify(req, policy)
      if (!result.ok) throw new Error(`verify() failed: ${result.status}`)
    }
    calls += 1000
  }
  const elapsed = performance.now() - started
  await verifier.close()
  return { nsPerOp: (elapsed * 1e6) / calls, calls }
}

/**
 * For each sample: a fresh token, verified once (now cached), revoked through RFC 7009; then
 * `verifyNow` is asked again each turn of the event loop until it refuses. The time from sending
 * the revocation to that refusal is the propagation delay of the revocation events (it includes
 * the revocation's own round trip). Without them the cached answer would be served for up to the
 * cache TTL (60 s by default).
 */
async function measureRevocation(
  issuer: string,
  resourceSecret: string,
  clientSecret: string,
  samples: number,
): Promise<RevocationFigures> {
  let connected: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    connected = resolve
  })
  const verifier = createTokenVerifier({
    issuer,
    audience: 'https://orders.example.test',
    credentials: { clientId: 'orders', clientSecret: resourceSecret },
    revocationEvents: true,
    onEvent: (event) => {
      if (event.type === 'revocation_stream' && event.state === 'connected') connected()
    },
  })
  const client = basicAuthorization('bench-client', clientSecret)
  const delays: number[] = []
  try {
    await ready
    for (let i = 0; i < samples; i++) {
      const token = await clientCredentialsToken(`${issuer}/token`, client, 'orders:read')
      const req = { method: 'GET', url: '/orders', headers: { authorization: `Bearer ${token}` } }
      const first = await verifier.verify(req)
      if (!first.ok) throw new Error(`a fresh token was refused: ${first.status}`)
      const started = performance.now()
      const revoked = await send({
        url: `${issuer}/revoke`,
        headers: { 'content-type': FORM_TYPE, authorization: client },
        body: new URLSearchParams({ token }).toString(),
      })
      if (revoked.status !== 200) throw new Error(`revocation answered ${revoked.status}`)
      for (;;) {
        const now = verifier.verifyNow(req)
        const result = now instanceof Promise ? await now : now
        if (!result.ok) break
        if (performance.now() - started > 10_000) throw new Error('the revocation never arrived')
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
      delays.push(performance.now() - started)
    }
  } finally {
    await verifier.close()
  }
  delays.sort((a, b) => a - b)
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? 0
  return { samples, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: delays.at(-1) ?? 0 }
}

async function loadRoute(
  api: ServerProcess,
  url: string,
  token: string,
  seconds: number,
  expectBody: string,
): Promise<RouteFigures> {
  const cpuBefore = api.cpuSeconds()
  const figures = await autocannonRun(url, token, seconds, expectBody)
  const cpu = api.cpuSeconds() - cpuBefore
  return {
    ...figures,
    cpuUsPerRequest: (cpu * 1e6) / Math.max(1, figures.requestsPerSec * seconds),
  }
}

function autocannonRun(
  url: string,
  token: string,
  seconds: number,
  expectBody: string,
): Promise<Omit<RouteFigures, 'cpuUsPerRequest'>> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'GET',
        // Both routes get the same request bytes, Authorization header included.
        headers: { authorization: `Bearer ${token}` },
        connections: CONNECTIONS,
        pipelining: PIPELINING,
        duration: seconds,
        expectBody,
      },
      (err, r) =>
        err
          ? reject(err)
          : resolve({
              requestsPerSec: r.requests.average,
              p50: r.latency.p50,
              p99: r.latency.p99,
              failures: r.errors + r.timeouts + r.non2xx + r.mismatches + r.resets,
            }),
    )
  })
}

export async function runResourceServerBench(options: {
  readonly duration: number
  readonly warmup: number
  readonly rounds: number
}): Promise<ResourceServerFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-rs-bench-'))
  const resourceSecret = randomBytes(32).toString('base64url')
  const clientSecret = randomBytes(32).toString('base64url')
  let as: ServerProcess | undefined
  let api: ServerProcess | undefined
  try {
    as = await startAuthorizationServer(dir, resourceSecret, clientSecret)
    const token = await clientCredentialsToken(
      `${as.issuer}/token`,
      basicAuthorization('bench-client', clientSecret),
      'orders:read',
    )
    const verify = await measureVerify(
      as.issuer,
      resourceSecret,
      token,
      Math.min(options.duration, 5),
    )
    const revocation = await measureRevocation(as.issuer, resourceSecret, clientSecret, 200)
    api = await spawnServer({
      args: ['--import', 'tsx', API_SERVER],
      env: { KEYHOLE_ISSUER: as.issuer, KEYHOLE_RESOURCE_SECRET: resourceSecret },
    })
    const check = await fetch(`${api.url}/orders`, {
      headers: { authorization: `Bearer ${token}` },
    })
    const body = await check.text()
    if (check.status !== 200)
      throw new Error(`protected route answered ${check.status} during warm-up`)
    const byRoute: Record<Route, RouteFigures[]> = {
      open: [],
      orders: [],
      'orders-await': [],
      minimal: [],
    }
    for (let round = 0; round < options.rounds; round++) {
      // The order alternates between rounds, so that a slow drift of the machine falls on all alike.
      const order = round % 2 === 0 ? ROUTES : [...ROUTES].reverse()
      for (const route of order) {
        await loadRoute(api, `${api.url}/${route}`, token, options.warmup, body)
        const figures = await loadRoute(api, `${api.url}/${route}`, token, options.duration, body)
        if (figures.failures > 0) throw new Error(`/${route}: ${figures.failures} failed responses`)
        byRoute[route].push(figures)
      }
    }
    const best = (list: RouteFigures[]) =>
      list.reduce((a, b) => (b.requestsPerSec > a.requestsPerSec ? b : a))
    const bestOpen = best(byRoute.open)
    const bestProtected = best(byRoute.orders)
    const bestAwaited = best(byRoute['orders-await'])
    const bestMinimal = best(byRoute.minimal)
    return {
      verifyNsPerOp: verify.nsPerOp,
      verifyCalls: verify.calls,
      revocation,
      open: bestOpen,
      protected: bestProtected,
      awaited: bestAwaited,
      minimal: bestMinimal,
      openRounds: byRoute.open.map((f) => f.requestsPerSec),
      protectedRounds: byRoute.orders.map((f) => f.requestsPerSec),
      awaitedRounds: byRoute['orders-await'].map((f) => f.requestsPerSec),
      minimalRounds: byRoute.minimal.map((f) => f.requestsPerSec),
      ratio: bestProtected.requestsPerSec / bestOpen.requestsPerSec,
      awaitedRatio: bestAwaited.requestsPerSec / bestOpen.requestsPerSec,
      minimalRatio: bestMinimal.requestsPerSec / bestOpen.requestsPerSec,
    }
  } finally {
    await api?.stop()
    await as?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Print the section's tables; returns whether the route goal was met. */
export function reportResourceServer(figures: ResourceServerFigures): boolean {
  const met = figures.ratio >= ROUTE_GOAL
  console.log(
    '\nResource-server library (node:http API, warm cache, introspection against keyhole serve)\n',
  )
  console.log(
    markdownTable(
      ['measure', 'value'],
      [
        [
          'verify() on a warm cache',
          `${thousands(figures.verifyNsPerOp)} ns/op (${thousands(figures.verifyCalls)} calls)`,
        ],
        [
          'revocation → refused by a subscribed verifier (cached token)',
          `p50 ${fixed(figures.revocation.p50Ms, 2)} ms, p99 ${fixed(figures.revocation.p99Ms, 2)} ms, max ${fixed(figures.revocation.maxMs, 2)} ms (${figures.revocation.samples} revocations)`,
        ],
      ],
    ),
  )
  console.log('')
  console.log(
    markdownTable(
      ['route', 'req/s (best)', 'req/s (rounds)', 'p50 ms', 'p99 ms', 'API CPU µs/req'],
      [
        ['GET /open (unprotected)', figures.open, figures.openRounds] as const,
        ['GET /orders (protected: protect())', figures.protected, figures.protectedRounds] as const,
        [
          'GET /orders-await (protected: await authenticate())',
          figures.awaited,
          figures.awaitedRounds,
        ] as const,
        [
          'GET /minimal (reference: the least check, inline)',
          figures.minimal,
          figures.minimalRounds,
        ] as const,
      ].map(([label, f, rounds]) => [
        label,
        thousands(f.requestsPerSec),
        rounds.map((r) => thousands(r)).join(' / '),
        wholeMs(f.p50),
        wholeMs(f.p99),
        fixed(f.cpuUsPerRequest, 1),
      ]),
    ),
  )
  console.log('')
  console.log(
    markdownTable(
      ['ratio', 'best', 'goal', 'status'],
      [
        [
          'protected / unprotected',
          `${fixed(figures.ratio, 2)}×`,
          `≥ ${ROUTE_GOAL}×`,
          met ? 'met' : 'NOT MET',
        ],
        ['await authenticate() / unprotected', `${fixed(figures.awaitedRatio, 2)}×`, '—', '—'],
        ['reference: minimal / unprotected', `${fixed(figures.minimalRatio, 2)}×`, '—', '—'],
      ],
    ),
  )
  return met
}

if (process.argv[1]?.endsWith('resource-server/run.ts')) {
  reportResourceServer(await runResourceServerBench({ duration: 10, warmup: 3, rounds: 2 }))
}
