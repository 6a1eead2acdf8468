import { randomBytes } from 'node:crypto'
import { hashSecret } from '@keyhole/server'
import { readHidden, readStdin } from '../input.ts'

/**
 * Secrets are read from standard input, never from arguments (which show in process lists and
 * shell history). Generated secrets are 256 bits in base64url, so Basic encoding never changes them.
 */
export async function hashSecretCommand(options: { generate?: boolean }): Promise<void> {
  if (options.generate === true) {
    const secret = randomBytes(32).toString('base64url')
    process.stdout.write(`secret:     ${secret}\nsecretHash: ${hashSecret(secret)}\n`)
    return
  }
  let secret: string
  try {
    secret = process.stdin.isTTY ? await readHidden() : await readStdin()
  } catch {
    process.exit(130)
  }
  if (secret === '') {
    process.stderr.write('keyhole: no secret on standard input (or use --generate)\n')
    process.exit(2)
  }
  process.stdout.write(`${hashSecret(secret)}\n`)
}
