/**
 * `keyhole token get | introspect | revoke`, run as the bin users run, over real HTTP on loopback:
 * against the real `keyhole serve` (conformance harness), and against a scripted authorization
 * server for what the real one never does (redirects, hangs, odd answers, echoed credentials).
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { formUrlEncode } from '@keyhole/protocol'
import {
  BILLING,
  type Caller,
  fixtureConfig,
  KEYHOLE_BIN,
  ORDERS,
  ORDERS_AUD,
  type RunningServer,
  SHOP,
  startServer,
} from '../../../conformance/support/harness.ts'
import { CliError, endpointOf } from '../src/oauth-client.ts'

const dir = mkdtempSync(join(tmpdir(), 'keyhole-token-'))
after(() => rmSync(dir, { recursive: true, force: true }))

interface Outcome {
  code: number
  stdout: string
  stderr: string
}

interface RunOptions {
  /** Standard input (closed empty when not given). */
  stdin?: string
  /** KEYHOLE_CLIENT_SECRET; unset when not given. */
  secret?: string
  /** More environment variables. */
  env?: Record<string, string>
}

/** Run the bin with a clean environment: KEYHOLE_CLIENT_SECRET only when asked for. */
function keyhole(args: string[], options: RunOptions = {}): Promise<Outcome> {
  const env = { ...process.env }
  delete env.KEYHOLE_CLIENT_SECRET
  if (options.secret !== undefined) env.KEYHOLE_CLIENT_SECRET = options.secret
  Object.assign(env, options.env)
  return new Promise((done) => {
    const child = spawn(process.execPath, [KEYHOLE_BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.stdin.on('error', () => {}) // the CLI may exit before reading what it did not need
    child.stdin.end(options.stdin ?? '')
    child.on('exit', (code) => done({ code: code ?? -1, stdout, stderr }))
  })
}

const STACK_TRACE = /\n\s+at /

/** Free loopback port (closed again, so connecting to it is refused). */
async function freePort(): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Another loopback http server (another origin) for one test; close it when done. */
async function listen(handler: RequestListener): Promise<{ url: string; server: Server }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

/** A self-signed certificate for 127.0.0.1 (openssl), or undefined where openssl is missing. */
function selfSignedCertificate(): { key: string; cert: string; certFile: string } | undefined {
  const keyFile = join(dir, 'tls.key')
  const certFile = join(dir, 'tls.crt')
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    )
  } catch {
    return undefined
  }
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile }
}

// ---------------------------------------------------------------------------------------------
// against the real `keyhole serve`
// ---------------------------------------------------------------------------------------------

describe('keyhole token against keyhole serve', () => {
  let server: RunningServer
  let issuer: string
  before(async () => {
    server = await startServer()
    issuer = server.issuer
  })
  after(() => server?.stop())

  const as = (caller: Caller) => ['--issuer', issuer, '--client-id', caller[0]]

  async function getToken(extra: string[] = []): Promise<string> {
    const out = await keyhole(['token', 'get', ...as(SHOP), ...extra], { secret: SHOP[1] })
    assert.equal(out.code, 0, out.stderr)
    return out.stdout.trim()
  }

  test('get → introspect (active, exit 0) → revoke (silent) → introspect ({"active":false}, exit 1)', async () => {
    const got = await keyhole(['token', 'get', ...as(SHOP)], { secret: SHOP[1] })
    assert.equal(got.code, 0, got.stderr)
    assert.match(got.stdout, /^kh_at_[0-9A-Za-z]{49}\n$/, 'just the token on stdout')
    assert.equal(got.stderr, '')
    const token = got.stdout.trim()

    const active = await keyhole(['token', 'introspect', ...as(ORDERS)], {
      secret: ORDERS[1],
      stdin: `${token}\n`,
    })
    assert.equal(active.code, 0, active.stderr)
    const answer = JSON.parse(active.stdout) as Record<string, unknown>
    assert.equal(answer.active, true)
    assert.equal(answer.client_id, 'shop')
    assert.deepEqual(answer.aud, [ORDERS_AUD])
    assert.match(active.stdout, /^\{\n {2}"active": true,/, 'pretty-printed')

    const revoked = await keyhole(['token', 'revoke', ...as(SHOP), '-'], {
      secret: SHOP[1],
      stdin: token,
    })
    assert.deepEqual(revoked, { code: 0, stdout: '', stderr: '' })

    const inactive = await keyhole(['token', 'introspect', ...as(ORDERS)], {
      secret: ORDERS[1],
      stdin: token,
    })
    assert.equal(inactive.code, 1, inactive.stderr)
    assert.deepEqual(JSON.parse(inactive.stdout), { active: false })

    for (const out of [got, active, revoked, inactive]) {
      assert.ok(!out.stderr.includes(token), 'the token is never on stderr')
      assert.ok(!out.stderr.includes(SHOP[1]) && !out.stderr.includes(ORDERS[1]))
    }
  })

  test('the token may also be an argument', async () => {
    const token = await getToken()
    const out = await keyhole(['token', 'introspect', ...as(ORDERS), token], { secret: ORDERS[1] })
    assert.equal(out.code, 0, out.stderr)
    assert.equal((JSON.parse(out.stdout) as { active: unknown }).active, true)
  })

  test('--resource narrows the audience; --json prints the whole token response', async () => {
    const wide = await getToken()
    const billingSeesWide = await keyhole(['token', 'introspect', ...as(BILLING), wide], {
      secret: BILLING[1],
    })
    assert.equal(billingSeesWide.code, 0, 'without --resource the token is for billing too')

    const out = await keyhole(
      ['token', 'get', ...as(SHOP), '--resource', ORDERS_AUD, '--scope', 'orders:read', '--json'],
      { secret: SHOP[1] },
    )
    assert.equal(out.code, 0, out.stderr)
    const response = JSON.parse(out.stdout) as Record<string, unknown>
    assert.equal(response.token_type, 'Bearer')
    assert.equal(response.scope, 'orders:read')
    assert.equal(typeof response.expires_in, 'number')
    const narrow = response.access_token as string

    const billing = await keyhole(['token', 'introspect', ...as(BILLING), narrow], {
      secret: BILLING[1],
    })
    assert.equal(billing.code, 1, billing.stderr)
    assert.deepEqual(JSON.parse(billing.stdout), { active: false })
    const orders = await keyhole(['token', 'introspect', ...as(ORDERS), narrow], {
      secret: ORDERS[1],
    })
    assert.equal(orders.code, 0, orders.stderr)
    const answer = JSON.parse(orders.stdout) as Record<string, unknown>
    assert.deepEqual(answer.aud, [ORDERS_AUD])
    assert.equal(answer.scope, 'orders:read')
  })

  test('a resource the AS does not know: exit 2 with invalid_target', async () => {
    const out = await keyhole(
      ['token', 'get', ...as(SHOP), '--resource', 'https://unknown.example.test'],
      { secret: SHOP[1] },
    )
    assert.equal(out.code, 2)
    assert.match(out.stderr, /token endpoint at \S+\/token answered HTTP 400: invalid_target/)
    assert.equal(out.stdout, '')
  })

  test('client_secret_post works for get, introspect and revoke', async () => {
    const post = ['--auth', 'post']
    const got = await keyhole(['token', 'get', ...as(SHOP), ...post], { secret: SHOP[1] })
    assert.equal(got.code, 0, got.stderr)
    const token = got.stdout.trim()
    const active = await keyhole(['token', 'introspect', ...as(ORDERS), ...post, token], {
      secret: ORDERS[1],
    })
    assert.equal(active.code, 0, active.stderr)
    const revoked = await keyhole(['token', 'revoke', ...as(SHOP), ...post, token], {
      secret: SHOP[1],
    })
    assert.equal(revoked.code, 0, revoked.stderr)
    const inactive = await keyhole(['token', 'introspect', ...as(ORDERS), ...post, token], {
      secret: ORDERS[1],
    })
    assert.equal(inactive.code, 1, inactive.stderr)
  })

  test('a wrong secret: exit 2 with invalid_client, the secret nowhere in the output', async () => {
    for (const method of ['basic', 'post']) {
      const wrong = 'wrong-secret-Zq81'
      const out = await keyhole(['token', 'get', ...as(SHOP), '--auth', method], { secret: wrong })
      assert.equal(out.code, 2, method)
      assert.match(out.stderr, /answered HTTP 401: invalid_client/)
      assert.doesNotMatch(out.stderr, STACK_TRACE)
      assert.ok(!out.stderr.includes(wrong) && !out.stdout.includes(wrong), method)
    }
  })

  test('a wrong secret at introspection: exit 2 (not 1), neither secret nor token printed', async () => {
    const token = await getToken()
    const out = await keyhole(['token', 'introspect', ...as(ORDERS)], {
      secret: 'not-the-orders-secret',
      stdin: token,
    })
    assert.equal(out.code, 2)
    assert.match(out.stderr, /introspection endpoint .* HTTP 401: invalid_client/)
    assert.equal(out.stdout, '')
    assert.ok(!out.stderr.includes(token) && !out.stderr.includes('not-the-orders-secret'))
  })

  test('a resource cannot revoke: exit 2 with the AS’s error', async () => {
    const token = await getToken()
    const out = await keyhole(['token', 'revoke', ...as(ORDERS)], {
      secret: ORDERS[1],
      stdin: token,
    })
    assert.equal(out.code, 2)
    assert.match(out.stderr, /revocation endpoint .* HTTP 400: unauthorized_client/)
    assert.ok(!out.stderr.includes(token))
  })

  test('the secret can come from standard input', async () => {
    const out = await keyhole(['token', 'get', ...as(SHOP)], { stdin: `${SHOP[1]}\n` })
    assert.equal(out.code, 0, out.stderr)
    assert.match(out.stdout, /^kh_at_\w+\n$/)
  })

  test('the secret can come from --secret-file, which wins over the environment', async () => {
    const file = join(dir, 'shop.secret')
    writeFileSync(file, `${SHOP[1]}\n`, { mode: 0o600 })
    const out = await keyhole(['token', 'get', ...as(SHOP), '--secret-file', file], {
      secret: 'ignored-env-secret',
    })
    assert.equal(out.code, 0, out.stderr)
    assert.match(out.stdout, /^kh_at_\w+\n$/)
  })

  test('an unreadable --secret-file or an empty KEYHOLE_CLIENT_SECRET: exit 2 naming it', async () => {
    const missing = await keyhole([
      'token',
      'get',
      ...as(SHOP),
      '--secret-file',
      join(dir, 'absent'),
    ])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /--secret-file: cannot read .*absent \(ENOENT\)/)
    const empty = await keyhole(['token', 'get', ...as(SHOP)], { secret: '' })
    assert.equal(empty.code, 2)
    assert.match(empty.stderr, /KEYHOLE_CLIENT_SECRET is set but empty/)
  })

  test('secret and token cannot both be piped: exit 2 saying where the secret can go', async () => {
    const out = await keyhole(['token', 'introspect', ...as(ORDERS)], {
      stdin: `${ORDERS[1]}\nkh_at_x\n`,
    })
    assert.equal(out.code, 2)
    assert.match(out.stderr, /cannot both come from standard input.*KEYHOLE_CLIENT_SECRET/)
    assert.ok(!out.stderr.includes(ORDERS[1]))
  })

  test('no token on standard input, or a token that is not one word: exit 2', async () => {
    const none = await keyhole(['token', 'introspect', ...as(ORDERS)], { secret: ORDERS[1] })
    assert.equal(none.code, 2)
    assert.match(none.stderr, /no token on standard input/)
    const two = await keyhole(['token', 'revoke', ...as(SHOP)], {
      secret: SHOP[1],
      stdin: 'kh_at_one kh_at_two',
    })
    assert.equal(two.code, 2)
    assert.match(two.stderr, /not one word/)
    assert.ok(!two.stderr.includes('kh_at_one'))
  })

  test('an --issuer that differs from the metadata’s issuer (RFC 8414 §3.3): exit 2', async () => {
    const out = await keyhole(['token', 'get', '--issuer', `${issuer}/`, '--client-id', 'shop'], {
      secret: SHOP[1],
    })
    assert.equal(out.code, 2)
    assert.match(out.stderr, /is for issuer ".*", not ".*\/"; RFC 8414 §3\.3/)
    assert.equal(out.stdout, '')
  })

  test('usage errors exit 2, never 1 (which means inactive)', async () => {
    const out = await keyhole(['token', 'introspect', '--client-id', 'orders'])
    assert.equal(out.code, 2)
    assert.match(out.stderr, /required option '--issuer <url>'/)
    const bad = await keyhole(['token', 'get', ...as(SHOP), '--resource', 'not a uri'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--resource.*absolute URI/)
  })

  test('on a terminal, secret and token are read with echo off: they never show', {
    timeout: 20_000,
  }, async (t) => {
    const token = await getToken()
    const env = { ...process.env }
    delete env.KEYHOLE_CLIENT_SECRET
    const command = `"${process.execPath}" "${KEYHOLE_BIN}" token introspect --issuer ${issuer} --client-id orders`
    // util-linux `script` gives the command a real terminal, as in cli.test.ts.
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
      signal: t.signal,
      killSignal: 'SIGKILL',
    })
    child.on('error', () => {})
    let screen = ''
    const waitFor = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (screen.includes(text)) {
            child.stdout.off('data', check)
            resolve()
          }
        }
        child.stdout.on('data', check)
        check()
      })
    child.stdout.on('data', (c: Buffer) => {
      screen += c.toString()
    })
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
    await waitFor('client secret of orders (hidden')
    child.stdin.write(`${ORDERS[1]}\r`)
    await waitFor('token (hidden')
    child.stdin.write(`${token}\r`)
    assert.equal(await exited, 0, screen)
    child.stdin.end()
    assert.ok(!screen.includes(ORDERS[1]), JSON.stringify(screen))
    assert.ok(!screen.includes(token), JSON.stringify(screen))
    assert.match(screen, /"active": true/)
  })
})

describe('keyhole token with an issuer that has a path (RFC 8414 §3.1)', () => {
  let server: RunningServer
  let issuer: string
  before(async () => {
    const port = await freePort()
    issuer = `http://127.0.0.1:${port}/tenant-a`
    server = await startServer(fixtureConfig({ issuer }), { args: ['--port', String(port)] })
  })
  after(() => server?.stop())

  test('the metadata is found at /.well-known/oauth-authorization-server/tenant-a', async () => {
    const got = await keyhole(['token', 'get', '--issuer', issuer, '--client-id', 'shop'], {
      secret: SHOP[1],
    })
    assert.equal(got.code, 0, got.stderr)
    const out = await keyhole(
      ['token', 'introspect', '--issuer', issuer, '--client-id', 'orders'],
      {
        secret: ORDERS[1],
        stdin: got.stdout,
      },
    )
    assert.equal(out.code, 0, out.stderr)
    assert.equal((JSON.parse(out.stdout) as { iss: unknown }).iss, issuer)
  })
})

describe('keyhole token when the authorization server cannot be reached', () => {
  test('a refused connection: exit 2, "could not reach URL: ECONNREFUSED", no stack trace', async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const out = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'shop'], {
      secret: 'unreachable-secret',
    })
    assert.equal(out.code, 2)
    assert.match(
      out.stderr,
      /^keyhole: could not reach http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-authorization-server: ECONNREFUSED\n$/,
    )
    assert.doesNotMatch(out.stderr, STACK_TRACE)
    assert.ok(!out.stderr.includes('unreachable-secret'))
  })

  test('an issuer that is not a URL, or carries credentials: exit 2 without quoting it', async () => {
    const notUrl = await keyhole(['token', 'get', '--issuer', 'as.example', '--client-id', 'x'], {
      secret: 's',
    })
    assert.equal(notUrl.code, 2)
    assert.match(notUrl.stderr, /--issuer: must be an absolute https URL/)
    const creds = await keyhole(
      ['token', 'get', '--issuer', 'https://u:pw-in-url@as.example', '--client-id', 'x'],
      { secret: 's' },
    )
    assert.equal(creds.code, 2)
    assert.match(creds.stderr, /--issuer: must not contain a user name or password/)
    assert.ok(!creds.stderr.includes('pw-in-url'))
  })

  test('a server that never answers: exit 2 after --timeout seconds', async () => {
    const sockets: Socket[] = []
    const silent = createNetServer((s) => sockets.push(s))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as { port: number }
    try {
      const started = Date.now()
      const out = await keyhole(
        [
          'token',
          'get',
          '--issuer',
          `http://127.0.0.1:${port}`,
          '--client-id',
          'x',
          '--timeout',
          '1',
        ],
        { secret: 's' },
      )
      assert.equal(out.code, 2)
      assert.match(out.stderr, /no answer from http:\/\/127\.0\.0\.1:\d+\/\S+ within 1 s/)
      assert.ok(Date.now() - started < 8_000)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })
})

// ---------------------------------------------------------------------------------------------
// against a scripted authorization server: the wire format and answers keyhole serve never gives
// ---------------------------------------------------------------------------------------------

interface Seen {
  path: string
  headers: IncomingMessage['headers']
  body: URLSearchParams
}

describe('keyhole token on the wire (scripted authorization server)', () => {
  let url: string
  let seen: Seen[] = []
  /** Answers the endpoints; metadata is served by default. */
  let answer: (req: Seen, res: ServerResponse) => void = (_req, res) => res.end()
  let metadata: () => Record<string, unknown>
  const fake = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const request = {
        path: req.url ?? '',
        headers: req.headers,
        body: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      }
      seen.push(request)
      if (request.path === '/.well-known/oauth-authorization-server') {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(metadata()))
        return
      }
      answer(request, res)
    })
  })
  const json = (res: ServerResponse, status: number, body: unknown, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }

  before(async () => {
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(fake.address() as { port: number }).port}`
  })
  after(() => new Promise((resolve) => fake.close(resolve)))
  const reset = () => {
    seen = []
    answer = (_req, res) => json(res, 404, { error: 'invalid_request' })
    metadata = () => ({
      issuer: url,
      token_endpoint: `${url}/token`,
      introspection_endpoint: `${url}/introspect`,
      revocation_endpoint: `${url}/revoke`,
    })
  }

  test('client_secret_basic form-encodes id and secret before base64 (RFC 6749 §2.3.1)', async () => {
    reset()
    answer = (_req, res) => json(res, 200, { access_token: 'at-1', token_type: 'Bearer' })
    const out = await keyhole(
      ['token', 'get', '--issuer', url, '--client-id', 'my client:1', '--scope', 'a b'],
      { secret: 'p@ss word:é' },
    )
    assert.equal(out.code, 0, out.stderr)
    assert.equal(out.stdout, 'at-1\n')
    const token = seen.find((r) => r.path === '/token')
    const expected = Buffer.from('my+client%3A1:p%40ss+word%3A%C3%A9').toString('base64')
    assert.equal(token?.headers.authorization, `Basic ${expected}`)
    assert.equal(token?.headers['content-type'], 'application/x-www-form-urlencoded')
    assert.deepEqual(Object.fromEntries(token?.body ?? []), {
      grant_type: 'client_credentials',
      scope: 'a b',
    })
  })

  test('client_secret_post puts id and secret in the body; --resource repeats (RFC 8707)', async () => {
    reset()
    answer = (_req, res) => json(res, 200, { access_token: 'at-2', token_type: 'Bearer' })
    const out = await keyhole(
      [
        'token',
        'get',
        '--issuer',
        url,
        '--client-id',
        'shop',
        '--auth',
        'post',
        '--resource',
        'https://a.example/',
        '--resource',
        'https://b.example/',
      ],
      { secret: 'post-secret' },
    )
    assert.equal(out.code, 0, out.stderr)
    const token = seen.find((r) => r.path === '/token')
    assert.equal(token?.headers.authorization, undefined)
    assert.equal(token?.body.get('client_id'), 'shop')
    assert.equal(token?.body.get('client_secret'), 'post-secret')
    assert.deepEqual(token?.body.getAll('resource'), ['https://a.example/', 'https://b.example/'])
  })

  test('introspect and revoke send the token and the type hint', async () => {
    reset()
    answer = (req, res) =>
      req.path === '/introspect' ? json(res, 200, { active: true }) : res.end()
    const hint = ['--token-type-hint', 'refresh_token']
    const common = ['--issuer', url, '--client-id', 'rs', ...hint]
    const i = await keyhole(['token', 'introspect', ...common], { secret: 's', stdin: 'tok-1\n' })
    const r = await keyhole(['token', 'revoke', ...common], { secret: 's', stdin: 'tok-1\n' })
    assert.equal(i.code, 0, i.stderr)
    assert.equal(r.code, 0, r.stderr)
    for (const path of ['/introspect', '/revoke']) {
      const request = seen.find((s) => s.path === path)
      assert.equal(request?.body.get('token'), 'tok-1', path)
      assert.equal(request?.body.get('token_type_hint'), 'refresh_token', path)
    }
  })

  test('an AS that echoes the secret or the token in its error: they are blanked out', async () => {
    reset()
    answer = (req, res) =>
      json(res, 400, {
        error: 'invalid_request',
        error_description: `bad ${req.body.get('client_secret')} for ${req.body.get('token')}`,
      })
    const out = await keyhole(
      ['token', 'introspect', '--issuer', url, '--client-id', 'rs', '--auth', 'post'],
      { secret: 'echoed-secret-77', stdin: 'echoed-token-88' },
    )
    assert.equal(out.code, 2)
    assert.match(out.stderr, /HTTP 400: invalid_request \(bad \[redacted\] for \[redacted\]\)/)
    assert.ok(!out.stderr.includes('echoed-secret-77') && !out.stderr.includes('echoed-token-88'))
  })

  test('an error body that is not an OAuth error is not quoted; Retry-After is', async () => {
    reset()
    answer = (_req, res) => {
      res.writeHead(503, { 'retry-after': '7', 'content-type': 'text/html' })
      res.end('<html>upstream echo tok-secret</html>')
    }
    const out = await keyhole(['token', 'revoke', '--issuer', url, '--client-id', 'c', 'tok-x'], {
      secret: 's',
    })
    assert.equal(out.code, 2)
    assert.match(out.stderr, /revocation endpoint at \S+ answered HTTP 503; retry after 7 s\n$/)
    assert.doesNotMatch(out.stderr, /html|tok-secret/)
  })

  test('a redirect from an endpoint is not followed: credentials go only where published', async () => {
    reset()
    answer = (req, res) => {
      if (req.path === '/elsewhere') return json(res, 200, { access_token: 'stolen' })
      res.writeHead(307, { location: `${url}/elsewhere` })
      res.end()
    }
    const out = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'c'], {
      secret: 's',
    })
    assert.equal(out.code, 2)
    assert.match(out.stderr, /HTTP 307 \(a redirect; not followed/)
    assert.ok(!seen.some((r) => r.path === '/elsewhere'))
  })

  test('metadata without the endpoint, or an answer without a boolean active: exit 2', async () => {
    reset()
    metadata = () => ({ issuer: url, token_endpoint: `${url}/token` })
    const missing = await keyhole(['token', 'introspect', '--issuer', url, '--client-id', 'c'], {
      secret: 's',
      stdin: 't',
    })
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /publishes no introspection_endpoint/)

    reset()
    answer = (_req, res) => json(res, 200, { active: 'true' })
    const stringy = await keyhole(['token', 'introspect', '--issuer', url, '--client-id', 'c'], {
      secret: 's',
      stdin: 't',
    })
    assert.equal(stringy.code, 2, 'a string "true" is neither active nor inactive')
    assert.match(stringy.stderr, /without a JSON object with a boolean "active"/)
    assert.equal(stringy.stdout, '')
  })

  test('no metadata at the issuer: exit 2 naming the URL tried', async () => {
    reset()
    const notFound = await keyhole(['token', 'get', '--issuer', `${url}/t`, '--client-id', 'c'], {
      secret: 's',
    })
    assert.equal(notFound.code, 2)
    assert.match(
      notFound.stderr,
      /no authorization server metadata at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-authorization-server\/t: HTTP 404: invalid_request\n$/,
    )
  })

  test('a redirect from the metadata URL is not followed: exit 2 naming the URL', async () => {
    reset()
    // Another origin that claims to be the issuer and wants the client's credentials.
    const stolen: Seen[] = []
    const other = await listen((req, res) => {
      stolen.push({ path: req.url ?? '', headers: req.headers, body: new URLSearchParams() })
      json(res, 200, { issuer: `${url}/t`, token_endpoint: `${otherUrl}/token` })
    })
    const otherUrl = other.url
    try {
      for (const status of [301, 302, 303, 307, 308]) {
        answer = (_req, res) => {
          res.writeHead(status, { location: `${otherUrl}/.well-known/oauth-authorization-server` })
          res.end()
        }
        const out = await keyhole(['token', 'get', '--issuer', `${url}/t`, '--client-id', 'c'], {
          secret: 'not-for-the-other-origin',
        })
        assert.equal(out.code, 2, `${status}: ${out.stderr}`)
        assert.match(
          out.stderr,
          new RegExp(
            `^keyhole: no authorization server metadata at http://127\\.0\\.0\\.1:\\d+/\\.well-known/oauth-authorization-server/t: HTTP ${status} \\(a redirect; not followed`,
          ),
        )
        assert.equal(out.stdout, '')
      }
      assert.deepEqual(stolen, [], 'nothing reached the other origin')
    } finally {
      await new Promise((resolve) => other.server.close(resolve))
    }
  })

  test('an AS that echoes encoded copies of the secret or the token: blanked out too', async () => {
    const secret = 'p+ss w/rd&x=1*~'
    const token = 't+k/n=1&a*~'
    const copies = (value: string) => [
      value,
      new URLSearchParams({ v: value }).toString().slice(2),
      formUrlEncode(value),
      encodeURIComponent(value),
      encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    ]
    // client_secret_post: the body holds both, form-encoded; the AS echoes it and more.
    reset()
    answer = (req, res) =>
      json(res, 400, {
        error: 'invalid_request',
        error_description: `got ${req.body.toString()} ${copies(req.body.get('client_secret') ?? '').join(' ')} ${copies(req.body.get('token') ?? '').join(' ')}`,
      })
    const post = await keyhole(
      ['token', 'introspect', '--issuer', url, '--client-id', 'rs', '--auth', 'post', token],
      { secret },
    )
    assert.equal(post.code, 2)
    assert.match(post.stderr, /got token=\[redacted\]&client_id=rs&client_secret=\[redacted\] /)
    for (const copy of [...copies(secret), ...copies(token)]) {
      assert.ok(!post.stderr.includes(copy), `${copy} in ${post.stderr}`)
    }

    // client_secret_basic: the AS echoes the Authorization header and what it decodes to.
    reset()
    answer = (req, res) => {
      const header = req.headers.authorization ?? ''
      const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8')
      json(res, 401, {
        error: 'invalid_client',
        error_description: `header ${header} base64 ${header.slice(6)} user:pass ${decoded}`,
      })
    }
    const basic = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'my client'], {
      secret,
    })
    assert.equal(basic.code, 2)
    assert.match(
      basic.stderr,
      /\(header \[redacted\] base64 \[redacted\] user:pass my\+client:\[redacted\]\)/,
    )
    const base64 = Buffer.from(`my+client:${formUrlEncode(secret)}`).toString('base64')
    for (const copy of [...copies(secret), base64, `Basic ${base64}`]) {
      assert.ok(!basic.stderr.includes(copy), `${copy} in ${basic.stderr}`)
    }
  })

  test('an access_token that is not one word of visible ASCII: exit 2, never printed', async () => {
    for (const hostile of [
      'at\u001b]0;owned\u0007',
      'at-1\nEVIL=1',
      'at 1',
      'at-\u00e9',
      'at\u009b2J',
    ]) {
      for (const extra of [[], ['--json']]) {
        reset()
        answer = (_req, res) => json(res, 200, { access_token: hostile, token_type: 'Bearer' })
        const out = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'c', ...extra], {
          secret: 's',
        })
        const what = `${JSON.stringify(hostile)} ${extra.join(' ')}`
        assert.equal(out.code, 2, what)
        assert.equal(out.stdout, '', what)
        assert.match(
          out.stderr,
          /^keyhole: the access_token from http:\S+\/token is not one word of visible ASCII characters \(RFC 6749 Appendix A\.12\); not printed\n$/,
          what,
        )
      }
    }
  })

  test('JSON output never carries control or format characters raw to the terminal', async () => {
    // JSON.stringify escapes C0 controls, but not DEL, C1 controls (U+009B: CSI), bidi
    // overrides, zero-width or line separator characters, here in members keyhole passes through.
    const hostile = 'a\u007fb\u009b2Jc\u202ed\u200be\u2028f\u{e0041}g\u00e9\u001b[31m'
    const rawControl = (text: string) =>
      [...text].some((ch) => {
        const c = ch.codePointAt(0) ?? 0
        return (c < 0x20 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f) || c >= 0x200b
      })
    reset()
    answer = (req, res) =>
      req.path === '/token'
        ? json(res, 200, { access_token: 'at-1', token_type: 'Bearer', note: hostile })
        : json(res, 200, { active: true, username: hostile, [hostile]: 1 })
    const got = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'c', '--json'], {
      secret: 's',
    })
    assert.equal(got.code, 0, got.stderr)
    assert.ok(!rawControl(got.stdout), JSON.stringify(got.stdout))
    assert.deepEqual(JSON.parse(got.stdout), {
      access_token: 'at-1',
      token_type: 'Bearer',
      note: hostile,
    })
    assert.match(got.stdout, /^\{\n {2}"access_token": "at-1",\n/, 'still indented')

    const introspected = await keyhole(
      ['token', 'introspect', '--issuer', url, '--client-id', 'rs', 'at-1'],
      { secret: 's' },
    )
    assert.equal(introspected.code, 0, introspected.stderr)
    assert.ok(!rawControl(introspected.stdout), JSON.stringify(introspected.stdout))
    assert.deepEqual(JSON.parse(introspected.stdout), {
      active: true,
      username: hostile,
      [hostile]: 1,
    })
  })

  test('an answer larger than 1 MiB is not read: exit 2 saying so', async () => {
    // Without end, without a Content-Length: stopped at 1 MiB, well before --timeout.
    reset()
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"access_token":"at-1","padding":"')
      const chunk = Buffer.alloc(64 * 1024, 'x')
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once('drain', pump)
      }
      pump()
    }
    const started = Date.now()
    const endless = await keyhole(
      ['token', 'get', '--issuer', url, '--client-id', 'c', '--timeout', '20'],
      { secret: 's' },
    )
    assert.equal(endless.code, 2)
    assert.match(
      endless.stderr,
      /^keyhole: the answer from http:\/\/127\.0\.0\.1:\d+\/token is larger than 1 MiB; not read\n$/,
    )
    assert.equal(endless.stdout, '')
    assert.ok(Date.now() - started < 15_000, 'not by the timeout')

    // A metadata document of 1 MiB and a byte, with a Content-Length saying so.
    reset()
    answer = (_req, res) => json(res, 200, { access_token: 'at-1' })
    const small = metadata()
    const padding = 1024 * 1024 + 1 - JSON.stringify({ ...small, padding: '' }).length
    metadata = () => ({ ...small, padding: 'x'.repeat(padding) })
    assert.equal(Buffer.byteLength(JSON.stringify(metadata())), 1024 * 1024 + 1)
    const large = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'c'], {
      secret: 's',
    })
    assert.equal(large.code, 2)
    assert.match(
      large.stderr,
      /^keyhole: the answer from \S+\/\.well-known\/oauth-authorization-server is larger than 1 MiB; not read\n$/,
    )
    assert.ok(!seen.some((r) => r.path === '/token'))

    // 1 MiB exactly is read.
    metadata = () => ({ ...small, padding: 'x'.repeat(padding - 1) })
    const limit = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'c'], {
      secret: 's',
    })
    assert.equal(limit.code, 0, limit.stderr)
  })

  test('an https issuer’s http endpoints are refused, loopback ones too; an http issuer’s are not', () => {
    const refused = (issuer: string, endpoint: string) => {
      assert.throws(
        () => endpointOf({ issuer, token_endpoint: endpoint }, 'token_endpoint'),
        (err: unknown) =>
          err instanceof CliError &&
          err.exitCode === 2 &&
          err.message ===
            `the token_endpoint in the metadata of ${issuer} is plain http (${new URL(endpoint).origin}): refused, credentials and tokens would cross the network unencrypted; an https issuer's endpoints must be https`,
        `${issuer} -> ${endpoint}`,
      )
    }
    refused('https://as.example', 'http://as.example/token')
    refused('https://as.example', 'http://elsewhere.example:8080/token')
    refused('https://as.example', 'http://127.0.0.1:8080/token')
    refused('https://as.example', 'http://localhost/token')
    refused('https://as.example', 'http://[::1]/token')
    const used = (issuer: string, endpoint: string) =>
      assert.equal(endpointOf({ issuer, token_endpoint: endpoint }, 'token_endpoint'), endpoint)
    used('https://as.example', 'https://as.example/token')
    used('https://as.example', 'https://elsewhere.example/token')
    used('http://127.0.0.1:9000', 'http://127.0.0.1:9000/token')
    used('http://as.test', 'http://elsewhere.test/token')
    used('http://127.0.0.1:9000', 'https://as.example/token')
  })

  test('an https issuer whose metadata names an http endpoint: nothing is sent to it', async () => {
    const tls = selfSignedCertificate()
    // Never skipped: a missing openssl fails the test (CI has it; apt-get install openssl).
    if (tls === undefined) assert.fail('openssl is needed to make a test certificate')
    reset()
    answer = (_req, res) => json(res, 200, { access_token: 'sent-in-clear' })
    let httpsMetadata: Record<string, unknown> = {}
    const secure = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      if (req.url === '/.well-known/oauth-authorization-server')
        return json(res, 200, httpsMetadata)
      json(res, 200, { access_token: 'over-tls', token_type: 'Bearer' })
    })
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve))
    const issuer = `https://127.0.0.1:${(secure.address() as { port: number }).port}`
    const env = { NODE_EXTRA_CA_CERTS: tls.certFile }
    try {
      // The https endpoint works: the certificate is trusted.
      httpsMetadata = { issuer, token_endpoint: `${issuer}/token` }
      const ok = await keyhole(['token', 'get', '--issuer', issuer, '--client-id', 'c'], {
        secret: 's',
        env,
      })
      assert.equal(ok.code, 0, ok.stderr)
      assert.equal(ok.stdout, 'over-tls\n')

      // The plain http one, even on loopback, gets nothing.
      httpsMetadata = { issuer, token_endpoint: `${url}/token` }
      const out = await keyhole(['token', 'get', '--issuer', issuer, '--client-id', 'c'], {
        secret: 'must-not-cross-in-clear',
        env,
      })
      assert.equal(out.code, 2)
      assert.match(
        out.stderr,
        /^keyhole: the token_endpoint in the metadata of https:\S+ is plain http \(http:\/\/127\.0\.0\.1:\d+\): refused/,
      )
      assert.equal(out.stdout, '')
      assert.ok(!seen.some((r) => r.path === '/token'), 'no request to the http endpoint')
    } finally {
      await new Promise((resolve) => secure.close(resolve))
    }
  })

  test('control characters in a published endpoint URL do not reach error messages', async () => {
    reset()
    metadata = () => ({ issuer: url, token_endpoint: `${url}/tok\u001b[2Jen` })
    answer = (_req, res) => json(res, 400, { error: 'invalid_request' })
    const out = await keyhole(['token', 'get', '--issuer', url, '--client-id', 'c'], {
      secret: 's',
    })
    assert.equal(out.code, 2)
    assert.match(out.stderr, /token endpoint at \S+\/tok%1B\[2Jen answered HTTP 400/)
    assert.ok(!out.stderr.includes('\u001b'), JSON.stringify(out.stderr))
  })
})
