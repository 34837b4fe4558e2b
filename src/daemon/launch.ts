// Launching scheduled runs: one at a time per workflow (a trigger that finds the previous run
// still going is skipped, and recorded as skipped), the tasks of all runs bounded by one set of
// shared slots, every run recorded. A run whose recording failed (a full disk) is owed an end
// (owed-runs.ts). Nothing starts into a database file that is gone or replaced.

import { RunEvents } from "../engine/events.ts";
import { DEFAULT_MAX_PARALLEL, Limiter } from "../engine/limiter.ts";
import type { RunPlan } from "../engine/plan.ts";
import { OUTPUT_LIMIT, runWorkflow } from "../engine/runner.ts";
import type { Settings } from "../config.ts";
import { messageOf } from "../errors.ts";
import { executors } from "../executors/index.ts";
import type { StopReason } from "../executors/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { Notifier } from "../notify/notifier.ts";
import { recordSkippedRun } from "../store/daemon-state.ts";
import { pausedSince, pausedWorkflows } from "../store/pauses.ts";
import { isoTime } from "../store/time.ts";
import type { Owner, SqliteRecorder } from "../store/recorder.ts";
import type { Trigger } from "../store/types.ts";
import type { LaunchOutcome } from "./control.ts";
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

/**
 * Whether each of `names` is paused, for the metric (read at a scrape, one query). A failed
 * read gives no series rather than a wrong one.
 */
export function pauseStates(names: string[], db: DaemonDatabase, log: Logger): [string, boolean][] {
  if (db.lost !== null) return [];
  try {
    const paused = pausedWorkflows(db.db);
    return names.map((n) => [n, paused.has(n)]);
  } catch (err) {
    log.warn("cannot read paused workflows for metrics", { error: messageOf(err) });
    return [];
  }
}

export interface Running {
  runId?: string;
  startedAt: Date;
  done: Promise<void>;
  /** Tasks with an attempt going now (live `daemon status`). */
  tasks?: Set<string>;
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
  /** Workflows last seen paused at a trigger: the pause and the resume are logged once each. */
  private readonly pausedSeen = new Set<string>();

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
    if (this.paused(wf, due)) return;
    this.o.owed.settle();
    const current = this.running.get(wf.name);
    if (current) this.skip(wf, due, current);
    else this.start(wf, due);
  }

  /**
   * Fire times missed while the daemon was not running (schedule-loop.ts): one run each, in
   * order, one at a time, with trigger "catchup" and the time stored as scheduled_for. A run
   * of the workflow that is going is waited for, not skipped: these times are owed. Nothing
   * more starts once the daemon stops, or while the workflow is paused.
   */
  async catchUp(wf: Workflow, times: readonly Date[], stopping: () => boolean): Promise<void> {
    for (const t of times) {
      for (let cur = this.running.get(wf.name); cur; cur = this.running.get(wf.name)) await cur.done;
      if (stopping() || this.interrupted || !this.o.db.intact() || this.paused(wf, t)) return;
      this.o.owed.settle();
      this.start(wf, t, "catchup");
      await this.running.get(wf.name)?.done;
    }
  }

  /**
   * `picoflow trigger`: start a run of `wf` now, trigger "trigger", in the shared slots. Paused
   * or not. One that is running already is not skipped-and-recorded, but refused: the caller
   * is told which run holds it. `attach` sees the run's events from run:start on. With a
   * retry's plan (`trigger --retry`, engine/retry.ts): trigger "retry", only the planned tasks.
   */
  triggerNow(wf: Workflow, attach: (events: RunEvents) => void, retry?: RunPlan): LaunchOutcome {
    if (!this.o.db.intact()) return { started: false, refused: `the daemon's database is gone or replaced: ${this.o.db.lost}`, code: 6 };
    this.o.owed.settle();
    const current = this.running.get(wf.name);
    if (current) return { started: false, running: current };
    this.start(wf, new Date(), retry ? "retry" : "trigger", attach, retry);
    return { started: true };
  }

  /**
   * Is `wf`'s schedule paused (`workflow pause`)? Read from the database at each trigger, one
   * primary-key lookup, so a pause made while the daemon runs counts from its next trigger.
   * A paused trigger is not fired and nothing is recorded. Should the read fail, the trigger
   * fires: a schedule is not lost to a database hiccup (its recording would report the problem).
   */
  private paused(wf: Workflow, due: Date): boolean {
    const { log } = this.o;
    let since: string | null;
    try {
      since = pausedSince(this.o.db.db, wf.name);
    } catch (err) {
      log.error("cannot read whether the workflow is paused; firing its trigger", { workflow: wf.name, error: messageOf(err) });
      return false;
    }
    const fields = { workflow: wf.name, scheduled_for: due.toISOString() };
    if (since === null) {
      if (this.pausedSeen.delete(wf.name)) log.info("schedule resumed: triggers fire again", fields);
      return false;
    }
    if (this.pausedSeen.has(wf.name)) log.debug("trigger not fired: schedule paused", fields);
    else {
      this.pausedSeen.add(wf.name);
      log.info("schedule paused: triggers are not fired until 'picoflow workflow resume'", { ...fields, paused_at: isoTime(since) });
    }
    return true;
  }

  private skip(wf: Workflow, due: Date, current: Running): void {
    const { db, log } = this.o;
    const reason = `skipped: previous run ${current.runId ?? "(starting)"} started ${current.startedAt.toISOString()} was still running`;
    log.warn("trigger skipped: previous run still running", { workflow: wf.name, scheduled_for: due.toISOString(), execution_id: current.runId });
    this.o.metrics?.skippedRun(wf.name);
    try {
      recordSkippedRun(db.db, db.path, wf, this.o.owner, reason, due);
    } catch (err) {
      log.error("cannot record skipped trigger", { workflow: wf.name, error: messageOf(err) });
    }
    this.o.changed(); // its next run moved on
  }

  private start(wf: Workflow, due: Date, trigger: Trigger = "schedule", attach?: (events: RunEvents) => void, plan?: RunPlan): void {
    const { log } = this.o;
    if (trigger === "trigger" || trigger === "retry") log.info("trigger", { workflow: wf.name, trigger, retry_of: plan?.retryOf });
    else log.info("trigger", { workflow: wf.name, scheduled_for: due.toISOString(), ...(trigger === "catchup" ? { trigger } : {}) });
    const events = new RunEvents();
    attach?.(events);
    this.o.metrics?.observe(events);
    this.notifier.attach(wf, events);
    const run: Running = { startedAt: new Date(), done: Promise.resolve(), tasks: new Set() };
    events.on("run:start", (ev) => (run.runId = ev.runId));
    events.on("task:start", (ev) => run.tasks!.add(ev.task));
    events.on("task:finish", (ev) => run.tasks!.delete(ev.task));
    this.running.set(wf.name, run);
    this.o.changed();
    const settings = this.o.settings();
    run.done = runWorkflow(wf, {
      executors,
      recorder: this.o.recorder,
      events,
      log,
      trigger,
      plan,
      // The fire time, so that a missed time is caught up once (schedule and catch-up runs).
      scheduledFor: trigger === "schedule" || trigger === "catchup" ? due : undefined,
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
