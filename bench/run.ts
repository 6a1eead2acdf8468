/**
 * `npm run bench`: Keyhole's introspection throughput beside a bare node:http ceiling and panva's
 * oidc-provider, in one run on one machine, reported as ratios (docs/benchmarks.md).
 *
 * Every server runs in its own process; this process only generates load (autocannon, 50
 * connections, pipelining 1). All targets are started first and stay up; then each round warms up
 * and measures every target in turn, alternating the order between rounds so that slow drifts of a
 * noisy machine fall on all targets alike. Each target's figure is its best round.
 *
 * Environment: BENCH_DURATION (measured seconds per run, default 10), BENCH_WARMUP (default 3),
 * BENCH_ROUNDS (default 2), BENCH_ENFORCE=1 (exit 1 when a target ratio is not met),
 * BENCH_TARGETS (comma-separated ids to run a subset while profiling, e.g. `bare,keyhole`),
 * BENCH_RESOURCE_SERVER=0 (skip the resource-server section).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release } from 'node:os'
import { join } from 'node:path'
import { resultsJson } from './lib/json.ts'
import { CONNECTIONS, failureCount, type LoadFigures, load, PIPELINING } from './lib/load.ts'
import { ROOT } from './lib/process.ts'
import { fixed, markdownTable, thousands, wholeMs } from './lib/table.ts'
import {
  type ResourceServerFigures,
  ROUTE_GOAL,
  reportResourceServer,
  runResourceServerBench,
} from './resource-server/run.ts'
import { bareTarget } from './targets/bare.ts'
import { keyholeTarget } from './targets/keyhole.ts'
import { minimalIntrospectionTarget } from './targets/minimal-introspection.ts'
import { oidcProviderTarget } from './targets/oidc-provider.ts'
import type { RunningTarget, Target } from './targets/target.ts'

const DURATION = positiveNumber('BENCH_DURATION', 10)
const WARMUP = positiveNumber('BENCH_WARMUP', 3)
const ROUNDS = positiveNumber('BENCH_ROUNDS', 2)
/** The machine's 1-minute load average: other work on it makes every figure noisier. */
const LOAD_AT_START = loadavg()[0] ?? 0
const RESULTS = join(ROOT, 'bench/results/latest.json')

const bare = bareTarget
const keyhole = keyholeTarget({ requestLogs: false })
const keyholeLogs = keyholeTarget({ requestLogs: true })
const keyholePostgres = keyholeTarget({ requestLogs: false, storage: 'postgres' })
const keyholeRedis = keyholeTarget({ requestLogs: false, throttles: 'redis' })
const oidcProvider = oidcProviderTarget
const minimal = minimalIntrospectionTarget
const ALL_TARGETS: readonly Target[] = [
  bare,
  minimal,
  keyhole,
  keyholeLogs,
  keyholePostgres,
  keyholeRedis,
  oidcProvider,
]
const TARGETS = selectTargets(process.env.BENCH_TARGETS)
/** The resource-server section (verify() cost, protected vs unprotected route); BENCH_RESOURCE_SERVER=0 skips it. */
const RESOURCE_SERVER = process.env.BENCH_RESOURCE_SERVER !== '0'

/** Keyhole's performance goals (the stack table of the architecture; docs/benchmarks.md). */
const GOALS = [
  { id: 'keyholeOverBare', label: 'keyhole / bare', over: bare, atLeast: 0.5 },
  {
    id: 'keyholeOverOidcProvider',
    label: 'keyhole / oidc-provider',
    over: oidcProvider,
    atLeast: 3,
  },
] as const

/** Ratios shown for reference, with no goal: what this machine allows any introspection. */
const REFERENCES = [
  {
    id: 'minimalOverBare',
    label: 'reference: minimal introspection / bare',
    of: minimal,
    over: bare,
  },
  {
    id: 'keyholeOverMinimal',
    label: 'reference: keyhole / minimal introspection',
    of: keyhole,
    over: minimal,
  },
  {
    id: 'postgresOverSqlite',
    label: 'reference: keyhole on PostgreSQL / on SQLite',
    of: keyholePostgres,
    over: keyhole,
  },
  {
    id: 'redisOverProcess',
    label: 'reference: keyhole, throttles in Redis / in process',
    of: keyholeRedis,
    over: keyhole,
  },
] as const

interface Measured {
  readonly target: Target
  readonly rounds: RoundFigures[]
  peakRssKiB: number
}

function selectTargets(list: string | undefined): readonly Target[] {
  if (list === undefined || list === '') return ALL_TARGETS
  const ids = list.split(',').map((id) => id.trim())
  const unknown = ids.filter((id) => !ALL_TARGETS.some((t) => t.id === id))
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_TARGETS: unknown ${unknown.join(', ')}; known: ${ALL_TARGETS.map((t) => t.id).join(', ')}`,
    )
  }
  return ALL_TARGETS.filter((t) => ids.includes(t.id))
}

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number >= 1`)
  return value
}

const say = (line: string) => process.stderr.write(`${line}\n`)

class BenchFailure extends Error {}

/** One measured run: autocannon's figures plus what the server process spent. */
interface RoundFigures extends LoadFigures {
  /** Server CPU time (user + system) per completed request, in microseconds. */
  readonly serverCpuUsPerRequest: number
  /** Server CPU time over wall time: ~100% means the server was the bottleneck. */
  readonly serverBusyPercent: number
}

async function loadChecked(
  target: Target,
  running: RunningTarget,
  phase: string,
  seconds: number,
): Promise<LoadFigures> {
  say(`${phase}: ${target.label}, ${seconds} s`)
  const figures = await load(running.request, seconds, running.expectBody)
  if (failureCount(figures) > 0) {
    throw new BenchFailure(
      `${target.label} (${phase}): ${JSON.stringify(figures.failures)} out of ` +
        `${figures.completed} requests; every request must be a 2xx with the expected body.\n` +
        `Last server output:\n${running.server.output()}`,
    )
  }
  return figures
}

async function measure(target: Target, running: RunningTarget, round: number) {
  await loadChecked(target, running, `round ${round} warm-up`, WARMUP)
  const cpuBefore = running.server.cpuSeconds()
  const started = performance.now()
  const figures = await loadChecked(target, running, `round ${round} measure`, DURATION)
  const wallSeconds = (performance.now() - started) / 1000
  const cpu = running.server.cpuSeconds() - cpuBefore
  return {
    ...figures,
    serverCpuUsPerRequest: (cpu * 1e6) / figures.completed,
    serverBusyPercent: (100 * cpu) / wallSeconds,
  }
}

function best(m: Measured): RoundFigures {
  return m.rounds.reduce((a, b) => (b.requestsPerSec > a.requestsPerSec ? b : a))
}

async function main(): Promise<number> {
  const running = new Map<Target, RunningTarget>()
  const measured = new Map<Target, Measured>()
  try {
    for (const target of TARGETS) {
      say(`starting ${target.label}`)
      running.set(target, await target.start())
      measured.set(target, { target, rounds: [], peakRssKiB: 0 })
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? TARGETS : [...TARGETS].reverse()
      for (const target of order) {
        const figures = await measure(target, running.get(target) as RunningTarget, round)
        ;(measured.get(target) as Measured).rounds.push(figures)
        say(
          `  ${thousands(figures.requestsPerSec)} req/s, server ${fixed(figures.serverBusyPercent, 0)}% busy`,
        )
      }
    }
    for (const [target, server] of running) {
      ;(measured.get(target) as Measured).peakRssKiB = server.server.peakRssKiB()
    }
  } finally {
    await Promise.all([...running.values()].map((r) => r.stop()))
  }
  // The resource-server section runs after every introspection target has stopped.
  const resourceServer = RESOURCE_SERVER
    ? await runResourceServerBench({ duration: DURATION, warmup: WARMUP, rounds: ROUNDS })
    : undefined
  return report(measured, resourceServer)
}

function report(
  measured: Map<Target, Measured>,
  resourceServer: ResourceServerFigures | undefined,
): number {
  const of = (t: Target) => measured.get(t) as Measured
  const rows = TARGETS.map((t) => {
    const m = of(t)
    const b = best(m)
    return [
      t.label,
      thousands(b.requestsPerSec),
      m.rounds.map((r) => thousands(r.requestsPerSec)).join(' / '),
      wholeMs(b.latencyMs.p50),
      wholeMs(b.latencyMs.p99),
      fixed(m.peakRssKiB / 1024, 0),
      fixed(b.serverCpuUsPerRequest, 0),
      fixed(b.serverBusyPercent, 0),
      String(m.rounds.reduce((n, r) => n + failureCount(r), 0)),
    ]
  })
  const ratios = GOALS.filter((g) => TARGETS.includes(keyhole) && TARGETS.includes(g.over)).map(
    (goal) => {
      const value = best(of(keyhole)).requestsPerSec / best(of(goal.over)).requestsPerSec
      const perRound = of(keyhole).rounds.map(
        (r, i) => r.requestsPerSec / (of(goal.over).rounds[i] as RoundFigures).requestsPerSec,
      )
      return { ...goal, value, perRound, met: value >= goal.atLeast }
    },
  )
  const references = REFERENCES.filter(
    (r) => TARGETS.includes(r.of) && TARGETS.includes(r.over),
  ).map((reference) => ({
    ...reference,
    value: best(of(reference.of)).requestsPerSec / best(of(reference.over)).requestsPerSec,
    perRound: of(reference.of).rounds.map(
      (r, i) => r.requestsPerSec / (of(reference.over).rounds[i] as RoundFigures).requestsPerSec,
    ),
  }))

  const machine = {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: release(),
    loadAverage: { atStart: LOAD_AT_START, atEnd: loadavg()[0] ?? 0 },
  }
  console.log(
    `\nKeyhole introspection benchmark: ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, ` +
      `load average ${fixed(machine.loadAverage.atStart, 2)} at start, ${fixed(machine.loadAverage.atEnd, 2)} at end`,
  )
  console.log(
    `autocannon ${CONNECTIONS} connections, pipelining ${PIPELINING}; warm-up ${WARMUP} s + ${DURATION} s measured per run; ` +
      `${ROUNDS} rounds, best round shown\n`,
  )
  console.log(
    markdownTable(
      [
        'target',
        'req/s (best)',
        'req/s (rounds)',
        'p50 ms',
        'p99 ms',
        'peak RSS MiB',
        'server CPU µs/req',
        'server busy %',
        'failures',
      ],
      rows,
    ),
  )
  console.log(
    '\np50/p99: autocannon latency histogram, whole milliseconds rounded down. Server CPU: user + system ' +
      'time of the server process over the measured run (/proc/<pid>/stat). Peak RSS: VmHWM after all rounds.\n',
  )
  console.log(
    markdownTable(
      ['ratio', 'best', 'per round', 'goal', 'status'],
      ratios
        .map((r) => [
          r.label,
          `${fixed(r.value, 2)}×`,
          r.perRound.map((v) => `${fixed(v, 2)}×`).join(' / '),
          `≥ ${r.atLeast}×`,
          r.met ? 'met' : 'NOT MET',
        ])
        .concat(
          references.map((r) => [
            r.label,
            `${fixed(r.value, 2)}×`,
            r.perRound.map((v) => `${fixed(v, 2)}×`).join(' / '),
            '—',
            '—',
          ]),
        ),
    ),
  )

  const resourceServerMet =
    resourceServer === undefined ? true : reportResourceServer(resourceServer)

  const json = {
    date: new Date().toISOString(),
    machine,
    method: {
      connections: CONNECTIONS,
      pipelining: PIPELINING,
      warmupSeconds: WARMUP,
      durationSeconds: DURATION,
      rounds: ROUNDS,
      figure: 'best round by req/s; latency percentiles from that round',
    },
    targets: TARGETS.map((t) => ({
      id: t.id,
      label: t.label,
      best: best(of(t)),
      rounds: of(t).rounds,
      peakRssKiB: of(t).peakRssKiB,
    })),
    ratios: Object.fromEntries(
      ratios.map((r) => [
        r.id,
        { best: r.value, perRound: r.perRound, atLeast: r.atLeast, met: r.met },
      ]),
    ),
    references: Object.fromEntries(
      references.map((r) => [r.id, { best: r.value, perRound: r.perRound }]),
    ),
    ...(resourceServer === undefined
      ? {}
      : { resourceServer: { ...resourceServer, atLeast: ROUTE_GOAL, met: resourceServerMet } }),
  }
  if (TARGETS.length === ALL_TARGETS.length && RESOURCE_SERVER) {
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
    writeFileSync(RESULTS, resultsJson(json))
    console.log(`\nwritten: ${RESULTS}`)
  } else {
    console.log(`\nBENCH_TARGETS ran a subset: ${RESULTS} left as it was`)
  }
  const missed = ratios.filter((r) => !r.met).length + (resourceServerMet ? 0 : 1)
  return missed > 0 && process.env.BENCH_ENFORCE === '1' ? 1 : 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const message =
      err instanceof BenchFailure ? err.message : String(err instanceof Error ? err.stack : err)
    process.stderr.write(`\n*** BENCH FAILED ***\n${message}\n`)
    process.exitCode = 1
  },
)
