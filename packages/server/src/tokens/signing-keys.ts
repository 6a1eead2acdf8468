/**
 * The server's signing keys: what signs JWT access tokens (RFC 9068) and JWT introspection
 * responses (RFC 9701), and what `jwks_uri` publishes (RFC 8414 §2, RFC 7517).
 *
 * Keys live in a JWK Set file of private keys, never in the store: a store holds hashes only.
 * The first key of the file signs access tokens; an introspection response is signed by the first
 * key whose `alg` is the one the resource registered. Every key is published, so a key stays
 * verifiable for as long as it is in the file (rotation: docs/configuration.md).
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'

/** Asymmetric algorithms only (RFC 8725 §3.1): never `none`, never a shared secret. */
export const SIGNING_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number]

/** What a generated key file holds: ES256 signs access tokens, RS256 is RFC 9701 §6's default. */
export const GENERATED_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'RS256']

export interface SigningKey {
  readonly kid: string
  readonly alg: SigningAlgorithm
  /** What jose signs with (a WebCrypto or node key). */
  readonly key: Awaited<ReturnType<typeof importJWK>>
}

export interface SigningKeys {
  /** The key that signs access tokens: the first of the file. */
  readonly primary: SigningKey
  /** The first key with this algorithm, if any. */
  forAlgorithm(alg: string): SigningKey | undefined
  /** Algorithms some key can sign with, in file order, each once. */
  readonly algorithms: readonly SigningAlgorithm[]
  /** The public JWK Set that `jwks_uri` serves. */
  readonly publicJwks: { readonly keys: readonly JWK[] }
  readonly kids: ReadonlySet<string>
}

/** Why a key file cannot be used; the message never quotes key material. */
export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SigningKeyError'
  }
}

const KTY_OF: Record<SigningAlgorithm, string> = {
  RS256: 'RSA',
  PS256: 'RSA',
  ES256: 'EC',
  ES384: 'EC',
  EdDSA: 'OKP',
}
const CRV_OF: Partial<Record<SigningAlgorithm, string>> = {
  ES256: 'P-256',
  ES384: 'P-384',
  EdDSA: 'Ed25519',
}
/** The public members of each key type (RFC 7518 §6): everything else stays in the file. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
}
const KID = /^[\x21-\x7E]{1,128}$/

function isAlgorithm(value: unknown): value is SigningAlgorithm {
  return typeof value === 'string' && (SIGNING_ALGORITHMS as readonly string[]).includes(value)
}

function publicPart(jwk: Record<string, unknown>, kid: string, alg: SigningAlgorithm): JWK {
  const out: Record<string, unknown> = {}
  for (const name of PUBLIC_MEMBERS[KTY_OF[alg]] ?? []) out[name] = jwk[name]
  return { ...out, kid, alg, use: 'sig' } as JWK
}

/** Check and import a JWK Set of private signing keys. `where` names the file in errors. */
export async function importSigningKeys(input: unknown, where: string): Promise<SigningKeys> {
  const keys = (input as { keys?: unknown } | null)?.keys
  if (typeof input !== 'object' || input === null || !Array.isArray(keys) || keys.length === 0) {
    throw new SigningKeyError(`${where}: must be a JWK Set with at least one key ({"keys":[...]})`)
  }
  const imported: SigningKey[] = []
  const published: JWK[] = []
  const kids = new Set<string>()
  for (const [i, entry] of keys.entries()) {
    const path = `${where}: keys[${i}]`
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new SigningKeyError(`${path}: must be a JWK object`)
    }
    const jwk = entry as Record<string, unknown>
    const { alg, kid } = jwk
    if (!isAlgorithm(alg)) {
      throw new SigningKeyError(`${path}.alg: must be one of ${SIGNING_ALGORITHMS.join(', ')}`)
    }
    if (typeof kid !== 'string' || !KID.test(kid)) {
      throw new SigningKeyError(`${path}.kid: must be 1 to 128 visible ASCII characters`)
    }
    if (kids.has(kid)) throw new SigningKeyError(`${path}.kid: "${kid}" is used twice`)
    if (jwk.kty !== KTY_OF[alg] || (CRV_OF[alg] !== undefined && jwk.crv !== CRV_OF[alg])) {
      throw new SigningKeyError(
        `${path}: an ${alg} key must be kty ${KTY_OF[alg]}${CRV_OF[alg] ? ` on ${CRV_OF[alg]}` : ''}`,
      )
    }
    if (typeof jwk.d !== 'string') throw new SigningKeyError(`${path}: must be a private key`)
    if (jwk.use !== undefined && jwk.use !== 'sig') {
      throw new SigningKeyError(`${path}.use: must be "sig" when present`)
    }
    // RFC 7518 §3.3: RSA keys of 2048 bits or more.
    if (KTY_OF[alg] === 'RSA' && (typeof jwk.n !== 'string' || jwk.n.length < 342)) {
      throw new SigningKeyError(`${path}: RSA keys must have at least 2048 bits`)
    }
    let key: SigningKey['key']
    try {
      key = await importJWK(jwk as JWK, alg)
    } catch {
      throw new SigningKeyError(`${path}: not a usable ${alg} private key`)
    }
    kids.add(kid)
    imported.push({ kid, alg, key })
    published.push(publicPart(jwk, kid, alg))
  }
  const algorithms = [...new Set(imported.map((k) => k.alg))]
  return {
    primary: imported[0] as SigningKey,
    forAlgorithm: (alg) => imported.find((k) => k.alg === alg),
    algorithms,
    publicJwks: Object.freeze({ keys: Object.freeze(published) }),
    kids,
  }
}

/** A new private key in JWK form, with `kid` (its RFC 7638 thumbprint), `alg` and `use`. */
export async function generateSigningJwk(alg: SigningAlgorithm): Promise<JWK> {
  const { privateKey } = await generateKeyPair(
    alg,
    alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true },
  )
  const jwk = await exportJWK(privateKey)
  const kid = await calculateJwkThumbprint(jwk)
  return { ...jwk, kid, alg, use: 'sig' }
}

/**
 * Read the key file, or create it with new keys when it does not exist yet (mode 0600, written
 * and synced before any key is used: a token signed with a key that a restart lost could never
 * be verified).
 */
export async function loadOrCreateSigningKeys(
  file: string,
  options: { readonly create: boolean },
): Promise<{ readonly keys: SigningKeys; readonly created: boolean }> {
  let text: string | undefined
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' || !options.create) {
      throw new SigningKeyError(`signingKeys: cannot read ${file} (${code ?? 'unreadable'})`)
    }
  }
  if (text !== undefined) return { keys: await parseKeyFile(text, file), created: false }

  const jwks = { keys: await Promise.all(GENERATED_ALGORITHMS.map(generateSigningJwk)) }
  const body = `${JSON.stringify(jwks, null, 2)}\n`
  let fd: number
  try {
    // 'wx': two servers starting at once must not each write keys the other never sees.
    fd = openSync(file, 'wx', 0o600)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') {
      return { keys: await parseKeyFile(readFileSync(file, 'utf8'), file), created: false }
    }
    throw new SigningKeyError(`signingKeys: cannot create ${file} (${code ?? 'unwritable'})`)
  }
  try {
    writeSync(fd, body)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  syncDirectory(dirname(file))
  return { keys: await importSigningKeys(jwks, `signingKeys (${file})`), created: true }
}

/** The new file's directory entry, synced too: a crash must not lose the name of a used key. */
function syncDirectory(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // Some file systems cannot sync a directory: the file is as durable as they make it.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

async function parseKeyFile(text: string, file: string): Promise<SigningKeys> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // The parser's message would quote key material.
    throw new SigningKeyError(`signingKeys: ${file} is not valid JSON`)
  }
  return importSigningKeys(json, `signingKeys (${file})`)
}
