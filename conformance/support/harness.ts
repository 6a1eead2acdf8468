/**
 * Black-box harness: runs the real `keyhole serve` (the bin users run) on a loopback port with a
 * throwaway config and SQLite file, and talks to it over real HTTP.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { basicAuthorization } from '@keyhole/protocol'
import type { JSONWebKeySet } from 'jose'

const ROOT = resolve(import.meta.dirname, '../..')
export const KEYHOLE_BIN = join(ROOT, 'packages/cli/bin/keyhole.js')

export interface RunningServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string
  readonly issuer: string
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string
  /** Stop the process (SIGTERM) and remove its files. */
  stop(): Promise<void>
  /** SIGKILL the process, keeping its files, and return the config path (restart tests). */
  kill(): Promise<string>
  readonly configPath: string
}

export interface StartOptions {
  /** Extra CLI arguments after `serve --config FILE --port 0`. */
  readonly args?: readonly string[]
  /** Reuse this directory (restart tests); otherwise a fresh temp dir. */
  readonly dir?: string
}

/** A principal's credentials: [client id, secret]. */
export type Caller = readonly [string, string]

/** The fixture's principals, as callers (ids and secrets of fixtureConfig()). */
export const ORDERS: Caller = ['orders', 'orders-secret']
export const BILLING: Caller = ['billing', 'billing-secret']
export const SHOP: Caller = ['shop', 'shop-secret']
export const OTHER: Caller = ['other', 'other-secret']
export const SHORT: Caller = ['short', 'short-secret']
export const ORDERS_AUD = 'https://orders.example.test'
export const BILLING_AUD = 'https://billing.example.test'
/** Every fixture secret: none may ever appear in a log line or an answer. */
export const SECRETS = [ORDERS, BILLING, SHOP, OTHER, SHORT].map(([, secret]) => secret)

/** The standard fixture: two resources, three clients. Secrets are plain so tests can use them. */
export function fixtureConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resources: [
      {
        id: 'orders',
        audience: 'https://orders.example.test',
        secret: 'orders-secret',
        scopes: ['orders:read', 'orders:write'],
      },
      {
        id: 'billing',
        audience: 'https://billing.example.test',
        secret: 'billing-secret',
        scopes: ['billing:read'],
      },
    ],
    clients: [
      {
        id: 'shop',
        secret: 'shop-secret',
        grantTypes: ['client_credentials'],
        scopes: ['orders:read', 'orders:write', 'billing:read'],
        accessTokenTtl: 300,
      },
      {
        id: 'other',
        secret: 'other-secret',
        grantTypes: ['client_credentials'],
        scopes: ['orders:read'],
      },
      { id: 'short', secret: 'short-secret', scopes: ['orders:read'], accessTokenTtl: 1 },
    ],
    log: { level: 'debug', requests: true },
    ...overrides,
  }
}

export async function startServer(
  config: Record<string, unknown> = fixtureConfig(),
  options: StartOptions = {},
): Promise<RunningServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'keyhole-test-'))
  const configPath = join(dir, 'keyhole.json')
  writeFileSync(configPath, JSON.stringify({ storage: 'sqlite:./keyhole.db', ...config }))
  const child = spawn(
    process.execPath,
    [KEYHOLE_BIN, 'serve', '--config', configPath, '--port', '0', ...(options.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  const listening = await waitForListening(child, () => output)
  const exited = new Promise<void>((done) => child.once('exit', () => done()))
  return {
    url: listening.url,
    issuer: listening.issuer,
    configPath,
    output: () => output,
    async stop() {
      child.kill('SIGTERM')
      await exited
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true })
    },
    async kill() {
      child.kill('SIGKILL')
      await exited
      return configPath
    },
  }
}

function waitForListening(
  child: ChildProcess,
  output: () => string,
): Promise<{ url: string; issuer: string }> {
  return new Promise((resolveListening, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`keyhole serve did not start in 20 s:\n${output()}`))
    }, 20_000)
    const check = () => {
      for (const line of output().split('\n')) {
        if (!line.startsWith('{')) continue
        const entry = JSON.parse(line) as { msg?: string; url?: string; issuer?: string }
        if (entry.msg === 'listening' && entry.url !== undefined && entry.issuer !== undefined) {
          clearTimeout(timer)
          child.stdout?.off('data', check)
          resolveListening({ url: entry.url, issuer: entry.issuer })
          return
        }
      }
    }
    child.stdout?.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`keyhole serve exited with ${code}:\n${output()}`))
    })
  })
}

export interface FormRequest {
  /** Form fields; an array value repeats the parameter. */
  readonly form?: Record<string, string | readonly string[]>
  /** client_secret_basic, form-encoded per RFC 6749 §2.3.1. */
  readonly basic?: readonly [clientId: string, secret: string]
  readonly headers?: Record<string, string>
  /** Send this raw body instead of `form`. */
  readonly body?: string | Uint8Array
  readonly method?: string
}

export interface HttpResult {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The parsed JSON body (throws if it is not JSON). */
  json<T = Record<string, unknown>>(): T
}

export function encodeForm(form: Record<string, string | readonly string[]>): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(form)) {
    for (const v of typeof value === 'string' ? [value] : value) params.append(name, v)
  }
  return params.toString()
}

/** POST a form (or send `body`) and read the whole answer. */
export async function post(url: string, request: FormRequest = {}): Promise<HttpResult> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    ...request.headers,
  }
  if (request.basic !== undefined) {
    headers.authorization = basicAuthorization(request.basic[0], request.basic[1])
  }
  const response = await fetch(url, {
    method: request.method ?? 'POST',
    headers,
    body: request.body ?? encodeForm(request.form ?? {}),
  })
  return read(response)
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return read(await fetch(url, { headers }))
}

async function read(response: Response): Promise<HttpResult> {
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: <T>() => JSON.parse(text) as T,
  }
}

/** Where the endpoints live: the issuer without a trailing slash. */
export function base(server: RunningServer): string {
  return server.issuer.replace(/\/$/, '')
}

/** Get an access token for a fixture client by client_credentials. */
export async function getToken(
  server: RunningServer,
  client: Caller = SHOP,
  form: Record<string, string | readonly string[]> = {},
): Promise<string> {
  const res = await post(`${base(server)}/token`, {
    basic: client,
    form: { grant_type: 'client_credentials', ...form },
  })
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.text}`)
  return res.json<{ access_token: string }>().access_token
}

export async function introspect(
  server: RunningServer,
  token: string,
  caller: Caller = ORDERS,
  form: Record<string, string> = {},
): Promise<HttpResult> {
  return post(`${base(server)}/introspect`, { basic: caller, form: { token, ...form } })
}

export async function revoke(
  server: RunningServer,
  token: string,
  caller: Caller = SHOP,
  form: Record<string, string> = {},
): Promise<HttpResult> {
  return post(`${base(server)}/revoke`, { basic: caller, form: { token, ...form } })
}

/**
 * The server's public keys, found the way a resource server finds them: the RFC 8414 metadata's
 * `jwks_uri`, then the JWK Set it names (verify with jose's `createLocalJWKSet`).
 */
export async function publishedKeySet(server: RunningServer): Promise<JSONWebKeySet> {
  const metadata = (await get(`${server.url}/.well-known/oauth-authorization-server`)).json<{
    jwks_uri: string
  }>()
  return (await get(metadata.jwks_uri)).json<JSONWebKeySet>()
}
