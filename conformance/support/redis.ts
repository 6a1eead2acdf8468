/**
 * A real redis-server on loopback for tests and benchmarks, started and stopped by the test itself
 * (Debian's redis-server; nothing is saved to disk). Shared by every package's tests.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'

export interface RunningRedis {
  /** `redis://127.0.0.1:PORT`, with `:PASSWORD@` when one was asked for. */
  readonly url: string
  readonly port: number
  /** SIGSTOP: connections stay open and nothing answers (a hung server, a partition). */
  pause(): void
  /** SIGCONT after `pause`. */
  resume(): void
  stop(): Promise<void>
}

export interface RedisOptions {
  /** Listen on this port (a restart on the same address); otherwise a free one. */
  readonly port?: number
  /** `requirepass`: clients must authenticate with it. */
  readonly password?: string
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const port = options.port ?? (await freePort())
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  if (options.password !== undefined) args.push('--requirepass', options.password)
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start:\n${output}`)),
      10_000,
    )
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(
        new Error(
          `redis-server could not run (${err.message}); install it: apt-get install redis-server`,
        ),
      )
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited with ${code}:\n${output}`))
    })
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`
  return {
    url: `redis://${auth}127.0.0.1:${port}`,
    port,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT')
        child.kill('SIGTERM')
      }
      await exited
    },
  }
}
