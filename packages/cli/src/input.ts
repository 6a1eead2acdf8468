/**
 * Reading secrets and tokens without putting them on the command line (where they would show in
 * process lists and shell history) or on the screen.
 */

/**
 * On a terminal: read one line with echo off (raw mode), so the value never shows on screen.
 * Enter or Ctrl-D ends it, Backspace takes back a character, Ctrl-C gives up (the promise rejects).
 */
export async function readHidden(label = 'secret'): Promise<string> {
  const stdin = process.stdin
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  // The prompt comes after echo is off: whatever is typed from now on stays hidden.
  process.stderr.write(`${label} (hidden; Enter to finish): `)
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

/** All of standard input, without one final line break. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}
