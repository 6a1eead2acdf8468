/**
 * The `jwks` option of clients and resources (private_key_jwt, RFC 7523): what the config accepts,
 * what it keeps, and what it refuses, each refusal naming the option path and never quoting a
 * value (a private key pasted by mistake must not reach a log).
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, test } from 'node:test'
import { ConfigError, parseConfig } from '@keyhole/server'

function jwkPair(
  type: 'ec' | 'ed25519' | 'rsa',
  options: Record<string, unknown> = {},
): { publicJwk: Record<string, unknown>; privateJwk: Record<string, unknown> } {
  const pair =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: (options.curve as string) ?? 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: (options.bits as number) ?? 2048 })
        : generateKeyPairSync('ed25519')
  return {
    publicJwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
    privateJwk: pair.privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
  }
}

const orders = {
  id: 'orders',
  audience: 'https://orders.example.test',
  secret: 'x'.repeat(40),
  scopes: ['orders:read'],
}

function withClientKeys(keys: unknown[], extra: Record<string, unknown> = {}) {
  return {
    resources: [orders],
    clients: [{ id: 'signer', jwks: { keys }, scopes: ['orders:read'], ...extra }],
  }
}

function problemsOf(input: unknown): readonly string[] {
  try {
    parseConfig(input, '/etc/keyhole')
  } catch (err) {
    assert.ok(err instanceof ConfigError)
    return err.problems
  }
  assert.fail('expected a ConfigError')
}

function assertRefused(input: unknown, expected: RegExp, secret?: string) {
  const problems = problemsOf(input)
  assert.ok(
    problems.some((p) => expected.test(p)),
    problems.join('\n'),
  )
  if (secret !== undefined) assert.ok(!problems.join('\n').includes(secret), problems.join('\n'))
}

describe('configuration: jwks (private_key_jwt)', () => {
  test('a client and a resource with public keys are kept with no secret, each key with its one alg', () => {
    const ec = jwkPair('ec').publicJwk
    const ed = jwkPair('ed25519').publicJwk
    const rsa = jwkPair('rsa').publicJwk
    const config = parseConfig(
      {
        resources: [
          {
            id: 'inventory',
            audience: 'https://inventory.example.test',
            jwks: { keys: [{ ...rsa, alg: 'PS256', use: 'sig', kid: 'r1' }] },
            scopes: ['inventory:read'],
          },
        ],
        clients: [
          {
            id: 'signer',
            jwks: {
              keys: [
                { ...ec, kid: 'e1', key_ops: ['verify'] },
                { ...ed, alg: 'EdDSA' },
              ],
            },
          },
        ],
      },
      '/',
    )
    const [signer] = config.clients
    assert.equal(signer?.secretHash, null)
    assert.deepEqual(signer?.jwks, {
      keys: [
        { kty: 'EC', crv: 'P-256', x: ec.x, y: ec.y, alg: 'ES256', kid: 'e1' },
        // EdDSA with an Ed25519 key is kept under its RFC 9864 name.
        { kty: 'OKP', crv: 'Ed25519', x: ed.x, alg: 'Ed25519' },
      ],
    })
    const [inventory] = config.resources
    assert.equal(inventory?.secretHash, null)
    assert.deepEqual(inventory?.jwks, {
      keys: [{ kty: 'RSA', n: rsa.n, e: rsa.e, alg: 'PS256', kid: 'r1' }],
    })
  })

  test('a principal with a secret has no keys', () => {
    const config = parseConfig({ resources: [orders] }, '/')
    assert.equal(config.resources[0]?.jwks, null)
    assert.match(config.resources[0]?.secretHash ?? '', /^sha256:/)
  })

  test('jwks and a secret together are refused: one method per principal', () => {
    const { publicJwk } = jwkPair('ec')
    assertRefused(
      withClientKeys([publicJwk], { secret: 's'.repeat(40) }),
      /^clients\[0\]: give exactly one of secret, secretHash or jwks$/,
    )
  })

  test('a private key is refused, naming the key, and no private member is quoted', () => {
    for (const type of ['ec', 'ed25519', 'rsa'] as const) {
      const { privateJwk } = jwkPair(type)
      assertRefused(
        withClientKeys([privateJwk]),
        /^clients\[0\]\.jwks\.keys\[0\]: holds private key material/,
        privateJwk.d as string,
      )
    }
  })

  test('a symmetric key is refused', () => {
    const secret = 'c3ltbWV0cmljLXNlY3JldC1rZXktdmFsdWU'
    assertRefused(
      withClientKeys([{ kty: 'oct', k: secret, alg: 'HS256' }]),
      /^clients\[0\]\.jwks\.keys\[0\]: is a symmetric key/,
      secret,
    )
  })

  test('an RSA key without alg is refused: it would sign with any of six algorithms', () => {
    assertRefused(
      withClientKeys([jwkPair('rsa').publicJwk]),
      /^clients\[0\]\.jwks\.keys\[0\]: needs alg/,
    )
  })

  test('alg none, HS256, an alg that does not fit the key, and an unknown alg are refused', () => {
    const ec = jwkPair('ec').publicJwk
    const rsa = jwkPair('rsa').publicJwk
    assertRefused(withClientKeys([{ ...ec, alg: 'none' }]), /keys\[0\]: alg must be one of/)
    assertRefused(withClientKeys([{ ...rsa, alg: 'HS256' }]), /keys\[0\]: alg must be one of/)
    assertRefused(withClientKeys([{ ...ec, alg: 'ES384' }]), /keys\[0\]: alg does not fit/)
    assertRefused(withClientKeys([{ ...rsa, alg: 'ES256' }]), /keys\[0\]: alg does not fit/)
    assertRefused(withClientKeys([{ ...ec, alg: 'es256' }]), /keys\[0\]: alg must be one of/)
  })

  test('weak or unusable keys are refused: RSA under 2048 bits, other curves, encryption keys', () => {
    const small = jwkPair('rsa', { bits: 1024 }).publicJwk
    assertRefused(withClientKeys([{ ...small, alg: 'RS256' }]), /keys\[0\]: .*2048 bits/)
    const k1 = jwkPair('ec', { curve: 'secp256k1' }).publicJwk
    assertRefused(withClientKeys([k1]), /keys\[0\]: crv must be P-256, P-384 or P-521/)
    const ec = jwkPair('ec').publicJwk
    assertRefused(withClientKeys([{ ...ec, use: 'enc' }]), /keys\[0\]\.use: must be "sig"/)
    assertRefused(withClientKeys([{ ...ec, key_ops: ['encrypt'] }]), /keys\[0\]\.key_ops: /)
    assertRefused(withClientKeys([{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }]), /not a valid/)
  })

  test('an empty set, more than ten keys, and two keys with one kid are refused', () => {
    const ec = jwkPair('ec').publicJwk
    assertRefused(withClientKeys([]), /^clients\[0\]\.jwks\.keys: must hold at least one key/)
    assertRefused(withClientKeys(Array(11).fill(ec)), /^clients\[0\]\.jwks\.keys: may hold at most/)
    assertRefused(
      withClientKeys([
        { ...ec, kid: 'same' },
        { ...jwkPair('ec').publicJwk, kid: 'same' },
      ]),
      /^clients\[0\]\.jwks\.keys\[1\]\.kid: is used by another key/,
    )
  })

  test('a private key in a resource is refused too, naming the resource', () => {
    const { privateJwk } = jwkPair('ec')
    assertRefused(
      {
        resources: [
          { id: 'api', audience: 'https://api.example.test', jwks: { keys: [privateJwk] } },
        ].map((r) => ({ ...r, scopes: [] })),
      },
      /^resources\[0\]\.jwks\.keys\[0\]: holds private key material/,
      privateJwk.d as string,
    )
  })
})
