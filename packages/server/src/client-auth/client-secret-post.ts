/** client_secret_post (RFC 6749 §2.3.1): `client_id` and `client_secret` in the form body. */
import { oauthError } from '@keyhole/protocol'
import type { FormParams } from '../http/form.ts'
import { fail, ok, type Result } from '../result.ts'
import type { Credentials } from './credentials.ts'

export function parsePostCredentials(form: FormParams): Result<Credentials> {
  const clientId = form.get('client_id')
  const secret = form.get('client_secret')
  if (clientId === undefined || secret === undefined) {
    return fail(
      oauthError('invalid_client', 'client_secret_post needs client_id and client_secret'),
    )
  }
  return ok({ clientId, secret })
}
