import { CliError } from '../oauth-client.ts'
import { readKeyFile, replaceKeys, runKeysCommand } from './keys-file.ts'
import { describeKeys } from './keys-list.ts'

export interface KeysRemoveOptions {
  readonly file: string
  readonly kid: string
}

/**
 * Rotation step 2: retire a key once every token it signed has expired (at most the longest
 * accessTokenTtl, one day). Tokens it signed stop verifying as soon as the servers reload the file.
 */
export function keysRemoveCommand(options: KeysRemoveOptions): Promise<void> {
  return runKeysCommand(async () => {
    const current = await readKeyFile(options.file)
    const index = current.jwks.findIndex((jwk) => jwk.kid === options.kid)
    // The kid comes from the command line: JSON.stringify keeps control characters out of stderr.
    if (index === -1) {
      throw new CliError(`${options.file} has no key with kid ${JSON.stringify(options.kid)}`)
    }
    if (current.jwks.length === 1) {
      throw new CliError(
        `refusing to remove the only key of ${options.file}: the server could sign nothing (add a new key first)`,
      )
    }
    const removed = current.jwks[index]
    const rest = current.jwks.filter((_, i) => i !== index)
    const keys = await replaceKeys(current, rest)
    if (index === 0) {
      process.stderr.write(
        `keyhole: warning: ${options.kid} signed access tokens; ${keys.primary.kid} signs them now\n`,
      )
    }
    const alg = removed?.alg
    if (typeof alg === 'string' && keys.forAlgorithm(alg) === undefined) {
      process.stderr.write(
        `keyhole: warning: no key is left for ${alg}; resources that registered it for signed introspection responses need one\n`,
      )
    }
    process.stdout.write(describeKeys(keys))
  })
}
