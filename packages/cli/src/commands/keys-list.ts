import type { SigningKeys } from '@keyhole/server'
import { readKeyFile, runKeysCommand } from './keys-file.ts'

export interface KeysListOptions {
  readonly file: string
  readonly json?: boolean
}

/**
 * What each key does, by position: the first signs access tokens, the first of each algorithm
 * signs the introspection responses (RFC 9701) of resources that registered that algorithm, and
 * every key is published, so the others still verify what they signed before a rotation.
 */
export function roleOf(keys: SigningKeys, index: number): string {
  const jwk = keys.publicJwks.keys[index]
  const roles: string[] = []
  if (index === 0) roles.push('signs access tokens')
  if (jwk?.alg !== undefined && keys.forAlgorithm(jwk.alg)?.kid === jwk.kid) {
    roles.push(`first ${jwk.alg}`)
  }
  return roles.length === 0 ? 'published only' : roles.join(', ')
}

/** A table of position, kid, alg and role; kids are visible ASCII (importSigningKeys checks). */
export function describeKeys(keys: SigningKeys): string {
  const rows = keys.publicJwks.keys.map((jwk, i) => [
    String(i + 1),
    jwk.kid ?? '',
    jwk.alg ?? '',
    roleOf(keys, i),
  ])
  const all = [['#', 'kid', 'alg', 'role'], ...rows]
  const widths = [0, 1, 2].map((c) => Math.max(...all.map((row) => row[c]?.length ?? 0)))
  return all
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n')
}

/** Never a private member: `--json` is the public JWK Set, exactly what `jwks_uri` serves. */
export function keysListCommand(options: KeysListOptions): Promise<void> {
  return runKeysCommand(async () => {
    const { keys } = await readKeyFile(options.file)
    process.stdout.write(
      options.json === true ? `${JSON.stringify(keys.publicJwks, null, 2)}\n` : describeKeys(keys),
    )
  })
}
