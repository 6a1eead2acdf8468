import type { FormPost } from '../lib/http.ts'
import type { ServerProcess } from '../lib/process.ts'

/** A server under test, started in its own process and ready to be loaded. */
export interface RunningTarget {
  readonly server: ServerProcess
  /** The request the load repeats. */
  readonly request: FormPost
  /** The exact body every loaded request must get back (checked on every response). */
  readonly expectBody: string
  /** Stop the process and remove its files. */
  stop(): Promise<void>
}

export interface Target {
  /** Machine-readable id, used in bench/results/latest.json. */
  readonly id: string
  /** What the table shows. */
  readonly label: string
  start(): Promise<RunningTarget>
}
