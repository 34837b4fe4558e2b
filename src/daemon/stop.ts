// Stopping the daemon: why it stops (a stop signal, or its database file deleted or replaced
// under it), the one stop request every part can see, and the drain of the runs still going:
// after a signal they get the shutdown grace period (a second signal ends it), and when the
// database is gone they are stopped at once.

import { DatabaseError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { SignalName } from "../sys/signals.ts";

/** Why the daemon stops: a signal, or its database file deleted or replaced under it. */
export type StopCause = { kind: "signal"; sig: SignalName } | { kind: "database"; problem: string };

/** What stopping needs of the runs going on (launch.ts). */
export interface Runs {
  readonly size: number;
  /** The names of the workflows running now. */
  names(): string[];
  /** Have the running workflows been told to stop? */
  readonly interrupted: boolean;
  /** Stop the running workflows now; `signal` is the reason their records give. Their handlers still run. */
  interrupt(signal: string): void;
  /** Stop the running workflows' handlers (on_failure, on_exit) too. */
  stopHandlers(signal: string): void;
  /** Resolves once every run going now has ended. */
  settled(): Promise<void>;
}

export class StopRequest {
  private asked = false;
  private resolve!: (cause: StopCause) => void;
  /** Resolves with the first stop asked for. */
  readonly stopped = new Promise<StopCause>((r) => (this.resolve = r));

  /** True once a stop was asked for: no more triggers, no more reloads. */
  get stopping(): boolean {
    return this.asked;
  }

  request(cause: StopCause): void {
    this.asked = true;
    this.resolve(cause);
  }

  /**
   * SIGINT/SIGTERM: the first stops gracefully, a second one stops the running workflows now
   * (their handlers still run, within the grace), a third one stops the handlers too.
   */
  onStopSignal(sig: SignalName, runs: Runs, log: Logger): void {
    if (this.asked) {
      if (!runs.interrupted && runs.size) {
        log.warn("second stop signal: stopping running workflows now", { signal: sig });
        runs.interrupt(`${sig} (second stop signal)`);
      } else if (runs.size) {
        log.warn("another stop signal: stopping handlers now", { signal: sig });
        runs.stopHandlers(`${sig} (another stop signal)`);
      }
      return;
    }
    this.request({ kind: "signal", sig });
  }
}

/**
 * After a stop signal: wait up to `graceSeconds` for the running workflows, then stop them.
 * True when any had to be stopped (exit 9).
 */
export async function drainRuns(sig: SignalName, graceSeconds: number, runs: Runs, log: Logger): Promise<boolean> {
  if (!runs.size) {
    log.info("stopping", { signal: sig });
    return false;
  }
  let killed = false;
  log.info("stopping: waiting for running workflows", { signal: sig, running: runs.names(), grace_seconds: graceSeconds });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = await Promise.race([
    runs.settled().then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceSeconds * 1000))),
  ]);
  clearTimeout(timer);
  if (expired && runs.size) {
    killed = true;
    log.warn("shutdown grace period over; stopping running workflows", { running: runs.names(), grace_seconds: graceSeconds });
    runs.interrupt(`${sig} (daemon stopping, ${graceSeconds}s grace expired)`);
  }
  // Handlers run within the grace only: once it is over, they are stopped as well.
  if (expired && runs.size) runs.stopHandlers(`${sig} (daemon stopping, ${graceSeconds}s grace expired)`);
  if (runs.interrupted) killed = true;
  await runs.settled();
  return killed;
}

/** The database file is gone: stop the running workflows at once, then fail (exit 6). */
export async function stopForLostDatabase(problem: string, runs: Runs, log: Logger): Promise<never> {
  // What the running runs record goes to a file nobody will read again, and the restarted
  // daemon would start the same workflows beside them: stop them now.
  if (runs.size) {
    log.warn("stopping running workflows: their records cannot be kept", { running: runs.names() });
    runs.stopHandlers("the database file was deleted or replaced");
    await runs.settled();
  }
  log.info("daemon stopped", { reason: "database file deleted or replaced" });
  throw new DatabaseError(`${problem}; stopped (a restart creates a new database there, or refuses a file that is not one)`);
}
