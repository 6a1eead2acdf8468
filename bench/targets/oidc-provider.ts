/**
 * Target (c): panva's oidc-provider in its own process (see oidc-provider-server.ts). The load
 * introspects one opaque client_credentials access token as the client that holds it, with
 * client_secret_basic on every request.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { basicAuthorization } from '@keyhole/protocol'
import { clientCredentialsToken, expectActive, FORM_TYPE, type FormPost } from '../lib/http.ts'
import { ROOT, spawnServer } from '../lib/process.ts'
import type { Target } from './target.ts'

const CLIENT_ID = 'bench-client'
const { version } = JSON.parse(
  readFileSync(join(ROOT, 'node_modules/oidc-provider/package.json'), 'utf8'),
) as { version: string }

export const oidcProviderTarget: Target = {
  id: 'oidc-provider',
  label: `oidc-provider ${version}`,
  async start() {
    const secret = randomBytes(32).toString('base64url')
    const server = await spawnServer({
      args: ['--import', 'tsx', join(ROOT, 'bench/targets/oidc-provider-server.ts')],
      env: { BENCH_CLIENT_ID: CLIENT_ID, BENCH_CLIENT_SECRET: secret },
    })
    try {
      const authorization = basicAuthorization(CLIENT_ID, secret)
      const token = await clientCredentialsToken(
        `${server.issuer}/token`,
        authorization,
        'orders:read',
      )
      const request: FormPost = {
        url: `${server.issuer}/token/introspection`,
        headers: { 'content-type': FORM_TYPE, authorization },
        body: new URLSearchParams({ token }).toString(),
      }
      const expectBody = await expectActive(request)
      return { server, request, expectBody, stop: () => server.stop() }
    } catch (err) {
      await server.stop()
      throw err
    }
  },
}
