/**
 * RFC 9449 DPoP for the black-box suites: client keys, proofs (well-formed or broken on purpose),
 * and token requests that carry them, over node:http so that a request can carry two DPoP
 * headers (fetch would join them into one).
 */
import { createHash, randomUUID } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { basicAuthorization } from '@keyhole/protocol'
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose'
import { type Caller, encodeForm, type HttpResult } from './harness.ts'

export interface DpopKey {
  readonly alg: string
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  /** The public JWK, as a proof carries it. */
  readonly jwk: JWK
  /** RFC 7638 SHA-256 thumbprint: the `cnf.jkt` a token bound to this key carries. */
  readonly jkt: string
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { alg, privateKey, publicKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') }
}

export interface ProofOptions {
  readonly htm?: string
  /** Seconds since the epoch; default now. */
  readonly iat?: number
  readonly jti?: string
  /** RFC 9449 §4.2 `ath`, for a proof sent with an access token (resource requests). */
  readonly accessToken?: string
  /** Replaces or adds header members (`undefined` removes one). */
  readonly header?: Record<string, unknown>
  /** Replaces or adds claims (`undefined` removes one). */
  readonly claims?: Record<string, unknown>
  /** Sign with this key instead of the one whose `jwk` the header carries. */
  readonly signWith?: CryptoKey | Uint8Array
}

/** A DPoP proof for `htu`, signed by `key` (or, broken on purpose, as `options` say). */
export async function dpopProof(
  key: DpopKey,
  htu: string,
  options: ProofOptions = {},
): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: options.jti ?? randomUUID(),
    htm: options.htm ?? 'POST',
    htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    ...(options.accessToken === undefined
      ? {}
      : { ath: createHash('sha256').update(options.accessToken, 'ascii').digest('base64url') }),
    ...options.claims,
  }
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
  const header: Record<string, unknown> = {
    typ: 'dpop+jwt',
    alg: key.alg,
    jwk: key.jwk,
    ...options.header,
  }
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name]
  return new SignJWT(claims)
    .setProtectedHeader(header as { alg: string })
    .sign(options.signWith ?? key.privateKey)
}

/** An unsigned JWT (`alg: none`), which no verifier may accept (RFC 8725 §3.2). */
export function unsignedProof(key: DpopKey, htu: string): string {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const iat = Math.floor(Date.now() / 1000)
  return `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: key.jwk })}.${b64({ jti: randomUUID(), htm: 'POST', htu, iat })}.`
}

export interface DpopTokenRequest {
  readonly client: Caller
  /** One value per DPoP header line; none when omitted. */
  readonly dpop?: string | readonly string[]
  readonly form?: Record<string, string | readonly string[]>
}

/** A client_credentials request (client_secret_basic) to `url`, with its DPoP header(s). */
export function dpopTokenRequest(url: string, request: DpopTokenRequest): Promise<HttpResult> {
  const body = encodeForm({ grant_type: 'client_credentials', ...request.form })
  const headers: Record<string, string | string[]> = {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: basicAuthorization(request.client[0], request.client[1]),
    'content-length': String(Buffer.byteLength(body)),
  }
  if (request.dpop !== undefined) {
    headers.dpop = typeof request.dpop === 'string' ? request.dpop : [...request.dpop]
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const answer = new Headers()
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? '']) answer.append(name, v)
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: answer,
          text,
          json: <T>() => JSON.parse(text) as T,
        })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}
