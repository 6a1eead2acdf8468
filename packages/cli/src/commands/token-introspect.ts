import { answerError, CliError, parseJsonObject } from '../oauth-client.ts'
import {
  jsonForTerminal,
  postToken,
  runTokenCommand,
  type TokenInputOptions,
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
    const { endpoint, answer } = await postToken('introspection_endpoint', tokenArgument, options)
    if (answer.status !== 200) throw answerError('the introspection endpoint', answer)
    const body = parseJsonObject(answer.text)
    // RFC 7662 §2.2: `active` is REQUIRED and a boolean; anything else is not an answer to trust.
    if (body === undefined || typeof body.active !== 'boolean') {
      throw new CliError(
        `the introspection endpoint at ${endpoint} answered 200 without a JSON object with a boolean "active"`,
      )
    }
    process.stdout.write(`${jsonForTerminal(body)}\n`)
    return body.active ? 0 : 1
  })
}
