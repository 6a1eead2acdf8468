/**
 * A benchmark target's server, in its own process: started, waited for (the
 * `{"msg":"listening","url":...,"issuer":...}` line every target prints, as `keyhole serve` does),
 * drained (so that a logging server never blocks on a full pipe), measured and stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '../..')

/** Output kept for error messages; older output is dropped (a logging server writes a lot). */
const KEEP_OUTPUT_CHARS = 16_384
const START_TIMEOUT_MS = 30_000

export interface ServerProcess {
  readonly pid: number
  readonly url: string
  readonly issuer: string
  /** The last few KB the process wrote to stdout and stderr. */
  output(): string
  /** Peak resident set size so far, in KiB (VmHWM in /proc/<pid>/status). */
  peakRssKiB(): number
  /** CPU time (user + system) the process has used so far, in seconds (/proc/<pid>/stat). */
  cpuSeconds(): number
  stop(): Promise<void>
}

export interface SpawnOptions {
  /** Arguments to `node`. */
  readonly args: readonly string[]
  readonly env?: Readonly<Record<string, string>>
}

export async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, options.args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8')
    if (output.length > 2 * KEEP_OUTPUT_CHARS) output = output.slice(-KEEP_OUTPUT_CHARS)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((done) => child.once('exit', () => done()))
  const listening = await waitForListening(child, () => output)
  const pid = child.pid
  if (pid === undefined) throw new Error('the server process has no pid')
  return {
    pid,
    url: listening.url,
    issuer: listening.issuer,
    output: () => output.slice(-KEEP_OUTPUT_CHARS),
    peakRssKiB: () => readPeakRssKiB(pid),
    cpuSeconds: () => readCpuSeconds(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    },
  }
}

export function readPeakRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status)
  if (match?.[1] === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`)
  return Number(match[1])
}

/** Clock ticks a second for /proc/<pid>/stat (USER_HZ: 100 on every Linux build that matters). */
const CLOCK_TICKS = 100

export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot read CPU time from /proc/${pid}/stat`)
  }
  return (utime + stime) / CLOCK_TICKS
}

function waitForListening(
  child: ChildProcess,
  output: () => string,
): Promise<{ url: string; issuer: string }> {
  return new Promise((resolveListening, reject) => {
    let buffered = ''
    const check = (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      for (const line of buffered.split('\n')) {
        if (!line.startsWith('{')) continue
        let entry: { msg?: unknown; url?: unknown; issuer?: unknown }
        try {
          entry = JSON.parse(line) as typeof entry
        } catch {
          continue
        }
        if (
          entry.msg === 'listening' &&
          typeof entry.url === 'string' &&
          typeof entry.issuer === 'string'
        ) {
          finish()
          resolveListening({ url: entry.url, issuer: entry.issuer })
          return
        }
      }
    }
    const exit = (code: number | null) => {
      finish()
      reject(new Error(`the server exited with ${code} before listening:\n${output()}`))
    }
    const timer = setTimeout(() => {
      finish()
      child.kill('SIGKILL')
      reject(new Error(`the server did not start in ${START_TIMEOUT_MS} ms:\n${output()}`))
    }, START_TIMEOUT_MS)
    const finish = () => {
      clearTimeout(timer)
      child.stdout?.off('data', check)
      child.off('exit', exit)
    }
    child.stdout?.on('data', check)
    child.once('exit', exit)
  })
}
