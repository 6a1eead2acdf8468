/**
 * The PostgreSQL driver is an optional peer dependency: an operator on SQLite never needs it, and
 * one who names a PostgreSQL URL without it installed is told what to install, naming `storage`.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ConfigError } from '@keyhole/server'
import { loadOptional } from '../src/store/open-store.ts'

test('a missing optional package is a config problem naming storage and what to install', async () => {
  // A specifier only known at run time, as a package that is not installed is to the compiler.
  const missing: string = 'keyhole-package-that-is-not-installed'
  await assert.rejects(
    loadOptional(() => import(missing), missing),
    (err: unknown) =>
      err instanceof ConfigError &&
      /^storage: .*npm install keyhole-package-that-is-not-installed@3/.test(err.problems[0] ?? ''),
  )
})

test('any other loading error is passed on unchanged', async () => {
  const broken = new Error('boom')
  await assert.rejects(
    loadOptional(() => Promise.reject(broken), 'postgres'),
    (err: unknown) => err === broken,
  )
})

test('the main entry point does not load the PostgreSQL driver; the /postgres subpath does', (t) => {
  // A resolve hook (it runs on node's loader thread) that reports modules inside the driver.
  const dir = mkdtempSync(join(tmpdir(), 'keyhole-hook-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
      const resolved = await next(specifier, context)
      if (resolved.url.includes('/node_modules/postgres/')) process.stderr.write('postgres loaded\\n')
      return resolved
    }`,
  )
  writeFileSync(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})\n`,
  )
  const loads = (entry: string) => {
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        join(dir, 'register.mjs'),
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `await import('${entry}')`,
      ],
      { encoding: 'utf8', cwd: import.meta.dirname },
    )
    assert.equal(run.status, 0, run.stderr)
    return run.stderr.includes('postgres loaded')
  }
  assert.equal(loads('@keyhole/server'), false)
  assert.equal(loads('@keyhole/server/postgres'), true)
})
