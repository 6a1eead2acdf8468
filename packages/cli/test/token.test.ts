/**
 * `keyhole token get | introspect | revoke`, run as the bin users run, over real HTTP on loopback:
 * against the real `keyhole serve` (conformance harness), and against a scripted authorization
 * server for what the real one never does (redirects, hangs, odd answers, echoed credentials).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
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
}

/** Run the bin with a clean environment: KEYHOLE_CLIENT_SECRET only when asked for. */
function keyhole(args: string[], options: RunOptions = {}): Promise<Outcome> {
  const env = { ...process.env }
  delete env.KEYHOLE_CLIENT_SECRET
  if (options.secret !== undefined) env.KEYHOLE_CLIENT_SECRET = options.secret
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
})
