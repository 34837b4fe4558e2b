// A counting semaphore: bounds tasks running at once, within a run or across the daemon.

export class Limiter {
  private active = 0;
  private waiters: (() => void)[] = [];

  constructor(private cap: number) {}

  get capacity(): number {
    return this.cap;
  }

  get running(): number {
    return this.active;
  }

  /**
   * Change the bound (the daemon's max_parallel after a reload). More room starts waiting
   * tasks now; less takes effect as running tasks end (none is stopped for it).
   */
  resize(capacity: number): void {
    this.cap = capacity;
    while (this.active < this.cap && this.waiters.length) {
      this.active++;
      this.waiters.shift()!();
    }
  }

  /** Resolves with a release function once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.active < this.cap) {
      this.active++;
    } else {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      // The releaser handed its slot straight to us; `active` is unchanged.
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Over the bound (it was lowered): the slot goes away instead of to the next waiter.
      const next = this.active <= this.cap ? this.waiters.shift() : undefined;
      if (next) next();
      else this.active--;
    };
  }
}

/** Sleep that ends early (resolving) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Tasks running at once in one process when `[execution] max_parallel` is not set (the
 * spec's default): `run` caps its run with it, the daemon all its runs together. A
 * workflow's own `config.max_parallel` caps its run within that.
 */
export const DEFAULT_MAX_PARALLEL = 4;

/** The cap on one run's tasks: the workflow's max_parallel within the process-wide one. */
export function runCap(workflowMax: number, processMax: number | null | undefined): number {
  return Math.max(1, Math.min(workflowMax, processMax ?? DEFAULT_MAX_PARALLEL));
}
