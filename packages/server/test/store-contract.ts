/**
 * The store contract suite: every Store backend runs exactly these tests (ARCHITECTURE.md, "one
 * contract test suite runs against every store"). A backend passes by calling `storeContract` from
 * its own `store-<name>.test.ts` with a factory.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type {
  ClientRecord,
  EpochSeconds,
  PublicJwkSet,
  ResourceRecord,
  Store,
  TokenHash,
  TokenRecord,
} from '@keyhole/server'
import { hashSecret, mintToken, tokenHash } from '@keyhole/server'

export interface StoreFactory {
  /** A fresh, empty store. */
  open(): Promise<Store>
  /** Close `store` and open the same data again, as a restarted process would. */
  reopen(store: Store): Promise<Store>
  /** Remove what open() created. */
  cleanup?(): Promise<void>
}

const at = (n: number) => n as EpochSeconds
/** A store key for a used assertion id, as client-auth/private-key-jwt.ts makes them. */
const assertionKey = () => randomBytes(32).toString('base64url')

function resource(
  id: string,
  scopes: string[],
  source: 'config' | 'cli' = 'config',
): ResourceRecord {
  return {
    kind: 'resource',
    id,
    audience: `https://${id}.example.test`,
    secretHash: hashSecret(`${id}-secret`),
    jwks: null,
    scopes,
    introspectionSignedResponseAlg: 'RS256',
    source,
  }
}

function client(id: string, scopes: string[], source: 'config' | 'cli' = 'config'): ClientRecord {
  return {
    kind: 'client',
    id,
    secretHash: hashSecret(`${id}-secret`),
    jwks: null,
    grantTypes: ['client_credentials'],
    scopes,
    accessTokenTtl: 300,
    accessTokenFormat: 'opaque',
    dpopBoundAccessTokens: false,
    source,
  }
}

/** A valid token record for a store test; `overrides` replace its fields. */
export function token(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    hash: tokenHash(mintToken('access_token')),
    kind: 'access_token',
    jti: randomUUID(),
    clientId: 'shop',
    sub: 'shop',
    scopes: ['orders:read', 'billing:read'],
    audience: ['https://orders.example.test', 'https://billing.example.test'],
    issuedAt: at(1_800_000_000),
    notBefore: at(1_800_000_000),
    expiresAt: at(1_800_000_300),
    revokedAt: null,
    grantId: randomUUID(),
    cnf: null,
    ...overrides,
  }
}

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    let store: Store
    before(async () => {
      store = await factory.open()
    })
    after(async () => {
      await store.close()
      await factory.cleanup?.()
    })

    test('a synced principal is found by id with every field intact', async () => {
      const orders = resource('orders', ['orders:read', 'orders:write'])
      const shop = client('shop', ['orders:read'])
      await store.syncPrincipals('config', [orders, shop])
      assert.deepEqual(await store.findPrincipal('orders'), orders)
      assert.deepEqual(await store.findPrincipal('shop'), shop)
      assert.equal(await store.findPrincipal('nobody'), undefined)
    })

    test('protocol settings round-trip and change on the next sync (RFC 9701 §6, RFC 9068)', async () => {
      const orders = {
        ...resource('orders', ['orders:read']),
        introspectionSignedResponseAlg: 'ES256',
      }
      const shop = {
        ...client('shop', ['orders:read']),
        accessTokenFormat: 'jwt' as const,
        // RFC 9449 §5.2 dpop_bound_access_tokens
        dpopBoundAccessTokens: true,
      }
      await store.syncPrincipals('config', [orders, shop])
      assert.deepEqual(await store.findPrincipal('orders'), orders)
      assert.deepEqual(await store.findPrincipal('shop'), shop)
      await store.syncPrincipals('config', [
        resource('orders', ['orders:read']),
        client('shop', []),
      ])
      const again = await store.findPrincipal('shop')
      assert.equal(again?.kind === 'client' && again.accessTokenFormat, 'opaque')
      assert.equal(again?.kind === 'client' && again.dpopBoundAccessTokens, false)
      const listed = await store.listResources()
      assert.equal(listed[0]?.introspectionSignedResponseAlg, 'RS256')
    })

    test('syncing a source replaces its principals and leaves other sources alone', async () => {
      await store.syncPrincipals('cli', [client('added-by-cli', [], 'cli')])
      await store.syncPrincipals('config', [
        resource('orders', ['orders:read']),
        resource('billing', ['billing:read']),
      ])
      assert.equal(await store.findPrincipal('shop'), undefined, 'dropped from config: deleted')
      assert.deepEqual((await store.findPrincipal('orders'))?.scopes, ['orders:read'], 'updated')
      assert.equal((await store.findPrincipal('added-by-cli'))?.source, 'cli', 'other source kept')
    })

    test('listResources returns resources only, ordered by id', async () => {
      const list = await store.listResources()
      assert.deepEqual(
        list.map((r) => r.id),
        ['billing', 'orders'],
      )
      assert.ok(list.every((r) => r.kind === 'resource'))
    })

    test('an inserted token is found by its hash with every field intact', async () => {
      const record = token()
      await store.insertToken(record)
      assert.deepEqual(await store.findToken(record.hash), record)
    })

    test('a DPoP-bound token is found with its confirmation (RFC 9449 §6: cnf.jkt), a Bearer one without', async () => {
      const bound = token({ cnf: { jkt: randomBytes(32).toString('base64url') } })
      const bearer = token()
      await store.insertToken(bound)
      await store.insertToken(bearer)
      assert.deepEqual(await store.findToken(bound.hash), bound)
      assert.equal((await store.findToken(bearer.hash))?.cnf, null)
      // Read again (from memory, where a store keeps records) and after a revocation.
      assert.deepEqual((await store.findToken(bound.hash))?.cnf, bound.cnf)
      await store.revokeGrant(bound.hash, at(1_800_000_100))
      assert.deepEqual(await store.findToken(bound.hash), { ...bound, revokedAt: 1_800_000_100 })
    })

    test('an unknown hash finds nothing', async () => {
      assert.equal(await store.findToken(tokenHash('kh_at_unknown') as TokenHash), undefined)
    })

    test('a second token with the same hash is refused', async () => {
      const record = token()
      await store.insertToken(record)
      await assert.rejects(store.insertToken({ ...record, jti: randomUUID() }))
    })

    test('revokeGrant revokes every token of the grant once, and no other', async () => {
      const grantId = randomUUID()
      const first = token({ grantId })
      const second = token({ grantId, kind: 'refresh_token' })
      const bystander = token()
      for (const r of [first, second, bystander]) await store.insertToken(r)
      const revoked = await store.revokeGrant(first.hash, at(1_800_000_100))
      assert.deepEqual(
        [...revoked].sort((a, b) => a.kind.localeCompare(b.kind)),
        [
          { hash: first.hash, kind: 'access_token', audience: first.audience },
          { hash: second.hash, kind: 'refresh_token', audience: second.audience },
        ],
        'what changed, with each audience (for the revocation events)',
      )
      assert.equal((await store.findToken(first.hash))?.revokedAt, 1_800_000_100)
      assert.equal((await store.findToken(second.hash))?.revokedAt, 1_800_000_100)
      assert.equal((await store.findToken(bystander.hash))?.revokedAt, null)
      assert.deepEqual(await store.revokeGrant(first.hash, at(1_800_000_200)), [], 'idempotent')
      assert.equal((await store.findToken(first.hash))?.revokedAt, 1_800_000_100, 'first time kept')
    })

    test('a token read before its grant is revoked is found revoked right after', async () => {
      // A store may answer reads from memory: a write must never leave an old copy behind.
      const grantId = randomUUID()
      const first = token({ grantId })
      const second = token({ grantId, kind: 'refresh_token' })
      for (const r of [first, second]) await store.insertToken(r)
      assert.equal((await store.findToken(first.hash))?.revokedAt, null)
      assert.equal((await store.findToken(second.hash))?.revokedAt, null)
      await store.revokeGrant(second.hash, at(1_800_000_100))
      assert.equal((await store.findToken(first.hash))?.revokedAt, 1_800_000_100)
      assert.equal((await store.findToken(second.hash))?.revokedAt, 1_800_000_100)
    })

    test('a token read before the sweep deletes it is not found after', async () => {
      const old = token({ expiresAt: at(1_000) })
      await store.insertToken(old)
      assert.deepEqual(await store.findToken(old.hash), old)
      await store.deleteExpiredTokens(at(2_000))
      assert.equal(await store.findToken(old.hash), undefined)
    })

    test('a hash looked up before its token is inserted is found once inserted', async () => {
      const later = token()
      assert.equal(await store.findToken(later.hash), undefined)
      await store.insertToken(later)
      assert.deepEqual(await store.findToken(later.hash), later)
    })

    test('revokeGrant of an unknown hash changes nothing', async () => {
      assert.deepEqual(await store.revokeGrant(tokenHash('nope') as TokenHash, at(1)), [])
    })

    test('deleteExpiredTokens forgets expired tokens only', async () => {
      const old = token({ expiresAt: at(1_000) })
      const live = token({ expiresAt: at(3_000_000_000) })
      await store.insertToken(old)
      await store.insertToken(live)
      assert.ok((await store.deleteExpiredTokens(at(2_000))) >= 1)
      assert.equal(await store.findToken(old.hash), undefined)
      assert.deepEqual(await store.findToken(live.hash), live)
    })

    test('deleteExpiredTokens clears a backlog larger than one batch, and counts it', async () => {
      const expired = Array.from({ length: 2_345 }, () => token({ expiresAt: at(1_000) }))
      for (const record of expired) await store.insertToken(record)
      const live = token({ expiresAt: at(3_000_000_000) })
      await store.insertToken(live)
      assert.ok((await store.deleteExpiredTokens(at(2_000))) >= expired.length)
      for (const record of [expired[0], expired[1_500], expired[2_344]]) {
        assert.equal(await store.findToken((record as TokenRecord).hash), undefined)
      }
      assert.deepEqual(await store.findToken(live.hash), live)
    })

    test('acknowledged writes survive a restart', async () => {
      const record = token()
      await store.insertToken(record)
      const bound = token({ cnf: { jkt: randomBytes(32).toString('base64url') } })
      await store.insertToken(bound)
      const revoked = token()
      await store.insertToken(revoked)
      await store.revokeGrant(revoked.hash, at(1_800_000_050))
      store = await factory.reopen(store)
      assert.deepEqual(await store.findToken(record.hash), record)
      assert.deepEqual(await store.findToken(bound.hash), bound)
      assert.equal((await store.findToken(revoked.hash))?.revokedAt, 1_800_000_050)
      assert.equal((await store.findPrincipal('orders'))?.kind, 'resource')
    })

    test('a principal with a JWK Set instead of a secret is found with its keys intact', async () => {
      const jwks: PublicJwkSet = {
        keys: [
          { kty: 'EC', alg: 'ES256', kid: 'k1', crv: 'P-256', x: 'eC1jb29yZA', y: 'eS1jb29yZA' },
          { kty: 'OKP', alg: 'Ed25519', crv: 'Ed25519', x: 'ZWQyNTUxOQ' },
          { kty: 'RSA', alg: 'PS256', kid: 'r', n: 'bW9kdWx1cw', e: 'AQAB' },
        ],
      }
      const signer: ClientRecord = { ...client('signer', [], 'cli'), secretHash: null, jwks }
      const api: ResourceRecord = { ...resource('api', [], 'cli'), secretHash: null, jwks }
      await store.syncPrincipals('cli', [signer, api])
      assert.deepEqual(await store.findPrincipal('signer'), signer)
      assert.deepEqual(await store.findPrincipal('api'), api)
      assert.deepEqual(
        (await store.listResources()).find((r) => r.id === 'api'),
        api,
      )
      // Re-registered with a secret: the keys are gone.
      await store.syncPrincipals('cli', [client('signer', [], 'cli')])
      assert.deepEqual(await store.findPrincipal('signer'), client('signer', [], 'cli'))
    })

    test('a principal with both a secret and keys, or with neither, is refused', async () => {
      const jwks: PublicJwkSet = { keys: [{ kty: 'OKP', alg: 'Ed25519', crv: 'Ed25519', x: 'eA' }] }
      await assert.rejects(store.syncPrincipals('cli', [{ ...client('both', [], 'cli'), jwks }]))
      await assert.rejects(
        store.syncPrincipals('cli', [{ ...client('neither', [], 'cli'), secretHash: null }]),
      )
      assert.equal(await store.findPrincipal('both'), undefined)
      assert.equal(await store.findPrincipal('neither'), undefined)
    })

    test('an assertion id is taken once, until it expires (RFC 7523 §3 jti)', async () => {
      const id = assertionKey()
      assert.equal(await store.claimAssertionId(id, at(1_800_000_300), at(1_800_000_000)), true)
      assert.equal(
        await store.claimAssertionId(id, at(1_800_000_300), at(1_800_000_100)),
        false,
        'in use',
      )
      assert.equal(
        await store.claimAssertionId(assertionKey(), at(1_800_000_300), at(1_800_000_100)),
        true,
        'another id',
      )
      // Its use has expired (not yet swept): it may be taken again, once.
      assert.equal(await store.claimAssertionId(id, at(1_800_000_700), at(1_800_000_301)), true)
      assert.equal(await store.claimAssertionId(id, at(1_800_000_700), at(1_800_000_400)), false)
    })

    test('of many claims of one assertion id at once, exactly one takes it', async () => {
      const id = assertionKey()
      const taken = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.claimAssertionId(id, at(1_800_000_300), at(1_800_000_000)),
        ),
      )
      assert.equal(taken.filter(Boolean).length, 1)
    })

    test('deleteExpiredTokens forgets expired assertion ids, and only those', async () => {
      const old = assertionKey()
      const live = assertionKey()
      assert.equal(await store.claimAssertionId(old, at(1_000), at(500)), true)
      assert.equal(await store.claimAssertionId(live, at(3_000_000_000), at(500)), true)
      assert.ok((await store.deleteExpiredTokens(at(2_000))) >= 1)
      // Asked at a time before either expiry: only a forgotten id can be taken again.
      assert.equal(await store.claimAssertionId(old, at(1_000), at(500)), true, 'forgotten')
      assert.equal(await store.claimAssertionId(live, at(3_000_000_000), at(500)), false, 'kept')
    })

    test('a taken assertion id is still taken after a restart', async () => {
      const id = assertionKey()
      assert.equal(await store.claimAssertionId(id, at(1_800_000_300), at(1_800_000_000)), true)
      store = await factory.reopen(store)
      assert.equal(await store.claimAssertionId(id, at(1_800_000_300), at(1_800_000_010)), false)
    })

    test('ping answers while the store is open', async () => {
      await store.ping()
    })
  })
}
