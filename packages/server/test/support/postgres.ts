/**
 * A real PostgreSQL server on loopback for tests, started and stopped by the test itself: a fresh
 * data folder (initdb, trust authentication, superuser `keyhole`), a free port, no fsync. Each test
 * file starts its own, so files run in parallel; tests inside a file use their own databases
 * (`createDatabase`).
 *
 * PostgreSQL refuses to run as root. As root (CI, this sandbox) the folder is handed to `nobody`
 * and initdb and postgres run as that user.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { GENERATED_ALGORITHMS, generateSigningJwk } from '@keyhole/server'
import postgres from 'postgres'

export interface RunningPostgres {
  /** postgres://keyhole@127.0.0.1:PORT/postgres (the maintenance database). */
  readonly url: string
  readonly port: number
  /** A new, empty database; returns its URL. */
  createDatabase(name: string): Promise<string>
  /** Stop the server (fast shutdown) and remove its files. */
  stop(): Promise<void>
}

const INSTALL_HINT =
  'install PostgreSQL (Debian: apt-get install postgresql); .ci/run does this when initdb is missing'

/** initdb and postgres: on PATH, else the newest Debian install under /usr/lib/postgresql. */
export function findPostgresBinaries(): { initdb: string; postgres: string } {
  const onPath = (name: string): string | undefined => {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
    }
    return undefined
  }
  const initdb = onPath('initdb')
  const server = onPath('postgres')
  if (initdb !== undefined && server !== undefined) return { initdb, postgres: server }
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : []
  for (const version of versions) {
    const bin = join(root, version, 'bin')
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) {
      return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') }
    }
  }
  throw new Error(`PostgreSQL's initdb and postgres were not found: ${INSTALL_HINT}`)
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** As root: run as `nobody`, who must own the folder. Otherwise: as ourselves. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string): number => {
    try {
      return Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim())
    } catch {
      return 65_534
    }
  }
  return { uid: id('-u'), gid: id('-g') }
}

function run(file: string, args: readonly string[], dir: string, user: ReturnType<typeof runAs>) {
  return spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    // A folder the server's user may enter (the checkout may not be one).
    cwd: dir,
    ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
    // Not the caller's HOME (root's, unreadable to nobody) nor its PG* variables.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
  })
}

function collect(child: ChildProcess): () => string {
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  return () => output
}

export async function startPostgres(): Promise<RunningPostgres> {
  const bin = findPostgresBinaries()
  const user = runAs()
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-pg-'))
  const data = join(dir, 'data')
  if (user !== undefined) chownSync(dir, user.uid, user.gid)

  const initdb = run(
    bin.initdb,
    ['-D', data, '-U', 'keyhole', '--auth=trust', '--no-sync', '--no-locale', '-E', 'UTF8'],
    dir,
    user,
  )
  const initOutput = collect(initdb)
  const initStatus = await new Promise<number | string>((resolve) => {
    initdb.once('error', (err) => resolve(err.message))
    initdb.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  })
  if (initStatus !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`initdb failed (${initStatus}):\n${initOutput()}`)
  }

  const port = await freePort()
  const child = run(
    bin.postgres,
    [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ],
    dir,
    user,
  )
  const output = collect(child)
  // If the test process dies first, the server must not outlive it.
  const killOnExit = () => child.kill('SIGQUIT')
  process.once('exit', killOnExit)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGQUIT')
      reject(new Error(`postgres did not start in 30 s:\n${output()}`))
    }, 30_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`postgres could not run (${err.message}): ${INSTALL_HINT}`))
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`postgres exited with ${code}:\n${output()}`))
    })
    const check = () => {
      if (output().includes('ready to accept connections')) {
        clearTimeout(timer)
        child.stderr?.off('data', check)
        resolve()
      }
    }
    child.stderr?.on('data', check)
  })

  const url = `postgres://keyhole@127.0.0.1:${port}/postgres`
  return {
    url,
    port,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`)
      const admin = postgres(url, { max: 1, onnotice: () => {} })
      try {
        await admin.unsafe(`CREATE DATABASE ${name}`)
      } finally {
        await admin.end()
      }
      return `postgres://keyhole@127.0.0.1:${port}/${name}`
    },
    async stop() {
      process.off('exit', killOnExit)
      // SIGINT: fast shutdown (disconnects clients, no waiting for them).
      child.kill('SIGINT')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

let keyFile: Promise<string> | undefined

/**
 * A signing-key file for servers on PostgreSQL (where `signingKeys` is required, and every server
 * sharing a database must use the same file): one per process, removed at exit.
 */
export function sharedSigningKeys(): Promise<string> {
  keyFile ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhole-keys-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    const keys = await Promise.all(GENERATED_ALGORITHMS.map(generateSigningJwk))
    const path = join(dir, 'keys.json')
    writeFileSync(path, JSON.stringify({ keys }), { mode: 0o600 })
    return path
  })()
  return keyFile
}
