/** Target (a): bare node:http, the ceiling. Loaded with a request the size of Keyhole's. */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { basicAuthorization } from '@keyhole/protocol'
import { expectActive, FORM_TYPE, type FormPost } from '../lib/http.ts'
import { ROOT, spawnServer } from '../lib/process.ts'
import type { Target } from './target.ts'

export const bareTarget: Target = {
  id: 'bare',
  label: 'bare node:http (ceiling)',
  async start() {
    const server = await spawnServer({
      args: ['--import', 'tsx', join(ROOT, 'bench/targets/bare-server.ts')],
    })
    // Same shape and size as the Keyhole request: a 55-character token, a Basic header.
    const request: FormPost = {
      url: `${server.url}/introspect`,
      headers: {
        'content-type': FORM_TYPE,
        authorization: basicAuthorization('orders', randomBytes(32).toString('base64url')),
      },
      body: `token=kh_at_${'x'.repeat(49)}`,
    }
    const expectBody = await expectActive(request).catch(async (err: unknown) => {
      await server.stop()
      throw err
    })
    return { server, request, expectBody, stop: () => server.stop() }
  },
}
