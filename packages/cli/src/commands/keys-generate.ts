import {
  GENERATED_ALGORITHMS,
  generateSigningJwk,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
} from '@keyhole/server'
import { InvalidArgumentError } from 'commander'
import { createKeyFile, runKeysCommand } from './keys-file.ts'
import { describeKeys } from './keys-list.ts'

/**
 * What the server's own generated file holds: ES256 first (it signs access tokens: small, fast
 * signatures), then RS256, RFC 9701 §6's default algorithm for signed introspection responses.
 */
export const DEFAULT_ALGORITHMS: readonly SigningAlgorithm[] = GENERATED_ALGORITHMS

export interface KeysGenerateOptions {
  readonly out: string
  readonly alg?: readonly SigningAlgorithm[]
}

export function parseAlgorithm(value: string): SigningAlgorithm {
  const alg = SIGNING_ALGORITHMS.find((a) => a === value)
  if (alg === undefined) {
    throw new InvalidArgumentError(`must be one of ${SIGNING_ALGORITHMS.join(', ')}`)
  }
  return alg
}

/** Repeated `--alg`, in order. A second key of one algorithm would never sign: a typo, refused. */
export function collectAlgorithm(
  value: string,
  previous: readonly SigningAlgorithm[] = [],
): SigningAlgorithm[] {
  const alg = parseAlgorithm(value)
  if (previous.includes(alg)) throw new InvalidArgumentError(`${alg} is given twice`)
  return [...previous, alg]
}

export function keysGenerateCommand(options: KeysGenerateOptions): Promise<void> {
  return runKeysCommand(async () => {
    const algorithms = options.alg ?? DEFAULT_ALGORITHMS
    const jwks = await Promise.all(algorithms.map(generateSigningJwk))
    process.stdout.write(describeKeys(await createKeyFile(options.out, jwks)))
  })
}
