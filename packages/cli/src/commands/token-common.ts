/**
 * What `keyhole token get | introspect | revoke` share: their options, where the client secret
 * and the token come from, and how a failure is reported (one line on stderr, exit 2).
 *
 * Secrets and tokens never come from arguments by default (process lists, shell history): the
 * secret from KEYHOLE_CLIENT_SECRET, --secret-file or standard input (a hidden prompt on a
 * terminal); the token from standard input unless given as an argument.
 */
import { readFileSync } from 'node:fs'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { readHidden, readStdin } from '../input.ts'
import {
  CliError,
  type ClientAuthMethod,
  type ClientCredentials,
  discover,
  type EndpointName,
  endpointOf,
  type HttpAnswer,
  postForm,
} from '../oauth-client.ts'
import { markBasicCredentials, markSensitive, redact } from '../redact.ts'

export const SECRET_ENV = 'KEYHOLE_CLIENT_SECRET'

export interface ClientOptions {
  readonly issuer: string
  readonly clientId: string
  readonly secretFile?: string
  readonly auth: 'basic' | 'post'
  /** Seconds. */
  readonly timeout: number
}

export interface TokenInputOptions extends ClientOptions {
  readonly tokenTypeHint?: 'access_token' | 'refresh_token'
}

export function parseTimeout(value: string): number {
  const seconds = Number(value)
  if (!/^\d+(\.\d+)?$/.test(value) || seconds <= 0 || seconds > 3600) {
    throw new InvalidArgumentError('must be a number of seconds, more than 0 and at most 3600')
  }
  return seconds
}

/** The options every token command takes: where the AS is and who the caller is. */
export function addClientOptions(command: Command): Command {
  return command
    .requiredOption(
      '--issuer <url>',
      'issuer identifier; endpoints come from its RFC 8414 metadata',
    )
    .requiredOption('--client-id <id>', 'client id to authenticate as')
    .option(
      '--secret-file <file>',
      `read the client secret from this file (default: $${SECRET_ENV}, else standard input)`,
    )
    .addOption(
      new Option(
        '--auth <method>',
        'client authentication: basic (client_secret_basic) or post (client_secret_post)',
      )
        .choices(['basic', 'post'])
        .default('basic'),
    )
    .option('--timeout <seconds>', 'give up on an HTTP request after this long', parseTimeout, 10)
}

/** `--token-type-hint` for introspect and revoke (RFC 7662 §2.1, RFC 7009 §2.1). */
export function addTokenTypeHint(command: Command): Command {
  return command.addOption(
    new Option('--token-type-hint <hint>', 'tell the AS what kind of token it is').choices([
      'access_token',
      'refresh_token',
    ]),
  )
}

type Source = { kind: 'value'; value: string } | { kind: 'stdin' }

function secretSource(options: ClientOptions): Source {
  if (options.secretFile !== undefined) {
    let text: string
    try {
      text = readFileSync(options.secretFile, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
      throw new CliError(`--secret-file: cannot read ${options.secretFile} (${code})`)
    }
    const value = text.replace(/\r?\n$/, '')
    if (value === '') throw new CliError(`--secret-file: ${options.secretFile} is empty`)
    return { kind: 'value', value }
  }
  const env = process.env[SECRET_ENV]
  if (env !== undefined) {
    // Set but empty is a mistake (an unset variable in a script), not a request to prompt.
    if (env === '') throw new CliError(`${SECRET_ENV} is set but empty`)
    return { kind: 'value', value: env }
  }
  return { kind: 'stdin' }
}

async function fromStdinOrPrompt(label: string): Promise<string> {
  try {
    return process.stdin.isTTY ? await readHidden(label) : await readStdin()
  } catch {
    throw new CliError('interrupted', 130)
  }
}

/** The token comes from standard input when its argument is missing or "-". */
export function tokenOnStdin(argument: string | undefined): boolean {
  return argument === undefined || argument === '-'
}

/**
 * The client's credentials. The secret is read before the token: when both come from a terminal
 * the two prompts follow each other; piped standard input can carry only one of the two.
 */
export async function readClient(
  options: ClientOptions,
  tokenAlsoOnStdin = false,
): Promise<ClientCredentials> {
  const source = secretSource(options)
  let secret: string
  if (source.kind === 'value') {
    secret = source.value
  } else {
    if (tokenAlsoOnStdin && !process.stdin.isTTY) {
      throw new CliError(
        `the client secret and the token cannot both come from standard input: give the secret in ${SECRET_ENV} or --secret-file`,
      )
    }
    secret = await fromStdinOrPrompt(`client secret of ${options.clientId}`)
    if (secret === '') throw new CliError('no client secret on standard input')
  }
  markSensitive(secret)
  const method: ClientAuthMethod =
    options.auth === 'post' ? 'client_secret_post' : 'client_secret_basic'
  if (method === 'client_secret_basic') markBasicCredentials(options.clientId, secret)
  return { clientId: options.clientId, secret, method }
}

/** RFC 6749 Appendix A.12: an access token is 1*VSCHAR, so one word of visible ASCII. */
export function isVschar(token: string): boolean {
  return /^[\x21-\x7E]+$/.test(token)
}

/**
 * A JSON document for standard output, indented. Inside strings JSON.stringify escapes C0
 * controls, but writes DEL, C1 controls (U+009B is CSI to some terminals), bidi and other format
 * characters and U+2028/U+2029 raw: from an authorization server they could rewrite the terminal.
 * They are written as \uXXXX escapes instead, which JSON.parse reads back as the same characters.
 * (A raw line break in the output is always the indentation's: those inside strings are escaped.)
 */
export function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (ch) => {
    if (ch === '\n') return ch
    let escaped = ''
    for (let i = 0; i < ch.length; i++) {
      escaped += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`
    }
    return escaped
  })
}

/** The token to introspect or revoke: the argument, or standard input (see tokenOnStdin). */
export async function readToken(argument: string | undefined): Promise<string> {
  const fromStdin = tokenOnStdin(argument)
  const token = fromStdin ? (await fromStdinOrPrompt('token')).trim() : (argument ?? '')
  markSensitive(token)
  const where = fromStdin ? 'on standard input' : 'argument'
  if (token === '') throw new CliError(`no token ${where}`)
  if (!isVschar(token)) {
    throw new CliError(`the token ${where} is not one word of visible ASCII characters`)
  }
  return token
}

/**
 * What introspect and revoke both do: find the endpoint in the issuer's metadata (before any
 * secret is typed), read the credentials and the token, and POST `token` (and its type hint).
 */
export async function postToken(
  endpointName: Extract<EndpointName, 'introspection_endpoint' | 'revocation_endpoint'>,
  tokenArgument: string | undefined,
  options: TokenInputOptions,
): Promise<{ readonly endpoint: string; readonly answer: HttpAnswer }> {
  const metadata = await discover(options.issuer, options.timeout)
  const endpoint = endpointOf(metadata, endpointName)
  const client = await readClient(options, tokenOnStdin(tokenArgument))
  const token = await readToken(tokenArgument)
  const form = new URLSearchParams({ token })
  if (options.tokenTypeHint !== undefined) form.set('token_type_hint', options.tokenTypeHint)
  return { endpoint, answer: await postForm(endpoint, form, client, options.timeout) }
}

/**
 * Run a token command: its result is the exit code. A CliError is one line on stderr (its text
 * never holds a secret or a token); anything else is reported by its message only, never a stack
 * trace, with secrets and tokens blanked out.
 */
export async function runTokenCommand(body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body()
  } catch (err) {
    if (err instanceof CliError) {
      if (err.exitCode !== 130) process.stderr.write(`keyhole: ${err.message}\n`)
      process.exitCode = err.exitCode
      return
    }
    const message = err instanceof Error ? err.message : String(err)
    process.stderr.write(`keyhole: unexpected error: ${redact(message)}\n`)
    process.exitCode = 2
  }
}
