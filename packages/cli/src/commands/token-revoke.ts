import { answerError, discover, endpointOf, postForm } from '../oauth-client.ts'
import {
  readClient,
  readToken,
  runTokenCommand,
  type TokenInputOptions,
  tokenOnStdin,
} from './token-common.ts'

/**
 * RFC 7009 revocation: silent on success. §2.2: the AS answers 200 whether or not the token was
 * valid, so success says the request was accepted, not that a live token was revoked.
 */
export function tokenRevokeCommand(
  tokenArgument: string | undefined,
  options: TokenInputOptions,
): Promise<void> {
  return runTokenCommand(async () => {
    const metadata = await discover(options.issuer, options.timeout)
    const endpoint = endpointOf(metadata, 'revocation_endpoint')
    const client = await readClient(options, tokenOnStdin(tokenArgument))
    const token = await readToken(tokenArgument)

    const form = new URLSearchParams({ token })
    if (options.tokenTypeHint !== undefined) form.set('token_type_hint', options.tokenTypeHint)
    const answer = await postForm(endpoint, form, client, options.timeout)
    if (answer.status < 200 || answer.status > 299) {
      throw answerError('the revocation endpoint', answer)
    }
    return 0
  })
}
