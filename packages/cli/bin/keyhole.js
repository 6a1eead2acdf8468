#!/usr/bin/env node
// The packages ship TypeScript source until the first npm release (docs/architecture.md):
// tsx compiles it on load, after which it runs as plain JavaScript.
import { register } from 'tsx/esm/api'

register()
await import('../src/main.ts')
