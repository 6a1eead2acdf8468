import { InvalidArgumentError } from 'commander'
import {
  answerError,
  CliError,
  discover,
  endpointOf,
  parseJsonObject,
  postForm,
} from '../oauth-client.ts'
import { markSensitive } from '../redact.ts'
import {
  type ClientOptions,
  isVschar,
  jsonForTerminal,
  readClient,
  runTokenCommand,
} from './token-common.ts'

export interface TokenGetOptions extends ClientOptions {
  readonly scope?: string
  readonly resource?: readonly string[]
  readonly json?: boolean
}

/** RFC 8707 §2: a resource is an absolute URI without a fragment. */
export function collectResource(value: string, previous: readonly string[] = []): string[] {
  if (!URL.canParse(value) || value.includes('#')) {
    throw new InvalidArgumentError('must be an absolute URI without a fragment (RFC 8707 §2)')
  }
  return [...previous, value]
}

/**
 * RFC 6749 §4.4 client credentials grant: print the access token (or, with --json, the whole
 * RFC 6749 §5.1 response).
 */
export function tokenGetCommand(options: TokenGetOptions): Promise<void> {
  return runTokenCommand(async () => {
    const metadata = await discover(options.issuer, options.timeout)
    const endpoint = endpointOf(metadata, 'token_endpoint')
    const client = await readClient(options)

    const form = new URLSearchParams({ grant_type: 'client_credentials' })
    if (options.scope !== undefined) form.set('scope', options.scope)
    // RFC 8707 §2: `resource` may be repeated, one parameter per target.
    for (const resource of options.resource ?? []) form.append('resource', resource)

    const answer = await postForm(endpoint, form, client, options.timeout)
    // RFC 6749 §5.1: success is 200 with a JSON object.
    if (answer.status !== 200) throw answerError('the token endpoint', answer)
    const body = parseJsonObject(answer.text)
    if (body === undefined) {
      throw new CliError(`the token endpoint at ${endpoint} answered 200 without a JSON object`)
    }
    const token = body.access_token
    if (typeof token !== 'string' || token === '') {
      throw new CliError(`the token response from ${endpoint} has no access_token`)
    }
    markSensitive(token)
    if (typeof body.refresh_token === 'string') markSensitive(body.refresh_token)
    // What is printed goes to a terminal or into TOKEN=$(...): escape sequences or a line break
    // from the AS must not get there. The token is not quoted back in the error.
    if (!isVschar(token)) {
      throw new CliError(
        `the access_token from ${endpoint} is not one word of visible ASCII characters (RFC 6749 Appendix A.12); not printed`,
      )
    }
    process.stdout.write(options.json === true ? `${jsonForTerminal(body)}\n` : `${token}\n`)
    return 0
  })
}
