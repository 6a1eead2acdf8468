/**
 * `keyhole keys generate | add | list | remove`, run as the bin users run. The key file must stay
 * one the server accepts, private (0600, no private member ever printed), and usable: a JWT
 * signed with its first key verifies against what `list --json` prints.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, test } from 'node:test'
import { createLocalJWKSet, importJWK, type JWK, jwtVerify, SignJWT } from 'jose'

const BIN = join(resolve(import.meta.dirname, '../../..'), 'packages/cli/bin/keyhole.js')
const root = mkdtempSync(join(tmpdir(), 'keyhole-keys-'))
after(() => rmSync(root, { recursive: true, force: true }))

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const

interface Outcome {
  code: number
  stdout: string
  stderr: string
}

function keyhole(args: string[]): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.on('exit', (code) => done({ code: code ?? -1, stdout, stderr }))
  })
}

/** Each test gets its own directory, so that leftover temp files can be looked for. */
function freshDir(): string {
  return mkdtempSync(join(root, 'case-'))
}

function readKeys(file: string): JWK[] {
  return (JSON.parse(readFileSync(file, 'utf8')) as { keys: JWK[] }).keys
}

function modeOf(file: string): number {
  return statSync(file).mode & 0o777
}

/** Neither a private member's value nor its name as a JSON member appears in the output. */
function assertNothingPrivate(out: Outcome, file: string): void {
  const text = out.stdout + out.stderr
  for (const jwk of readKeys(file)) {
    for (const name of PRIVATE_MEMBERS) {
      const value = jwk[name]
      if (typeof value === 'string') assert.ok(!text.includes(value), `${name} was printed`)
    }
  }
  for (const name of PRIVATE_MEMBERS) assert.doesNotMatch(text, new RegExp(`"${name}"\\s*:`))
}

async function generate(dir: string, ...algs: string[]): Promise<string> {
  const file = join(dir, 'keys.json')
  const out = await keyhole([
    'keys',
    'generate',
    '--out',
    file,
    ...algs.flatMap((a) => ['--alg', a]),
  ])
  assert.equal(out.code, 0, out.stderr)
  return file
}

describe('keyhole keys generate', () => {
  test('creates a 0600 file with an ES256 then an RS256 private key, printing only kids', async () => {
    const file = await generate(freshDir())
    assert.equal(modeOf(file), 0o600)
    const keys = readKeys(file)
    assert.deepEqual(
      keys.map((k) => [k.alg, k.use, typeof k.d]),
      [
        ['ES256', 'sig', 'string'],
        ['RS256', 'sig', 'string'],
      ],
    )
    const out = await keyhole(['keys', 'list', '--file', file])
    for (const k of keys) assert.ok(out.stdout.includes(k.kid ?? '?'))
    assertNothingPrivate(out, file)
  })

  test('takes the algorithms in the order given', async () => {
    const file = await generate(freshDir(), 'EdDSA', 'PS256', 'ES384')
    assert.deepEqual(
      readKeys(file).map((k) => k.alg),
      ['EdDSA', 'PS256', 'ES384'],
    )
  })

  test('refuses to overwrite an existing file (exit 2), leaving it as it was', async () => {
    const file = await generate(freshDir())
    const before = readFileSync(file, 'utf8')
    const out = await keyhole(['keys', 'generate', '--out', file])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /exists: refusing to overwrite/)
    assert.equal(readFileSync(file, 'utf8'), before)
  })

  test('refuses an unknown algorithm, a repeated one and a missing --out (exit 2)', async () => {
    const dir = freshDir()
    const out = join(dir, 'k.json')
    for (const args of [
      ['--out', out, '--alg', 'HS256'],
      ['--out', out, '--alg', 'none'],
      ['--out', out, '--alg', 'ES256', '--alg', 'ES256'],
      [],
    ]) {
      assert.equal((await keyhole(['keys', 'generate', ...args])).code, 2, args.join(' '))
    }
    assert.deepEqual(readdirSync(dir), [])
  })
})

describe('keyhole keys add', () => {
  test('puts the new key first and keeps the others in order; no temp file is left', async () => {
    const dir = freshDir()
    const file = await generate(dir)
    const old = readKeys(file)
    const out = await keyhole(['keys', 'add', '--file', file, '--alg', 'ES256'])
    assert.equal(out.code, 0, out.stderr)
    const now = readKeys(file)
    assert.equal(now.length, 3)
    assert.equal(now[0]?.alg, 'ES256')
    assert.deepEqual(now.slice(1), old)
    assert.ok(!old.some((k) => k.kid === now[0]?.kid))
    assert.equal(modeOf(file), 0o600)
    assert.deepEqual(readdirSync(dir), ['keys.json'])
    assertNothingPrivate(out, file)
  })

  test("keeps the file's mode, and writes through a symbolic link to its target", async () => {
    const dir = freshDir()
    const file = await generate(dir)
    chmodSync(file, 0o640)
    const link = join(dir, 'link.json')
    symlinkSync(file, link)
    const out = await keyhole(['keys', 'add', '--file', link, '--alg', 'EdDSA'])
    assert.equal(out.code, 0, out.stderr)
    assert.match(out.stderr, /open to group or others \(mode 0640\)/)
    assert.equal(modeOf(file), 0o640)
    assert.ok(statSync(link).isFile())
    assert.equal(readKeys(file)[0]?.alg, 'EdDSA')
  })

  test('refuses an unknown algorithm (exit 2), leaving the file as it was', async () => {
    const file = await generate(freshDir())
    const before = readFileSync(file, 'utf8')
    const out = await keyhole(['keys', 'add', '--file', file, '--alg', 'HS256'])
    assert.equal(out.code, 2)
    assert.equal(readFileSync(file, 'utf8'), before)
  })
})

describe('keyhole keys list', () => {
  test('names the access-token signer, the first key of each algorithm and the others', async () => {
    const file = await generate(freshDir())
    assert.equal((await keyhole(['keys', 'add', '--file', file, '--alg', 'ES256'])).code, 0)
    const [first, oldEs, rs] = readKeys(file)
    const out = await keyhole(['keys', 'list', '--file', file])
    assert.equal(out.code, 0, out.stderr)
    const lines = out.stdout.trim().split('\n')
    assert.match(
      lines[1] ?? '',
      new RegExp(`^1\\s+${first?.kid}\\s+ES256\\s+signs access tokens, first ES256$`),
    )
    assert.match(lines[2] ?? '', new RegExp(`^2\\s+${oldEs?.kid}\\s+ES256\\s+published only$`))
    assert.match(lines[3] ?? '', new RegExp(`^3\\s+${rs?.kid}\\s+RS256\\s+first RS256$`))
    assertNothingPrivate(out, file)
  })

  test('--json is a public JWK Set against which a JWT signed with the first key verifies', async () => {
    const file = await generate(freshDir())
    assert.equal((await keyhole(['keys', 'add', '--file', file, '--alg', 'PS256'])).code, 0)
    const out = await keyhole(['keys', 'list', '--file', file, '--json'])
    assert.equal(out.code, 0, out.stderr)
    assertNothingPrivate(out, file)
    const jwks = JSON.parse(out.stdout) as { keys: JWK[] }
    const keys = readKeys(file)
    assert.deepEqual(
      jwks.keys.map((k) => [k.kid, k.alg, k.use]),
      keys.map((k) => [k.kid, k.alg, 'sig']),
    )
    for (const k of jwks.keys) {
      for (const name of PRIVATE_MEMBERS) assert.equal(k[name], undefined, name)
    }
    const resolveKey = createLocalJWKSet(jwks)
    // The new signer, and a key kept from before the rotation: both still verify.
    for (const signer of [keys[0], keys[1]]) {
      assert.ok(signer?.kid !== undefined && signer.alg !== undefined)
      const jwt = await new SignJWT({ sub: 'shop' })
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(await importJWK(signer, signer.alg))
      const { payload } = await jwtVerify(jwt, resolveKey)
      assert.equal(payload.sub, 'shop')
    }
  })
})

describe('keyhole keys remove', () => {
  test('removes the key with that kid and keeps the rest in order', async () => {
    const dir = freshDir()
    const file = await generate(dir)
    assert.equal((await keyhole(['keys', 'add', '--file', file, '--alg', 'ES256'])).code, 0)
    const [first, old, rs] = readKeys(file)
    const out = await keyhole(['keys', 'remove', '--file', file, '--kid', old?.kid ?? '?'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(readKeys(file), [first, rs])
    assert.equal(modeOf(file), 0o600)
    assert.deepEqual(readdirSync(dir), ['keys.json'])
    assertNothingPrivate(out, file)
  })

  test('refuses to remove the only key (exit 2), leaving the file as it was', async () => {
    const file = await generate(freshDir(), 'ES256')
    const before = readFileSync(file, 'utf8')
    const [only] = readKeys(file)
    const out = await keyhole(['keys', 'remove', '--file', file, '--kid', only?.kid ?? '?'])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /refusing to remove the only key/)
    assert.equal(readFileSync(file, 'utf8'), before)
  })

  test('refuses an unknown kid (exit 2)', async () => {
    const file = await generate(freshDir())
    const before = readFileSync(file, 'utf8')
    const out = await keyhole(['keys', 'remove', '--file', file, '--kid', 'no-such-kid'])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /no key with kid "no-such-kid"/)
    assert.equal(readFileSync(file, 'utf8'), before)
  })
})

describe('a file that is not a usable key set', () => {
  const SECRET = 'c2VjcmV0LWtleS1tYXRlcmlhbC1uZXZlci1wcmludGVk'

  test('exits 2 with the key-set problem, never quoting the key, and is not rewritten', async () => {
    const file = join(freshDir(), 'keys.json')
    const text = JSON.stringify({
      keys: [{ kty: 'oct', k: SECRET, d: SECRET, alg: 'HS256', kid: 'a' }],
    })
    writeFileSync(file, text, { mode: 0o600 })
    for (const args of [
      ['list', '--file', file],
      ['list', '--file', file, '--json'],
      ['add', '--file', file, '--alg', 'ES256'],
      ['remove', '--file', file, '--kid', 'a'],
    ]) {
      const out = await keyhole(['keys', ...args])
      assert.equal(out.code, 2, args.join(' '))
      assert.match(out.stderr, /keys\[0\]\.alg: must be one of RS256, PS256, ES256, ES384, EdDSA/)
      assert.ok(!(out.stdout + out.stderr).includes(SECRET))
    }
    assert.equal(readFileSync(file, 'utf8'), text)
  })

  test('a file that is not JSON exits 2 without quoting it; a missing file exits 2', async () => {
    const dir = freshDir()
    const file = join(dir, 'keys.json')
    writeFileSync(file, `{"keys":[{"kty":"EC","d":"${SECRET}"`)
    const broken = await keyhole(['keys', 'list', '--file', file])
    assert.equal(broken.code, 2)
    assert.match(broken.stderr, /is not valid JSON/)
    assert.ok(!broken.stderr.includes(SECRET))
    const missing = await keyhole([
      'keys',
      'add',
      '--file',
      join(dir, 'absent.json'),
      '--alg',
      'ES256',
    ])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /cannot read .*absent\.json \(ENOENT\)/)
  })
})
