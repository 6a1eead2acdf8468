import { Command, InvalidArgumentError } from 'commander'
import { demoCommand } from './commands/demo.ts'
import { hashSecretCommand } from './commands/hash-secret.ts'
import { keysAddCommand } from './commands/keys-add.ts'
import { collectAlgorithm, keysGenerateCommand, parseAlgorithm } from './commands/keys-generate.ts'
import { keysListCommand } from './commands/keys-list.ts'
import { keysRemoveCommand } from './commands/keys-remove.ts'
import { serveCommand } from './commands/serve.ts'
import { addClientOptions, addTokenTypeHint } from './commands/token-common.ts'
import { collectResource, tokenGetCommand } from './commands/token-get.ts'
import { tokenIntrospectCommand } from './commands/token-introspect.ts'
import { tokenRevokeCommand } from './commands/token-revoke.ts'

export function parsePort(value: string): number {
  const port = Number(value)
  if (!/^\d+$/.test(value) || port > 65_535) {
    throw new InvalidArgumentError('must be a whole number from 0 to 65535')
  }
  return port
}

const program = new Command()
  .name('keyhole')
  .description(
    'OAuth 2.0 token introspection: run the authorization server, hash secrets, manage signing keys, get, introspect and revoke tokens',
  )
  .showHelpAfterError()
  // Usage errors exit 2, not commander's 1: `token introspect` exits 1 for an inactive token.
  // Set before the commands are added, which inherit it.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))

program
  .command('serve')
  .description('run the authorization server')
  .requiredOption('-c, --config <file>', 'JSON configuration file')
  .option('-p, --port <port>', 'port to listen on (0: any free port)', parsePort)
  .option('-H, --host <host>', 'address to listen on')
  .action(serveCommand)

program
  .command('demo')
  .description(
    'run the server on a config with plain secrets (npm start uses examples/demo/keyhole.json) and print a get / introspect / revoke walk-through',
  )
  .requiredOption(
    '-c, --config <file>',
    'JSON configuration file with plain client and resource secrets',
  )
  .option('-p, --port <port>', 'port to listen on', parsePort)
  .option('-H, --host <host>', 'address to listen on')
  .action(demoCommand)

program
  .command('hash-secret')
  .description('print the secretHash of a secret read from standard input, or of a new one')
  .option('-g, --generate', 'generate a new 256-bit secret and print it with its hash')
  .action(hashSecretCommand)

const keys = program
  .command('keys')
  .description(
    'manage the signing-key file (the signingKeys option): generate, add (rotate), list, remove',
  )

keys
  .command('generate')
  .description('create a new key file (mode 0600); never overwrites one')
  .requiredOption('--out <file>', 'the key file to create')
  .option(
    '--alg <alg>',
    'algorithm of a key, in file order; repeat for several (default: ES256, then RS256)',
    collectAlgorithm,
  )
  .action(keysGenerateCommand)

keys
  .command('add')
  .description('rotation step 1: put a new key first (it signs access tokens), keep the others')
  .requiredOption('--file <file>', 'the key file')
  .requiredOption('--alg <alg>', 'algorithm of the new key', parseAlgorithm)
  .action(keysAddCommand)

keys
  .command('list')
  .description('list kid, algorithm and role of each key; never prints private members')
  .requiredOption('--file <file>', 'the key file')
  .option('--json', 'print the public JWK Set, as jwks_uri serves it')
  .action(keysListCommand)

keys
  .command('remove')
  .description(
    'rotation step 2: remove a key once the tokens it signed have expired (refuses the only key)',
  )
  .requiredOption('--file <file>', 'the key file')
  .requiredOption('--kid <kid>', 'the kid of the key to remove')
  .action(keysRemoveCommand)

const token = program
  .command('token')
  .description(
    'get, introspect and revoke tokens at an authorization server; the client secret comes from $KEYHOLE_CLIENT_SECRET, --secret-file or standard input, never from an argument',
  )

addClientOptions(
  token.command('get').description('get an access token (client_credentials grant) and print it'),
)
  .option('--scope <scopes>', 'space-separated scopes to request')
  .option(
    '--resource <uri>',
    'resource (RFC 8707) the token is for; repeat for several',
    collectResource,
  )
  .option('--json', 'print the whole token response as JSON, not just the token')
  .action(tokenGetCommand)

addTokenTypeHint(
  addClientOptions(
    token
      .command('introspect')
      .description(
        'introspect a token and print the answer; exit 0 if active, 1 if not, 2 on errors',
      )
      .argument('[token]', 'the token; omit it or give "-" to read it from standard input (safer)'),
  ),
).action(tokenIntrospectCommand)

addTokenTypeHint(
  addClientOptions(
    token
      .command('revoke')
      .description('revoke a token; prints nothing on success')
      .argument('[token]', 'the token; omit it or give "-" to read it from standard input (safer)'),
  ),
).action(tokenRevokeCommand)

await program.parseAsync(process.argv)
