import { readFileSync } from 'node:fs'
import { closeOnSignal, loadOrExit, type ServeOptions, startOrExit } from './serve.ts'

interface DemoEntry {
  id: string
  secret?: string
  scopes?: string[]
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** Start the server and print a copy-paste walk-through: get, introspect, revoke, introspect. */
export async function demoCommand(options: ServeOptions): Promise<void> {
  const config = loadOrExit(options)
  const raw = JSON.parse(readFileSync(options.config, 'utf8')) as {
    clients?: DemoEntry[]
    resources?: DemoEntry[]
  }
  const client = raw.clients?.find((c) => c.secret !== undefined && (c.scopes ?? []).length > 0)
  const resource = raw.resources?.find(
    (r) => r.secret !== undefined && (r.scopes ?? []).some((s) => client?.scopes?.includes(s)),
  )
  if (client?.secret === undefined || resource?.secret === undefined) {
    process.stderr.write(
      'keyhole demo: the config needs a client and a resource with plain secrets and a shared scope\n',
    )
    process.exit(2)
  }
  const server = await startOrExit(config)
  closeOnSignal(server)
  const base = server.issuer.replace(/\/$/, '')
  const asClient = `-u ${quote(`${client.id}:${client.secret}`)}`
  const asResource = `-u ${quote(`${resource.id}:${resource.secret}`)}`
  process.stdout.write(`
Keyhole demo: authorization server ${server.issuer} (Ctrl-C to stop)
Paste these into another terminal:

# 1. client "${client.id}" gets an access token (client_credentials)
TOKEN=$(curl -s ${asClient} -d grant_type=client_credentials ${base}/token | sed -E 's/.*"access_token":"([^"]+)".*/\\1/'); echo "$TOKEN"
# 2. resource "${resource.id}" introspects it: active, with its own scopes and audience
curl -s ${asResource} --data-urlencode "token=$TOKEN" ${base}/introspect; echo
# 3. the client revokes it (200)
curl -s -o /dev/null -w '%{http_code}\\n' ${asClient} --data-urlencode "token=$TOKEN" ${base}/revoke
# 4. introspect again: {"active":false}
curl -s ${asResource} --data-urlencode "token=$TOKEN" ${base}/introspect; echo

`)
}
