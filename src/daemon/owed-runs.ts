// Runs the daemon could not finish recording because the database refused a write (a full
// disk): it owes their rows an end. They are closed as failed, with the reason, as soon as
// the database accepts writes again, so no row of a live daemon says "running" for a run
// that has ended. Nothing is written while nothing is owed: the retry timer exists only while
// something is (an idle daemon must not wake up to write, which wears SD cards).

import { messageOf } from "../errors.ts";
import type { Logger } from "../log.ts";

interface Owed {
  error: string;
  endedAt: Date;
  durationSeconds: number;
}

/** Closes one run; false if it was already closed; throws while the database refuses writes. */
export type CloseRun = (runId: string, reason: string, endedAt: Date, durationSeconds: number) => boolean;

export interface RetryOptions {
  /** Time between attempts to close what is owed (read when retrying starts). */
  everyMs: () => number;
  /** False while nothing may be written (the database file is gone): that attempt is skipped. */
  mayWrite: () => boolean;
}

export class OwedRuns {
  private readonly owed = new Map<string, Owed>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly close: CloseRun,
    private readonly log: Logger,
    private readonly retry: RetryOptions,
  ) {}

  get size(): number {
    return this.owed.size;
  }

  /** Run `runId` ended at `endedAt` but its recording failed with `err`. */
  add(runId: string, err: unknown, endedAt: Date, durationSeconds: number): void {
    this.owed.set(runId, { error: messageOf(err), endedAt, durationSeconds });
    this.timer ??= setInterval(() => {
      if (this.retry.mayWrite()) this.settle();
    }, this.retry.everyMs());
  }

  /** Stop retrying (the daemon stops; what is still owed is left to the next start's recovery). */
  dispose(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Close what is owed; what the database still refuses stays owed for the next call. */
  settle(): void {
    if (!this.owed.size) return;
    const closed: string[] = [];
    for (const [runId, o] of this.owed) {
      const reason = `recording failed: ${o.error}; closed after the database accepted writes again`;
      let done: boolean;
      try {
        done = this.close(runId, reason, o.endedAt, o.durationSeconds);
      } catch (err) {
        this.log.debug("owed runs not closed yet: the database still refuses writes", { owed: this.owed.size, error: messageOf(err) });
        break;
      }
      this.owed.delete(runId);
      if (done) closed.push(runId);
    }
    if (closed.length) this.log.warn("closed runs whose recording had failed", { executions: closed });
    if (!this.owed.size) this.dispose();
  }
}
