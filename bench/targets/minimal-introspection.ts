/**
 * Reference target: a minimal introspection endpoint (minimal-introspection-server.ts), loaded
 * with a request of Keyhole's shape: how far the bare ceiling is from any introspection at all,
 * on this machine, in this run. It has no goal of its own.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { basicAuthorization } from '@keyhole/protocol'
import { expectActive, FORM_TYPE, type FormPost } from '../lib/http.ts'
import { ROOT, spawnServer } from '../lib/process.ts'
import type { Target } from './target.ts'

export const minimalIntrospectionTarget: Target = {
  id: 'minimal',
  label: 'minimal introspection (reference)',
  async start() {
    const authorization = basicAuthorization('orders', randomBytes(32).toString('base64url'))
    const token = `kh_at_${randomBytes(36).toString('base64url').slice(0, 49)}`
    const server = await spawnServer({
      args: ['--import', 'tsx', join(ROOT, 'bench/targets/minimal-introspection-server.ts')],
      env: { MINIMAL_AUTHORIZATION: authorization, MINIMAL_TOKEN: token },
    })
    const request: FormPost = {
      url: `${server.url}/introspect`,
      headers: { 'content-type': FORM_TYPE, authorization },
      body: `token=${token}`,
    }
    const expectBody = await expectActive(request).catch(async (err: unknown) => {
      await server.stop()
      throw err
    })
    return { server, request, expectBody, stop: () => server.stop() }
  },
}
