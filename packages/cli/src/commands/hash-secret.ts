import { randomBytes } from 'node:crypto'
import { hashSecret } from '@keyhole/server'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

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
  if (process.stdin.isTTY) process.stderr.write('secret (then Enter, Ctrl-D): ')
  const secret = await readStdin()
  if (secret === '') {
    process.stderr.write('keyhole: no secret on standard input (or use --generate)\n')
    process.exit(2)
  }
  process.stdout.write(`${hashSecret(secret)}\n`)
}
