/**
 * Reading and writing a signing-key file: the JWK Set of private keys named by the server's
 * `signingKeys` option. What `keyhole keys generate | add | list | remove` share.
 *
 * Every write is checked as a whole by the server's own importSigningKeys first, then lands
 * atomically: the new text goes to a temp file in the same directory (same filesystem, so the
 * rename is atomic), is fsynced, and replaces the original by rename; the directory is fsynced so
 * that the rename survives a crash. A crash leaves the old file or the new one, never half of one:
 * a lost key would make every token it signed unverifiable.
 *
 * Nothing here prints key material: JSON.parse's message quotes the input, so it is replaced;
 * importSigningKeys' messages never quote keys; fs errors are reported by their code.
 */
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { importSigningKeys, SigningKeyError, type SigningKeys } from '@keyhole/server'
import { CliError } from '../oauth-client.ts'

/** One private JWK as it stands in the file; members the CLI does not know are kept as they are. */
export type PrivateJwk = Readonly<Record<string, unknown>>

export interface KeyFile {
  /** The real path (a symbolic link is followed, so the rename replaces its target, not the link). */
  readonly path: string
  /** The whole document: other top-level members of the JWK Set are written back unchanged. */
  readonly document: Readonly<Record<string, unknown>>
  readonly jwks: readonly PrivateJwk[]
  readonly keys: SigningKeys
  readonly stat: Stats
}

/** Private keys: no access for group or others, whatever the umask. */
const PRIVATE_MODE = 0o600

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'unknown error'
}

export async function readKeyFile(file: string): Promise<KeyFile> {
  let path: string
  let text: string
  let stat: Stats
  try {
    path = realpathSync(file)
    text = readFileSync(path, 'utf8')
    stat = statSync(path)
  } catch (err) {
    throw new CliError(`cannot read ${file} (${codeOf(err)})`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new CliError(`${file} is not valid JSON`)
  }
  const keys = await importSigningKeys(json, file)
  // importSigningKeys accepted it, so it is an object with a `keys` array of objects.
  const document = json as Record<string, unknown>
  warnIfShared(file, stat)
  return { path, document, jwks: document.keys as PrivateJwk[], keys, stat }
}

function warnIfShared(file: string, stat: Stats): void {
  // Windows has no such mode bits: every file would look shared.
  if (process.platform === 'win32' || (stat.mode & 0o077) === 0) return
  const mode = (stat.mode & 0o777).toString(8).padStart(4, '0')
  // A warning, not a refusal: a group the server runs as may be meant to read it.
  process.stderr.write(
    `keyhole: warning: ${file} holds private keys and is open to group or others (mode ${mode})\n`,
  )
}

/** Check the whole set the way the server will read it; nothing is written if it fails. */
async function checked(jwks: readonly PrivateJwk[], document: object, where: string) {
  const next = { ...document, keys: jwks }
  return { next, keys: await importSigningKeys(next, where) }
}

/**
 * Write `body` to a new temp file beside `target`, synced, with `mode` and `owner`; return its path.
 * Created 0600 and only then given the final mode, so it is never readable by others meanwhile.
 */
function writeTemp(
  target: string,
  body: string,
  mode: number,
  owner?: { uid: number; gid: number },
): string {
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
  let fd: number
  try {
    fd = openSync(temp, 'wx', PRIVATE_MODE)
  } catch (err) {
    throw new CliError(`cannot write in ${dirname(target)} (${codeOf(err)})`)
  }
  try {
    if (owner !== undefined) {
      try {
        fchownSync(fd, owner.uid, owner.gid)
      } catch (err) {
        // The server may run as that owner and could no longer read a file we took over.
        throw new CliError(
          `cannot keep the owner ${owner.uid}:${owner.gid} of ${target} (${codeOf(err)}); run as its owner`,
        )
      }
    }
    fchmodSync(fd, mode)
    writeFileSync(fd, body)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    unlinkSync(temp)
    throw err instanceof CliError ? err : new CliError(`cannot write ${temp} (${codeOf(err)})`)
  }
  closeSync(fd)
  return temp
}

/** Make a rename or link durable; some systems (Windows) cannot open a directory: nothing to do. */
function syncDirectory(dir: string): void {
  let fd: number
  try {
    fd = openSync(dir, 'r')
  } catch {
    return
  }
  try {
    fsyncSync(fd)
  } catch {
    // EINVAL on file systems that do not sync directories: the rename is as durable as it gets.
  } finally {
    closeSync(fd)
  }
}

function serialize(document: object): string {
  return `${JSON.stringify(document, null, 2)}\n`
}

/** Create a NEW key file; an existing one (even a dangling link) is never replaced. */
export async function createKeyFile(
  file: string,
  jwks: readonly PrivateJwk[],
): Promise<SigningKeys> {
  const { next, keys } = await checked(jwks, {}, file)
  const temp = writeTemp(file, serialize(next), PRIVATE_MODE)
  try {
    // link() fails if the name exists, atomically: no check-then-write race with another writer,
    // and the name only ever points at a complete, synced file.
    linkSync(temp, file)
  } catch (err) {
    if (codeOf(err) === 'EEXIST') {
      throw new CliError(
        `${file} exists: refusing to overwrite a key file (use keys add to rotate)`,
      )
    }
    throw new CliError(`cannot create ${file} (${codeOf(err)})`)
  } finally {
    unlinkSync(temp)
  }
  syncDirectory(dirname(file))
  return keys
}

/** Replace the key file's keys with `jwks`, keeping its mode, owner and other members. */
export async function replaceKeys(
  current: KeyFile,
  jwks: readonly PrivateJwk[],
): Promise<SigningKeys> {
  const { next, keys } = await checked(jwks, current.document, current.path)
  const { uid, gid } = current.stat
  const sameOwner = uid === process.getuid?.() && gid === process.getgid?.()
  const owner = sameOwner || process.platform === 'win32' ? undefined : { uid, gid }
  const temp = writeTemp(current.path, serialize(next), current.stat.mode & 0o7777, owner)
  try {
    renameSync(temp, current.path)
  } catch (err) {
    unlinkSync(temp)
    throw new CliError(`cannot replace ${current.path} (${codeOf(err)})`)
  }
  syncDirectory(dirname(current.path))
  return keys
}

/**
 * Run a keys command: one line on stderr and exit 2 for anything that goes wrong. An unexpected
 * error is named by its code or class only, since its message could hold key material.
 */
export async function runKeysCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body()
  } catch (err) {
    if (err instanceof CliError || err instanceof SigningKeyError) {
      process.stderr.write(`keyhole: ${err.message}\n`)
    } else {
      const name = err instanceof Error ? err.name : typeof err
      process.stderr.write(
        `keyhole: unexpected error (${(err as NodeJS.ErrnoException).code ?? name})\n`,
      )
    }
    process.exitCode = 2
  }
}
