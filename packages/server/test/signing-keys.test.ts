/**
 * The server's signing keys: the key file it creates beside its SQLite database, what survives a
 * restart, rotation, and the key files and settings it refuses (never quoting key material).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import {
  ConfigError,
  generateSigningJwk,
  importSigningKeys,
  parseConfig,
  SigningKeyError,
} from '@keyhole/server'
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
} from 'jose'
import {
  fixtureConfig,
  get,
  getToken,
  introspect,
  KEYHOLE_BIN,
  type RunningServer,
  startServer,
} from '../../../conformance/support/harness.ts'

const dirs: string[] = []
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-keys-'))
  dirs.push(dir)
  return dir
}

function jwtConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const fixture = fixtureConfig()
  return {
    ...fixture,
    clients: (fixture.clients as Record<string, unknown>[]).map((c) =>
      c.id === 'shop' ? { ...c, accessTokenFormat: 'jwt' } : c,
    ),
    ...extra,
  }
}

async function publishedKeys(server: RunningServer) {
  return (await get(`${server.url}/jwks`)).json<{ keys: { kid: string; alg: string }[] }>().keys
}

/** Run `keyhole serve` on a config that must be refused; its exit status and output. */
function refusedStart(dir: string, config: Record<string, unknown>) {
  const path = join(dir, 'keyhole.json')
  writeFileSync(path, JSON.stringify({ storage: 'sqlite:./keyhole.db', ...config }))
  const run = spawnSync(process.execPath, [KEYHOLE_BIN, 'serve', '--config', path, '--port', '0'], {
    encoding: 'utf8',
    timeout: 20_000,
  })
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

describe('signing keys', () => {
  test('BCP-04 the key file is created beside the database, readable by its owner only, with ES256 and RS256 keys', async () => {
    const dir = tempDir()
    const server = await startServer(jwtConfig(), { dir })
    try {
      const file = join(dir, 'keyhole.db-keys.json')
      assert.equal(statSync(file).mode & 0o777, 0o600)
      const stored = JSON.parse(readFileSync(file, 'utf8')) as {
        keys: { alg: string; d?: string }[]
      }
      assert.deepEqual(
        stored.keys.map((k) => k.alg),
        ['ES256', 'RS256'],
      )
      assert.ok(
        stored.keys.every((k) => typeof k.d === 'string'),
        'private keys',
      )
      assert.deepEqual(
        (await publishedKeys(server)).map((k) => k.alg),
        ['ES256', 'RS256'],
      )
      assert.match(server.output(), /signing keys created/)
    } finally {
      await server.stop()
    }
  })

  test('a JWT access token issued before a crash still verifies and introspects after the restart', async () => {
    const dir = tempDir()
    const first = await startServer(jwtConfig(), { dir })
    const token = await getToken(first)
    const before = await publishedKeys(first)
    await first.kill()
    const second = await startServer(jwtConfig(), { dir })
    try {
      assert.deepEqual(await publishedKeys(second), before, 'the same keys')
      const jwks = createLocalJWKSet({ keys: await publishedKeys(second) } as never)
      // The issuer is the first server's (this fixture's issuer follows its port).
      await jwtVerify(token, jwks, { issuer: first.issuer, typ: 'at+jwt' })
      assert.equal((await introspect(second, token)).json().active, true)
    } finally {
      await second.stop()
    }
  })

  test('rotation: the first key of the file signs, every key is published, and tokens of the old key stay active', async () => {
    const dir = tempDir()
    const old = await generateSigningJwk('ES256')
    writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [old] }), { mode: 0o600 })
    const first = await startServer(jwtConfig({ signingKeys: './keys.json' }), { dir })
    const before = await getToken(first)
    await first.stop()

    const added = await generateSigningJwk('ES256')
    const both = JSON.stringify({ keys: [added, old] })
    writeFileSync(join(dir, 'keys.json'), both, { mode: 0o600 })
    const second = await startServer(jwtConfig({ signingKeys: './keys.json' }), { dir })
    try {
      assert.deepEqual(
        (await publishedKeys(second)).map((k) => k.kid),
        [added.kid, old.kid],
      )
      assert.equal(decodeProtectedHeader(await getToken(second)).kid, added.kid)
      assert.equal(decodeProtectedHeader(before).kid, old.kid)
      assert.equal((await introspect(second, before)).json().active, true)
    } finally {
      await second.stop()
    }
  })

  test('a key file that is not a private key set stops the start (exit 2), naming signingKeys and quoting no key material', async () => {
    const dir = tempDir()
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    const secretD = (await exportJWK(privateKey)).d as string
    const cases: [unknown, RegExp][] = [
      [
        { keys: [{ ...(await exportJWK(publicKey)), kid: 'a', alg: 'ES256' }] },
        /must be a private key/,
      ],
      [
        { keys: [{ ...(await exportJWK(privateKey)), kid: 'a', alg: 'HS256' }] },
        /alg: must be one of/,
      ],
      [{ keys: [{ ...(await exportJWK(privateKey)), kid: 'a', alg: 'RS256' }] }, /must be kty RSA/],
      [{ keys: [] }, /at least one key/],
      ['not json', /not valid JSON/],
    ]
    for (const [content, expected] of cases) {
      writeFileSync(
        join(dir, 'keys.json'),
        typeof content === 'string' ? `${content} ${secretD}` : JSON.stringify(content),
      )
      const run = refusedStart(dir, jwtConfig({ signingKeys: './keys.json' }))
      assert.equal(run.status, 2, run.output)
      assert.match(run.output, /signingKeys/)
      assert.match(run.output, expected)
      assert.ok(!run.output.includes(secretD), 'the private key is never quoted')
    }
  })

  test('J-13 a resource registering an algorithm no key has stops the start, naming the option', () => {
    const dir = tempDir()
    const fixture = fixtureConfig()
    const resources = (fixture.resources as Record<string, unknown>[]).map((r, i) =>
      i === 1 ? { ...r, introspectionSignedResponseAlg: 'EdDSA' } : r,
    )
    const run = refusedStart(dir, { ...fixture, resources })
    assert.equal(run.status, 2, run.output)
    assert.match(
      run.output,
      /resources\[1\]\.introspectionSignedResponseAlg: no key of signingKeys has EdDSA/,
    )
  })

  test('with PostgreSQL storage the key file is required and never created', () => {
    const pg = 'postgres://keyhole@127.0.0.1:5432/keyhole'
    assert.throws(
      () => parseConfig({ storage: pg }, '/etc/keyhole'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => /^signingKeys: required with PostgreSQL/.test(p)),
    )
    const config = parseConfig({ storage: pg, signingKeys: 'keys.json' }, '/etc/keyhole')
    assert.deepEqual(config.signingKeys, {
      kind: 'file',
      path: '/etc/keyhole/keys.json',
      create: false,
    })
    assert.deepEqual(parseConfig({ storage: 'sqlite::memory:' }, '/x').signingKeys, {
      kind: 'memory',
    })
  })

  test('importSigningKeys refuses short RSA keys, repeated kids and symmetric keys', async () => {
    const es = await generateSigningJwk('ES256')
    await assert.rejects(importSigningKeys({ keys: [es, es] }, 'f'), /used twice/)
    await assert.rejects(
      importSigningKeys({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'x', alg: 'HS256' }] }, 'f'),
      SigningKeyError,
    )
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      format: 'jwk',
    })
    await assert.rejects(
      importSigningKeys({ keys: [{ ...short, kid: 'r', alg: 'RS256' }] }, 'f'),
      /at least 2048 bits/,
    )
    const keys = await importSigningKeys({ keys: [es, await generateSigningJwk('EdDSA')] }, 'f')
    assert.deepEqual(keys.algorithms, ['ES256', 'EdDSA'])
    assert.equal(keys.primary.kid, es.kid)
  })
})
