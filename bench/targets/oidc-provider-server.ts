/**
 * panva's oidc-provider (the certified Node.js authorization server) with client credentials and
 * introspection on, its default in-memory adapter, and one confidential client. Run as its own
 * process by bench/run.ts; announces itself with the same `{"msg":"listening",...}` line as
 * `keyhole serve`. The client comes from BENCH_CLIENT_ID / BENCH_CLIENT_SECRET.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Provider } from 'oidc-provider'

const clientId = process.env.BENCH_CLIENT_ID ?? 'bench-client'
const clientSecret = process.env.BENCH_CLIENT_SECRET ?? randomBytes(32).toString('base64url')
const OIDC_SCOPE = 'orders:read'

// Listen first: the issuer identifier needs the port.
let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
  res.writeHead(503).end()
}
const server = createServer((req, res) => handle(req, res))
server.keepAliveTimeout = 65_000
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address() as AddressInfo
const issuer = `http://127.0.0.1:${port}`

// Our own signing key and cookie key: the defaults are development-only and warn.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }

interface IntrospectionContext {
  oidc: { client: { clientId: string } }
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: OIDC_SCOPE,
    },
  ],
  scopes: [OIDC_SCOPE],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // As long as Keyhole's bench tokens, so that a long BENCH_DURATION never sees one expire.
  ttl: { ClientCredentials: 86_400 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The library default, minus its "you SHOULD change this" notice: confidential callers
      // may introspect any token; public ones only their own.
      allowedPolicy: async (
        ctx: IntrospectionContext,
        caller: { clientAuthMethod: string },
        token: { clientId: string },
      ) => caller.clientAuthMethod !== 'none' || token.clientId === ctx.oidc.client.clientId,
    },
  },
})
provider.on('server_error', (_ctx, err) => {
  process.stderr.write(`oidc-provider server_error: ${String(err)}\n`)
})
handle = provider.callback()

process.stdout.write(`${JSON.stringify({ msg: 'listening', url: issuer, issuer })}\n`)
process.once('SIGTERM', () => process.exit(0))
