import { answerError } from '../oauth-client.ts'
import { postToken, runTokenCommand, type TokenInputOptions } from './token-common.ts'

/**
 * RFC 7009 revocation: silent on success. §2.2: the AS answers 200 whether or not the token was
 * valid, so success says the request was accepted, not that a live token was revoked.
 */
export function tokenRevokeCommand(
  tokenArgument: string | undefined,
  options: TokenInputOptions,
): Promise<void> {
  return runTokenCommand(async () => {
    const { answer } = await postToken('revocation_endpoint', tokenArgument, options)
    if (answer.status < 200 || answer.status > 299) {
      throw answerError('the revocation endpoint', answer)
    }
    return 0
  })
}
