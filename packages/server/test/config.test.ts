import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError, hashSecret, parseConfig } from '@keyhole/server'

const base = {
  resources: [
    {
      id: 'orders',
      audience: 'https://orders.example.test',
      secret: 'x'.repeat(40),
      scopes: ['orders:read'],
    },
  ],
  clients: [{ id: 'shop', secret: 'y'.repeat(40), scopes: ['orders:read'] }],
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

describe('configuration', () => {
  test('defaults are filled in and secrets are kept only as hashes', () => {
    const config = parseConfig(base, '/etc/keyhole')
    assert.equal(config.issuer, undefined)
    assert.deepEqual(config.trustedProxies, [])
    assert.equal(config.port, 9400)
    assert.equal(config.host, '127.0.0.1')
    assert.deepEqual(config.storage, {
      kind: 'sqlite',
      path: '/etc/keyhole/keyhole.db',
      durability: 'normal',
    })
    const shop = config.clients[0]
    assert.equal(shop?.accessTokenTtl, 600)
    assert.deepEqual(shop?.grantTypes, ['client_credentials'])
    assert.equal(shop?.secretHash, hashSecret('y'.repeat(40)))
    assert.ok(!JSON.stringify(config).includes('y'.repeat(40)))
    assert.deepEqual(config.warnings, [])
  })

  test('overrides from the command line win over the file', () => {
    const config = parseConfig({ ...base, port: 1234 }, '/', { port: 0, host: '::1' })
    assert.equal(config.port, 0)
    assert.equal(config.host, '::1')
  })

  const cases: [string, unknown, RegExp][] = [
    ['unknown option', { ...base, isuer: 'x' }, /^isuer: /],
    [
      'bad scope-token',
      { ...base, resources: [{ ...base.resources[0], scopes: ['a"b'] }] },
      /^resources\[0\]\.scopes\[0\]: .*scope-token/,
    ],
    [
      'scope of no resource',
      { ...base, clients: [{ id: 'shop', secret: 's', scopes: ['nope'] }] },
      /^clients\[0\]\.scopes\[0\]: "nope" is not a scope of any resource/,
    ],
    [
      'scope owned twice',
      {
        ...base,
        resources: [
          ...base.resources,
          { id: 'b', audience: 'https://b', secret: 's', scopes: ['orders:read'] },
        ],
      },
      /^resources\[1\]\.scopes\[0\]: .*already belongs/,
    ],
    [
      'both secret and secretHash',
      { ...base, clients: [{ id: 'shop', secret: 's', secretHash: hashSecret('s') }] },
      /^clients\[0\]: give exactly one of secret, secretHash or jwks/,
    ],
    [
      'neither secret nor secretHash',
      { ...base, clients: [{ id: 'shop' }] },
      /^clients\[0\]: give exactly one/,
    ],
    [
      'malformed secretHash',
      { ...base, clients: [{ id: 'shop', secretHash: 'md5:abc' }] },
      /^clients\[0\]\.secretHash: /,
    ],
    [
      'duplicate id across kinds',
      { ...base, clients: [{ id: 'orders', secret: 's' }] },
      /^clients\[0\]\.id: "orders" is already used by resources\[0\]/,
    ],
    [
      'audience with a fragment',
      { ...base, resources: [{ ...base.resources[0], audience: 'https://a#f' }] },
      /^resources\[0\]\.audience: .*RFC 8707/,
    ],
    [
      'relative audience',
      { ...base, resources: [{ ...base.resources[0], audience: 'orders' }] },
      /^resources\[0\]\.audience: /,
    ],
    [
      'issuer with a query',
      { ...base, issuer: 'https://as.example?x=1' },
      /^issuer: .*query or fragment/,
    ],
    [
      'unsupported grant type',
      { ...base, clients: [{ id: 'shop', secret: 's', grantTypes: ['password'] }] },
      /^clients\[0\]\.grantTypes\[0\]: /,
    ],
    [
      'ttl out of range',
      { ...base, clients: [{ id: 'shop', secret: 's', accessTokenTtl: 0 }] },
      /^clients\[0\]\.accessTokenTtl: /,
    ],
    ['unknown storage', { ...base, storage: 'mysql://x' }, /^storage: /],
    ['body limit too small', { ...base, limits: { bodyBytes: 10 } }, /^limits\.bodyBytes: /],
    [
      'verified-credential cache over a minute',
      { ...base, clientAuthentication: { verifiedCacheMs: 60_001 } },
      /^clientAuthentication\.verifiedCacheMs: /,
    ],
    ['not an object', 'hello', /^\(root\): /],
    [
      'trusted proxy that is not an address',
      { ...base, trustedProxies: ['proxy.internal'] },
      /^trustedProxies\[0\]: must be an IP address or a CIDR range/,
    ],
    [
      'trusted proxy range with a prefix too long',
      { ...base, trustedProxies: ['127.0.0.1', '10.0.0.0/33'] },
      /^trustedProxies\[1\]: /,
    ],
    [
      'trusted proxy range twice',
      { ...base, trustedProxies: ['fd00::/8/8'] },
      /^trustedProxies\[0\]: /,
    ],
  ]
  for (const [name, input, expected] of cases) {
    test(`${name}: the error names the option path`, () => {
      const problems = problemsOf(input)
      assert.ok(
        problems.some((p) => expected.test(p)),
        problems.join('\n'),
      )
    })
  }

  test('storage: a PostgreSQL URL is accepted as written', () => {
    for (const url of [
      'postgres://keyhole:pw@db.internal:5432/keyhole',
      'postgresql://keyhole@[::1]/keyhole?max=25&sslmode=verify-full',
    ]) {
      const config = parseConfig({ ...base, storage: url, signingKeys: 'keys.json' }, '/')
      assert.deepEqual(config.storage, {
        kind: 'postgres',
        url,
      })
    }
  })

  test('storage: a malformed PostgreSQL URL names storage and never quotes the URL', () => {
    const password = 'hunter2-very-secret'
    for (const url of [
      `postgres://keyhole:${password}@db:notaport/keyhole`,
      `postgres://keyhole:${password}@db:5432`,
      `postgres://keyhole:${password}@db/keyhole?max=0`,
      `postgres://keyhole:${password}@db/keyhole?max=10&max=11`,
      `postgres://keyhole:${password}@db/keyhole?sslmode=sometimes`,
      `postgres://keyhole@db/keyhole?${password}=1`,
      `postgres://keyhole:%zz${password}@db/keyhole`,
      `postgres:keyhole:${password}@db/keyhole`,
    ]) {
      const problems = problemsOf({ ...base, storage: url })
      assert.equal(problems.length, 1, url)
      assert.match(problems[0] ?? '', /^storage: /, url)
      assert.ok(!problems[0]?.includes(password), problems[0])
      assert.ok(!problems[0]?.includes('keyhole@'), problems[0])
    }
  })

  test('a short plain secret is accepted with a warning that names it', () => {
    const config = parseConfig(
      { ...base, clients: [{ id: 'shop', secret: 'shop-secret', scopes: [] }] },
      '/',
    )
    assert.ok(config.warnings.some((w) => w.startsWith('clients[0].secret is short')))
  })

  test('an error never contains a secret value', () => {
    const problems = problemsOf({
      ...base,
      clients: [{ id: 'shop', secret: 'hunter2-very-secret', secretHash: 'nope' }],
    })
    assert.ok(!problems.join('\n').includes('hunter2'))
    // nor a secret written where something else belongs
    for (const input of [
      { ...base, clients: ['shop:hunter2-very-secret'] },
      { ...base, resources: [{ ...base.resources[0], audience: ['hunter2-very-secret'] }] },
      { ...base, log: { level: 'hunter2-very-secret' } },
    ]) {
      const text = problemsOf(input).join('\n')
      assert.ok(!text.includes('hunter2'), text)
    }
  })
})
