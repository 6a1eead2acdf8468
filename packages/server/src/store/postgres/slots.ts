/**
 * At most `size` database operations at once; the others wait their turn, in order, here.
 *
 * Why: postgres.js 3.4.9 (the pinned driver) keeps its pool's connection queues in arrays that
 * leave a hole per `shift()` and are reset only when they run empty. When more queries are
 * pending than the pool has connections, it pipelines them onto busy connections, its busy
 * queue never runs empty, and every later query scans the ever longer array: measured here,
 * 50 concurrent queries on 10 connections went from 20 to 37 µs a query within 120,000
 * queries, and Keyhole's introspection from 18,700 to 7,100 requests a second within 20 s.
 * With no more operations in flight than connections, the driver never pipelines and its
 * queues keep draining (measured flat at 5 and 10 concurrent queries on 10 connections).
 */
export interface Slots {
  /** Run `operation` when a slot is free; the slot is given back when it settles. */
  run<T>(operation: () => PromiseLike<T>): Promise<T>
}

/** Waiting turns kept before the consumed front of the queue is cut off. */
const COMPACT_AFTER = 1024

export function createSlots(size: number): Slots {
  let free = size
  // A queue that does not leak: an array with a moving head, cut back once half of it is spent.
  let waiting: ((value: undefined) => void)[] = []
  let head = 0

  function release(): void {
    if (head < waiting.length) {
      const next = waiting[head] as (value: undefined) => void
      head += 1
      if (head >= COMPACT_AFTER && head * 2 >= waiting.length) {
        waiting = waiting.slice(head)
        head = 0
      }
      next(undefined)
      return
    }
    free += 1
  }

  return {
    async run(operation) {
      if (free > 0) free -= 1
      else await new Promise<undefined>((resolve) => waiting.push(resolve))
      try {
        return await operation()
      } finally {
        release()
      }
    },
  }
}
