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
    if (err instanceof ConfigError) {
      process.stderr.write(`keyhole: ${err.message}\n`)
      process.exit(2)
    }
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      process.stderr.write(`keyhole: host: cannot resolve ${config.host} (${code})\n`)
      process.exit(2)
    }
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
      (err: unknown) => {
        process.stderr.write(
          `keyhole: could not close cleanly: ${err instanceof Error ? err.message : String(err)}\n`,
        )
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  const server = await startOrExit(loadOrExit(options))
  closeOnSignal(server)
}
