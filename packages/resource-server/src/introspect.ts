/**
 * RFC 7662 introspection client, split as oauth4webapi does: `introspectionRequest()` builds the
 * request, `processIntrospectionResponse()` validates the answer (JSON, or an RFC 9701 signed JWT).
 *
 * Whatever goes wrong on the AS side — refused credentials, a 5xx, an HTML login page, garbage, a
 * bad signature — is an AsUnavailableError (503 to the API's client), never "invalid token"
 * (checklist Q-05, pitfalls P-06, P-07). Messages never carry the token or the AS's body.
 */
import type { AuthorizationServerMetadata } from '@keyhole/protocol'
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose'
import { type ClientAuthentication, createClientAuthentication } from './client-auth.ts'
import { DiscoveryError } from './discovery.ts'
import {
  type AsHttpClient,
  type AsRequest,
  type AsResponse,
  AsUnavailableError,
} from './http-client.ts'
import { type CompatibilityFlags, type Introspected, normalizeIntrospection } from './normalize.ts'
import type { ClientCredentials } from './options.ts'

export interface IntrospectorConfig {
  readonly issuer: string
  readonly credentials: ClientCredentials
  readonly http: AsHttpClient
  readonly metadata: (deadline: number) => Promise<AuthorizationServerMetadata>
  readonly introspectionEndpoint?: string | undefined
  readonly responseFormat: 'json' | 'jwt'
  readonly compat: CompatibilityFlags
  /** Seconds of tolerance for the RFC 9701 response's `iat`. */
  readonly clockSkew: number
}

export interface Introspector {
  /** Throws AsUnavailableError when the AS gives no usable answer. */
  introspect(token: string, deadline: number): Promise<Introspected>
}

const JWT_RESPONSE_TYPE = 'application/token-introspection+jwt'
/** RFC 9701 responses are signed with asymmetric keys; RS256 is its default (§6). */
const RESPONSE_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']
/** How old a signed response may be (checklist J-16). */
const RESPONSE_MAX_AGE_SECONDS = 60

/** RFC 7662 §2.1: a POST form with `token`; RFC 9701 §4: ask for a JWT with Accept. */
export async function introspectionRequest(
  token: string,
  auth: ClientAuthentication,
  responseFormat: 'json' | 'jwt',
): Promise<AsRequest> {
  const { headers, form } = await auth.apply()
  return {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'application/x-www-form-urlencoded',
      accept: responseFormat === 'jwt' ? JWT_RESPONSE_TYPE : 'application/json',
    },
    body: new URLSearchParams({ ...form, token }).toString(),
  }
}

function mediaType(res: AsResponse): string {
  const value = res.headers['content-type']
  const raw = Array.isArray(value) ? value[0] : value
  return (raw ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

export interface ResponseVerification {
  readonly issuer: string
  readonly clientId: string
  readonly compat: CompatibilityFlags
  readonly clockSkew: number
  /** Present when a signed response was asked for. */
  readonly jwks?: ReturnType<typeof createRemoteJWKSet>
}

/** Validate an introspection answer into the normalized shape. */
export async function processIntrospectionResponse(
  res: AsResponse,
  verification: ResponseVerification,
): Promise<Introspected> {
  if (res.status === 401 || res.status === 403) {
    throw new AsUnavailableError(
      `the authorization server refused this API's credentials (${res.status})`,
    )
  }
  if (res.status !== 200)
    throw new AsUnavailableError(`the authorization server answered ${res.status}`)
  const type = mediaType(res)
  let body: unknown
  if (verification.jwks !== undefined) {
    // Pitfall P-14: only the exact RFC 9701 media type; a plain JSON answer is a downgrade.
    if (type !== JWT_RESPONSE_TYPE) {
      throw new AsUnavailableError(
        'the authorization server did not send a signed introspection response',
      )
    }
    body = await verifySignedResponse(res.body.toString('utf8').trim(), verification)
  } else {
    if (type !== 'application/json' && !type.endsWith('+json')) {
      throw new AsUnavailableError('the introspection response is not JSON')
    }
    try {
      body = JSON.parse(res.body.toString('utf8'))
    } catch {
      throw new AsUnavailableError('the introspection response is not valid JSON')
    }
  }
  const normalized = normalizeIntrospection(body, verification.compat)
  if (!normalized.ok)
    throw new AsUnavailableError(`the introspection response is invalid: ${normalized.reason}`)
  return normalized.value
}

/** Checklist J-19: typ, signature with an allow-listed alg, iss, aud, recent iat, then the member object. */
async function verifySignedResponse(jwt: string, v: ResponseVerification): Promise<unknown> {
  if (jwt.split('.').length !== 3) {
    throw new AsUnavailableError(
      'the signed introspection response is not a JWS (encrypted responses are not supported)',
    )
  }
  try {
    const { payload } = await jwtVerify(jwt, v.jwks as ReturnType<typeof createRemoteJWKSet>, {
      issuer: v.issuer,
      audience: v.clientId,
      typ: 'token-introspection+jwt',
      algorithms: RESPONSE_ALGORITHMS,
      maxTokenAge: RESPONSE_MAX_AGE_SECONDS,
      clockTolerance: v.clockSkew,
      requiredClaims: ['iat'],
    })
    const members = payload.token_introspection
    if (typeof members !== 'object' || members === null || Array.isArray(members)) {
      throw new AsUnavailableError(
        'the signed introspection response has no token_introspection object',
      )
    }
    return members
  } catch (err) {
    if (err instanceof AsUnavailableError) throw err
    if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JOSEError) {
      const code = (err as { code?: string }).code ?? 'ERR_JOSE'
      throw new AsUnavailableError(`the signed introspection response did not verify (${code})`)
    }
    throw new AsUnavailableError('the signed introspection response did not verify')
  }
}

/** A URL the AS published: an unusable one is its misconfiguration (503), never a thrown TypeError. */
function publishedUrl(value: string, member: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new DiscoveryError(`the authorization server's ${member} is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DiscoveryError(`the authorization server's ${member} is not an http(s) URL`)
  }
  return url
}

export function createIntrospector(config: IntrospectorConfig): Introspector {
  const auth = createClientAuthentication(config.credentials, config.issuer)
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined

  async function endpoint(deadline: number): Promise<URL> {
    if (config.introspectionEndpoint !== undefined && config.responseFormat === 'json') {
      return new URL(config.introspectionEndpoint)
    }
    const metadata = await config.metadata(deadline)
    const url = config.introspectionEndpoint ?? metadata.introspection_endpoint
    if (typeof url !== 'string')
      throw new DiscoveryError('the authorization server publishes no introspection_endpoint')
    // RFC 8414 §2 / checklist M-08: no default exists; when the list is given, our method must be in it.
    const methods = metadata.introspection_endpoint_auth_methods_supported
    if (Array.isArray(methods) && !methods.includes(auth.method)) {
      throw new DiscoveryError(`the introspection endpoint does not accept ${auth.method}`)
    }
    if (config.responseFormat === 'jwt' && jwks === undefined) {
      if (typeof metadata.jwks_uri !== 'string')
        throw new DiscoveryError('the authorization server publishes no jwks_uri')
      jwks = createRemoteJWKSet(publishedUrl(metadata.jwks_uri, 'jwks_uri'), {
        timeoutDuration: config.http.timeoutMs,
        cooldownDuration: 30_000,
        cacheMaxAge: 600_000,
      })
    }
    return publishedUrl(url, 'introspection_endpoint')
  }

  return {
    async introspect(token, deadline) {
      const url = await endpoint(deadline)
      const request = await introspectionRequest(token, auth, config.responseFormat)
      const res = await config.http.request(url, request, deadline)
      return processIntrospectionResponse(res, {
        issuer: config.issuer,
        clientId: config.credentials.clientId,
        compat: config.compat,
        clockSkew: config.clockSkew,
        ...(jwks === undefined ? {} : { jwks }),
      })
    },
  }
}
