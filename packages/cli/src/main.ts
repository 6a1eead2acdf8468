import { Command, InvalidArgumentError } from 'commander'
import { demoCommand } from './commands/demo.ts'
import { hashSecretCommand } from './commands/hash-secret.ts'
import { serveCommand } from './commands/serve.ts'

export function parsePort(value: string): number {
  const port = Number(value)
  if (!/^\d+$/.test(value) || port > 65_535) {
    throw new InvalidArgumentError('must be a whole number from 0 to 65535')
  }
  return port
}

const program = new Command()
  .name('keyhole')
  .description('OAuth 2.0 token introspection: run the authorization server, hash secrets')
  .showHelpAfterError()

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

await program.parseAsync(process.argv)
