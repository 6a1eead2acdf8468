import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { openSqliteStore } from '@keyhole/server'

const ROOT = resolve(import.meta.dirname, '../../..')
const BIN = join(ROOT, 'packages/cli/bin/keyhole.js')
const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'keyhole-cli-'))
after(() => rmSync(dir, { recursive: true, force: true }))

interface Outcome {
  code: number
  stdout: string
  stderr: string
}

function keyhole(args: string[], stdin?: string): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.stdin.end(stdin ?? '')
    child.on('exit', (code) => done({ code: code ?? -1, stdout, stderr }))
  })
}

describe('keyhole serve', () => {
  test('an invalid config exits 2 with a message naming the option path, and no secret', async () => {
    const file = join(dir, 'bad.json')
    writeFileSync(
      file,
      JSON.stringify({
        resources: [{ id: 'orders', audience: 'https://o', secret: 'topsecret-value', scopes: [] }],
        clients: [{ id: 'shop', secret: 'another-secret-value', scopes: ['nope'] }],
      }),
    )
    const out = await keyhole(['serve', '--config', file, '--port', '0'])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /clients\[0\]\.scopes\[0\]: "nope" is not a scope of any resource/)
    assert.ok(
      !out.stderr.includes('topsecret-value') && !out.stderr.includes('another-secret-value'),
    )
  })

  test('a config that is not JSON exits 2 without quoting the file', async () => {
    const file = join(dir, 'broken.json')
    writeFileSync(file, '{"clients": [{"secret": "quoted-secret-here" ')
    const out = await keyhole(['serve', '--config', file])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /not valid JSON/)
    assert.ok(!out.stderr.includes('quoted-secret-here'))
  })

  test('a missing config file exits 2 and says so', async () => {
    const out = await keyhole(['serve', '--config', join(dir, 'absent.json')])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /cannot read the file \(ENOENT\)/)
  })

  test('a storage path that cannot be opened exits 2 naming the option, without a stack trace', async () => {
    const notAFolder = join(dir, 'plain-file')
    writeFileSync(notAFolder, 'x')
    const file = join(dir, 'bad-storage.json')
    writeFileSync(file, JSON.stringify({ storage: `sqlite:${join(notAFolder, 'keyhole.db')}` }))
    const out = await keyhole(['serve', '--config', file, '--port', '0'])
    assert.equal(out.code, 2, out.stderr)
    assert.match(out.stderr, /storage: cannot open .*plain-file.*\((EEXIST|ENOTDIR)\)/)
    assert.doesNotMatch(out.stderr, /\n\s+at /)
  })

  test('a second server on the same SQLite file exits 2 naming the option, after waiting 5 s', async () => {
    const path = join(dir, 'owned', 'keyhole.db')
    const owner = openSqliteStore({ path })
    try {
      const file = join(dir, 'owned.json')
      writeFileSync(file, JSON.stringify({ storage: `sqlite:${path}` }))
      const started = Date.now()
      const out = await keyhole(['serve', '--config', file, '--port', '0'])
      assert.ok(Date.now() - started >= 4_500, 'waited for the owner to let go')
      assert.equal(out.code, 2, out.stderr)
      assert.match(out.stderr, /storage: .*owned.keyhole\.db is in use by another Keyhole server/)
      assert.doesNotMatch(out.stderr, /\n\s+at /)
    } finally {
      await owner.close()
    }
  })

  test('a bad --port is refused before anything starts', async () => {
    const out = await keyhole(['serve', '--config', 'x.json', '--port', 'eighty'])
    assert.notEqual(out.code, 0)
    assert.match(out.stderr, /--port.*whole number/)
  })
})

describe('keyhole hash-secret', () => {
  test('--generate prints a 256-bit base64url secret and its hash', async () => {
    const out = await keyhole(['hash-secret', '--generate'])
    assert.equal(out.code, 0)
    const secret = /^secret: +([A-Za-z0-9_-]+)$/m.exec(out.stdout)?.[1] ?? ''
    const hash = /^secretHash: +(\S+)$/m.exec(out.stdout)?.[1]
    assert.equal(Buffer.from(secret, 'base64url').length, 32)
    assert.equal(hash, `sha256:${createHash('sha256').update(secret).digest('base64url')}`)
  })

  test('hashes a secret read from standard input', async () => {
    const out = await keyhole(['hash-secret'], 'orders-secret\n')
    assert.equal(out.code, 0)
    assert.equal(
      out.stdout.trim(),
      `sha256:${createHash('sha256').update('orders-secret').digest('base64url')}`,
    )
  })

  test('empty standard input is an error', async () => {
    const out = await keyhole(['hash-secret'], '')
    assert.equal(out.code, 2)
  })

  test('on a terminal the secret is read with echo off: it never shows', {
    timeout: 15_000,
  }, async (t) => {
    // util-linux `script` gives the command a real terminal (a pty) and copies what it shows.
    // The test's signal ends it if the test times out, so a regression fails instead of hanging.
    const child = spawn(
      'script',
      ['-qec', `"${process.execPath}" "${BIN}" hash-secret`, '/dev/null'],
      { stdio: ['pipe', 'pipe', 'pipe'], signal: t.signal, killSignal: 'SIGKILL' },
    )
    child.on('error', () => {})
    let screen = ''
    const prompted = new Promise<void>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        screen += c.toString()
        if (screen.includes('secret (hidden')) resolve()
      })
    })
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
    // Typed only once the prompt is up, which is after echo was turned off.
    await prompted
    child.stdin.write('hunter2-typed\r')
    assert.equal(await exited, 0)
    child.stdin.end()
    assert.ok(!screen.includes('hunter2'), JSON.stringify(screen))
    assert.ok(
      screen.includes(`sha256:${createHash('sha256').update('hunter2-typed').digest('base64url')}`),
      JSON.stringify(screen),
    )
  })
})

describe('keyhole demo (npm start)', () => {
  test('prints a walk-through that really gets, introspects, revokes and re-introspects', async () => {
    const config = join(dir, 'demo.json')
    copyFileSync(join(ROOT, 'examples/demo/keyhole.json'), config)
    const child = spawn(process.execPath, [BIN, 'demo', '--config', config, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    try {
      const deadline = Date.now() + 20_000
      while (!stdout.includes('introspect again') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
      }
      const script = stdout
        .slice(stdout.indexOf('# 1.'))
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('{'))
        .join('\n')
      const { stdout: result } = await run('bash', ['-c', script])
      const [token, active, status, inactive] = result.trim().split('\n')
      assert.match(token ?? '', /^kh_at_[0-9A-Za-z]{49}$/)
      const introspection = JSON.parse(active ?? '') as Record<string, unknown>
      assert.equal(introspection.active, true)
      assert.equal(introspection.scope, 'orders:read')
      assert.deepEqual(introspection.aud, ['https://orders.example.test'])
      assert.equal(status, '200')
      assert.equal(inactive, '{"active":false}')
    } finally {
      child.kill('SIGTERM')
    }
  })
})
