/** One-off requests the bench makes outside the load: getting tokens, checking answers. */

export interface FormPost {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface Answer {
  readonly status: number
  readonly text: string
}

export const FORM_TYPE = 'application/x-www-form-urlencoded'

export async function send(request: FormPost): Promise<Answer> {
  const response = await fetch(request.url, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
  })
  return { status: response.status, text: await response.text() }
}

/** POST a client_credentials grant and return the access token, or throw with the answer. */
export async function clientCredentialsToken(
  tokenUrl: string,
  authorization: string,
  scope: string,
): Promise<string> {
  const answer = await send({
    url: tokenUrl,
    headers: { 'content-type': FORM_TYPE, authorization },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  })
  const token = answer.status === 200 ? parseObject(answer.text)?.access_token : undefined
  if (typeof token !== 'string') {
    throw new Error(`token request to ${tokenUrl} failed: ${answer.status} ${answer.text}`)
  }
  return token
}

/** Send `request` once and insist on 200 {"active":true,...}; returns the exact body. */
export async function expectActive(request: FormPost): Promise<string> {
  const answer = await send(request)
  if (answer.status !== 200 || parseObject(answer.text)?.active !== true) {
    throw new Error(
      `expected 200 {"active":true,...} from ${request.url}, got ${answer.status} ${answer.text}`,
    )
  }
  return answer.text
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
