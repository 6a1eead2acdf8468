import {
  type AuthorizationServer,
  ConfigError,
  createAuthorizationServer,
  loadConfigFile,
  type ServerConfig,
} from '@keyhole/server'

export interface ServeOptions {
  readonly config: string
  readonly port?: number
  readonly host?: string
}

/** Load and validate the config; on a problem, say which option and exit 2. */
export function loadOrExit(options: ServeOptions): ServerConfig {
  try {
    return loadConfigFile(options.config, {
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.host === undefined ? {} : { host: options.host }),
    })
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`keyhole: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
}

export async function startOrExit(config: ServerConfig): Promise<AuthorizationServer> {
  try {
    return await createAuthorizationServer(config)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(
        `keyhole: cannot listen on ${config.host}:${config.port} (${code}); choose another --port or --host\n`,
      )
      process.exit(1)
    }
    throw err
  }
}

export function closeOnSignal(server: AuthorizationServer): void {
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  const server = await startOrExit(loadOrExit(options))
  closeOnSignal(server)
}
