/**
 * How the resource server authenticates to the introspection endpoint (RFC 6749 §2.3, RFC 7523).
 * Produces the headers and form fields for one request.
 */
import { randomUUID } from 'node:crypto'
import { basicAuthorization } from '@keyhole/protocol'
import { importJWK, type JWK, SignJWT } from 'jose'
import { DiscoveryError } from './discovery.ts'
import type { ClientCredentials } from './options.ts'

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'

export interface ClientAuthentication {
  /** The method as named in RFC 8414 `*_auth_methods_supported`. */
  readonly method: AuthMethod
  /** Headers and form fields for one request; private_key_jwt signs a fresh assertion each time. */
  apply(): Promise<{ headers: Record<string, string>; form: Record<string, string> }>
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

type SigningKey = Awaited<ReturnType<typeof importJWK>>

function defaultAlg(
  key: Extract<ClientCredentials, { privateKey: unknown }>['privateKey'],
): string {
  const jwk = key as JWK
  if (typeof jwk.kty === 'string') {
    if (typeof jwk.alg === 'string') return jwk.alg
    if (jwk.kty === 'RSA') return 'RS256'
    if (jwk.kty === 'EC')
      return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256'
    if (jwk.kty === 'OKP') return 'EdDSA'
  }
  const keyObject = key as {
    asymmetricKeyType?: string
    asymmetricKeyDetails?: { namedCurve?: string }
  }
  if (keyObject.asymmetricKeyType === 'rsa') return 'RS256'
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve
    return curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256'
  }
  if (keyObject.asymmetricKeyType === 'ed25519') return 'EdDSA'
  const cryptoKey = key as { algorithm?: { name?: string; namedCurve?: string } }
  if (cryptoKey.algorithm?.name === 'ECDSA')
    return cryptoKey.algorithm.namedCurve === 'P-384' ? 'ES384' : 'ES256'
  if (cryptoKey.algorithm?.name === 'Ed25519') return 'EdDSA'
  return 'RS256'
}

export function createClientAuthentication(
  credentials: ClientCredentials,
  issuer: string,
): ClientAuthentication {
  if ('clientSecret' in credentials) {
    const { clientId, clientSecret } = credentials
    switch (credentials.method ?? 'client_secret_basic') {
      case 'client_secret_post':
        return {
          method: 'client_secret_post',
          apply: async () => ({
            headers: {},
            form: { client_id: clientId, client_secret: clientSecret },
          }),
        }
      case 'client_secret_basic_raw': {
        // Pitfall P-09: for servers that do not form-decode Basic credentials.
        const header = `Basic ${Buffer.from(`${clientId}:${clientSecret}`, 'utf8').toString('base64')}`
        return {
          method: 'client_secret_basic',
          apply: async () => ({ headers: { authorization: header }, form: {} }),
        }
      }
      case 'client_secret_basic': {
        // RFC 6749 §2.3.1: form-encode, then base64.
        const header = basicAuthorization(clientId, clientSecret)
        return {
          method: 'client_secret_basic',
          apply: async () => ({ headers: { authorization: header }, form: {} }),
        }
      }
    }
  }
  const { clientId, privateKey, kid } = credentials
  const alg = credentials.alg ?? defaultAlg(privateKey)
  let key: Promise<SigningKey> | undefined
  const signingKey = () => {
    const jwk = privateKey as JWK
    key ??=
      typeof jwk.kty === 'string' ? importJWK(jwk, alg) : Promise.resolve(privateKey as SigningKey)
    return key
  }
  const keyId = kid ?? (privateKey as JWK).kid
  return {
    method: 'private_key_jwt',
    async apply() {
      // RFC 7523 §3: iss = sub = client_id; aud = the issuer identifier (checklist Q-07: the value
      // every server accepts, and the only one RFC 7523bis allows); short-lived, single-use jti.
      let assertion: string
      try {
        assertion = await new SignJWT({})
          .setProtectedHeader({ alg, ...(keyId === undefined ? {} : { kid: keyId }) })
          .setIssuer(clientId)
          .setSubject(clientId)
          .setAudience(issuer)
          .setJti(randomUUID())
          .setIssuedAt()
          .setExpirationTime('60s')
          .sign(await signingKey())
      } catch {
        // A key that cannot sign (not a private key, wrong alg) is a misconfiguration: like an AS
        // refusing our credentials, a 503 that says so, never a thrown error or "invalid token".
        // The message is fixed: the key's own error text may quote key material.
        key = undefined
        throw new DiscoveryError(`credentials.privateKey cannot sign ${alg} client assertions`)
      }
      return {
        headers: {},
        form: {
          client_id: clientId,
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: assertion,
        },
      }
    },
  }
}
