/**
 * The test authorization server's one signing key, and synchronous JWS compact signing with it
 * (node:crypto), so that `issueJwt()` can return a string.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto'
import type { JWK } from 'jose'

export type SigningAlg = 'ES256' | 'RS256'

export interface SigningKey {
  readonly alg: SigningAlg
  readonly kid: string
  /** The public JWK, as published in the JWKS. */
  readonly publicJwk: JWK
  /** A JWS compact serialization of `payload`; `header` members override the defaults. */
  sign(payload: unknown, header?: Readonly<Record<string, unknown>>): string
}

/** RFC 7638 thumbprint: the required members, in lexicographic order, without whitespace. */
function thumbprint(jwk: JWK): string {
  const members =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')

export function createSigningKey(alg: SigningAlg): SigningKey {
  const { privateKey, publicKey }: { privateKey: KeyObject; publicKey: KeyObject } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const exported = publicKey.export({ format: 'jwk' }) as JWK
  const kid = thumbprint(exported)
  const publicJwk: JWK = { ...exported, kid, alg, use: 'sig' }
  return {
    alg,
    kid,
    publicJwk,
    sign(payload, header = {}) {
      const input = `${b64({ alg, kid, ...header })}.${b64(payload)}`
      // JWS ES256 signatures are R || S (RFC 7518 §3.4), not DER.
      const signature =
        alg === 'ES256'
          ? sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
          : sign('sha256', Buffer.from(input), privateKey)
      return `${input}.${signature.toString('base64url')}`
    },
  }
}

/** A random, unique identifier (jti). */
export const newId = () => randomUUID()
