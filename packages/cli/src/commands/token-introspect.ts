import {
  answerError,
  CliError,
  discover,
  endpointOf,
  parseJsonObject,
  postForm,
} from '../oauth-client.ts'
import {
  readClient,
  readToken,
  runTokenCommand,
  type TokenInputOptions,
  tokenOnStdin,
} from './token-common.ts'

/**
 * RFC 7662 introspection: print the response, exit 0 when the token is active and 1 when it is
 * not, so that scripts can test it (`if keyhole token introspect ...; then`).
 */
export function tokenIntrospectCommand(
  tokenArgument: string | undefined,
  options: TokenInputOptions,
): Promise<void> {
  return runTokenCommand(async () => {
    const metadata = await discover(options.issuer, options.timeout)
    const endpoint = endpointOf(metadata, 'introspection_endpoint')
    const client = await readClient(options, tokenOnStdin(tokenArgument))
    const token = await readToken(tokenArgument)

    const form = new URLSearchParams({ token })
    if (options.tokenTypeHint !== undefined) form.set('token_type_hint', options.tokenTypeHint)
    const answer = await postForm(endpoint, form, client, options.timeout)
    if (answer.status !== 200) throw answerError('the introspection endpoint', answer)
    const body = parseJsonObject(answer.text)
    // RFC 7662 §2.2: `active` is REQUIRED and a boolean; anything else is not an answer to trust.
    if (body === undefined || typeof body.active !== 'boolean') {
      throw new CliError(
        `the introspection endpoint at ${endpoint} answered 200 without a JSON object with a boolean "active"`,
      )
    }
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`)
    return body.active ? 0 : 1
  })
}
