import { generateSigningJwk, type SigningAlgorithm } from '@keyhole/server'
import { readKeyFile, replaceKeys, runKeysCommand } from './keys-file.ts'
import { describeKeys } from './keys-list.ts'

export interface KeysAddOptions {
  readonly file: string
  readonly alg: SigningAlgorithm
}

/**
 * Rotation step 1. The new key goes first: it signs access tokens and is the first of its
 * algorithm. The old keys stay, still published, so tokens they signed keep verifying until they
 * expire (then `keys remove`).
 */
export function keysAddCommand(options: KeysAddOptions): Promise<void> {
  return runKeysCommand(async () => {
    const current = await readKeyFile(options.file)
    const jwk = await generateSigningJwk(options.alg)
    const keys = await replaceKeys(current, [jwk, ...current.jwks])
    process.stdout.write(describeKeys(keys))
  })
}
