import { randomBytes } from 'node:crypto'
import { hashSecret } from '@keyhole/server'

/**
 * On a terminal: read one line with echo off (raw mode), so the secret never shows on screen.
 * Enter or Ctrl-D ends it, Backspace takes back a character, Ctrl-C gives up.
 */
async function readHidden(): Promise<string> {
  const stdin = process.stdin
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  // The prompt comes after echo is off: whatever is typed from now on stays hidden.
  process.stderr.write('secret (hidden; Enter to finish): ')
  stdin.resume()
  let value = ''
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.off('data', onData)
            resolve(value)
            return
          }
          if (ch === '\u0003') {
            stdin.off('data', onData)
            reject(new Error('interrupted'))
            return
          }
          value = ch === '\u007f' || ch === '\b' ? [...value].slice(0, -1).join('') : value + ch
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    process.stderr.write('\n')
  }
}

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
