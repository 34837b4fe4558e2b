// Launching scheduled runs: one at a time per workflow (a trigger that finds the previous run
// still going is skipped, and recorded as skipped), the tasks of all runs bounded by one set of
// shared slots, every run recorded. A run whose recording failed (a full disk) is owed an end
// (owed-runs.ts). Nothing starts into a database file that is gone or replaced.

import { RunEvents } from "../engine/events.ts";
import { DEFAULT_MAX_PARALLEL, Limiter } from "../engine/limiter.ts";
import { OUTPUT_LIMIT, runWorkflow } from "../engine/runner.ts";
import type { Settings } from "../config.ts";
import { messageOf } from "../errors.ts";
import { executors } from "../executors/index.ts";
import type { StopReason } from "../executors/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { Notifier } from "../notify/notifier.ts";
import { recordSkippedRun } from "../store/daemon-state.ts";
import type { Owner, SqliteRecorder } from "../store/recorder.ts";
import type { Workflow } from "../workflow/types.ts";
import type { DaemonDatabase } from "./db-guard.ts";
import type { OwedRuns } from "./owed-runs.ts";
import type { Runs } from "./stop.ts";

/** The daemon's global max_parallel when [execution] max_parallel is not set: the same default as `run`'s. */
export const DEFAULT_DAEMON_MAX_PARALLEL = DEFAULT_MAX_PARALLEL;

/** The shared slots' size under these settings. */
export function maxParallelOf(settings: Settings): number {
  return settings.execution.maxParallel ?? DEFAULT_DAEMON_MAX_PARALLEL;
}

export interface Running {
  runId?: string;
  startedAt: Date;
  done: Promise<void>;
}

export interface LaunchOptions {
  db: DaemonDatabase;
  owner: Owner;
  recorder: SqliteRecorder;
  owed: OwedRuns;
  log: Logger;
  metrics: Metrics | undefined;
  env: Record<string, string | undefined>;
  /** The settings in use (a reload changes them): runs that start later use the new values. */
  settings: () => Settings;
  /** What `daemon status` shows changed: a run started or ended, a trigger was skipped. */
  changed: () => void;
}

export class Launcher implements Runs {
  /** The runs going now, by workflow name. */
  readonly running = new Map<string, Running>();
  private readonly stopRuns = new AbortController();
  /** Stops the handlers of the running workflows (grace over, or a third stop signal). */
  private readonly stopHandlerRuns = new AbortController();
  private readonly slots: Limiter;
  private cap: number;
  /** Notifications and pings of the runs: sent on the side, never holding up a run or a trigger. */
  private readonly notifier: Notifier;

  constructor(private readonly o: LaunchOptions) {
    this.cap = maxParallelOf(o.settings());
    this.slots = new Limiter(this.cap);
    this.notifier = new Notifier({
      db: o.db.db,
      mayWrite: () => o.db.lost === null,
      log: o.log,
      settings: () => o.settings().notify,
      delivered: (result) => o.metrics?.delivered(result),
    });
  }

  /** The shared slots' size: the most tasks running at once across all runs. */
  get maxParallel(): number {
    return this.cap;
  }

  /** Changed by a reload: runs that start later use the new value, the shared slots are resized. */
  setMaxParallel(cap: number): void {
    if (cap === this.cap) return;
    this.cap = cap;
    this.slots.resize(cap);
  }

  /** A trigger of `wf` came due: start a run, or skip it while the previous one still runs. */
  trigger(wf: Workflow, due: Date): void {
    // Never start a run into a database file that is gone or replaced.
    if (!this.o.db.intact()) return;
    this.o.owed.settle();
    const current = this.running.get(wf.name);
    if (current) this.skip(wf, due, current);
    else this.start(wf, due);
  }

  private skip(wf: Workflow, due: Date, current: Running): void {
    const { db, log } = this.o;
    const reason = `skipped: previous run ${current.runId ?? "(starting)"} started ${current.startedAt.toISOString()} was still running`;
    log.warn("trigger skipped: previous run still running", { workflow: wf.name, scheduled_for: due.toISOString(), execution_id: current.runId });
    this.o.metrics?.skippedRun(wf.name);
    try {
      recordSkippedRun(db.db, db.path, wf, this.o.owner, reason);
    } catch (err) {
      log.error("cannot record skipped trigger", { workflow: wf.name, error: messageOf(err) });
    }
    this.o.changed(); // its next run moved on
  }

  private start(wf: Workflow, due: Date): void {
    const { log } = this.o;
    log.info("trigger", { workflow: wf.name, scheduled_for: due.toISOString() });
    const events = new RunEvents();
    this.o.metrics?.observe(events);
    this.notifier.attach(wf, events);
    const run: Running = { startedAt: new Date(), done: Promise.resolve() };
    events.on("run:start", (ev) => (run.runId = ev.runId));
    this.running.set(wf.name, run);
    this.o.changed();
    const settings = this.o.settings();
    run.done = runWorkflow(wf, {
      executors,
      recorder: this.o.recorder,
      events,
      log,
      trigger: "schedule",
      signal: this.stopRuns.signal,
      stopHandlers: this.stopHandlerRuns.signal,
      env: this.o.env,
      maxParallel: Math.min(wf.maxParallel, this.cap),
      sharedSlots: this.slots,
      backoff: { multiplier: settings.retry.backoffMultiplier, maxSeconds: settings.retry.maxBackoffSeconds },
      killGraceMs: settings.timeout.killGraceSeconds * 1000,
      outputLimit: OUTPUT_LIMIT,
    })
      .then(
        () => {},
        (err) => this.recordingFailed(wf, run, err),
      )
      .finally(() => {
        this.running.delete(wf.name);
        this.o.changed();
      });
  }

  private recordingFailed(wf: Workflow, run: Running, err: unknown): void {
    this.o.log.error("scheduled run could not be recorded", { workflow: wf.name, execution_id: run.runId, error: messageOf(err) });
    // Its rows say "running" (or show unfinished attempts): owed an end once writes work.
    if (run.runId && this.o.db.lost === null) this.o.owed.add(run.runId, err, new Date(), (Date.now() - run.startedAt.getTime()) / 1000);
  }

  get size(): number {
    return this.running.size;
  }

  names(): string[] {
    return [...this.running.keys()];
  }

  get interrupted(): boolean {
    return this.stopRuns.signal.aborted;
  }

  interrupt(signal: string): void {
    this.stopRuns.abort({ kind: "interrupt", signal } satisfies StopReason);
  }

  stopHandlers(signal: string): void {
    if (!this.stopRuns.signal.aborted) this.interrupt(signal);
    if (!this.stopHandlerRuns.signal.aborted) this.stopHandlerRuns.abort({ kind: "interrupt", signal } satisfies StopReason);
  }

  async settled(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /**
   * At stop, after the runs: wait for the notifications and pings still being sent, up to
   * `seconds` (the rest of the shutdown grace, but at least one attempt's timeout, so that a
   * run stopped at the end of the grace is still reported), then give them up.
   */
  async drainDeliveries(seconds: number): Promise<void> {
    if (!this.notifier.busy) return;
    const wait = Math.max(seconds, this.o.settings().notify.timeoutSeconds);
    this.o.log.info("stopping: waiting for notifications being sent", { wait_seconds: Math.round(wait * 10) / 10 });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.notifier.settled(), new Promise((r) => (timer = setTimeout(r, wait * 1000)))]);
    clearTimeout(timer);
    if (this.notifier.busy) {
      this.o.log.warn("giving up notifications still being sent");
      this.stopDeliveries();
    }
    await this.notifier.settled();
  }

  /** Give up the notifications and pings still being sent (a second stop signal). */
  stopDeliveries(): void {
    this.notifier.stop();
  }
}
