// The runner: a ready queue over the DAG, bounded by max_parallel, with retries, backoff,
// timeouts, continue_on_failure and fail_fast; then the handler phase (handlers.ts). It sees
// only the domain, the Executor interface and the RunRecorder interface; every attempt is
// recorded and its slot freed in `finally`. This module holds a run's state and its phases
// (start, the DAG, the handlers, the end); one task's attempts are in attempts.ts, the DAG's
// bookkeeping in ready-queue.ts, live output in live-output.ts, skip reasons in skips.ts.

import { PicoflowError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Executor, StopReason } from "../executors/types.ts";
import type { RunRecorder, Trigger } from "../store/types.ts";
import type { Task, TaskType, Workflow } from "../workflow/types.ts";
import { round, TaskRunner } from "./attempts.ts";
import type { RunEvents } from "./events.ts";
import { endValues, handlersFor, runHandlers, startValues, type HandlerSummary } from "./handlers.ts";
import type { Limiter } from "./limiter.ts";
import { LiveOutput } from "./live-output.ts";
import { taskHashes, type RunPlan } from "./plan.ts";
import { ReadyQueue } from "./ready-queue.ts";
import { skipReasons } from "./skips.ts";

/** Loads an executor on first use, so a workflow without ssh tasks never loads ssh2. */
export type ExecutorRegistry = Record<TaskType, () => Promise<Executor<any>>>;

export interface RunOptions {
  executors: ExecutorRegistry;
  recorder: RunRecorder;
  events?: RunEvents;
  log: Logger;
  /**
   * Where the lines for run events go (run started, attempt finished, will retry, run
   * finished); `log` when unset. `run` in a terminal passes a quieter one: its progress
   * display shows the same events already.
   */
  eventLog?: Logger;
  trigger?: Trigger;
  /** The fire time a scheduled or catch-up run is for (stored as scheduled_for). */
  scheduledFor?: Date;
  /** Aborted with a StopReason of kind "interrupt" on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  /**
   * Stops the handlers (a second signal). Handlers run after an interrupted DAG too; when the
   * DAG was not interrupted, `signal` during the handlers stops them as well.
   */
  stopHandlers?: AbortSignal;
  /** Environment tasks inherit. */
  env: Record<string, string | undefined>;
  /** Cap on concurrent tasks in this run (the workflow's max_parallel, maybe lowered by config). */
  maxParallel: number;
  /** Slots shared with other runs (the daemon's global max_parallel). */
  sharedSlots?: Limiter;
  backoff: { multiplier: number; maxSeconds: number };
  killGraceMs: number;
  outputLimit: number;
  /** How often live output of running tasks is written for `logs --follow`. */
  outputFlushMs?: number;
  /** Part of the workflow (plan.ts): the tasks to start, and a retry's reused ones. Absent: all of it. */
  plan?: RunPlan;
}

export type FinalTaskStatus = "success" | "failed" | "timeout" | "skipped";

export interface TaskSummary {
  name: string;
  status: FinalTaskStatus;
  attempts: number;
  /** Seconds across all attempts, backoff excluded. */
  durationSeconds: number;
  exitCode: number | null;
  error?: string;
  /** Why a skipped task never started. */
  reason?: string;
  /** A failure tolerated by continue_on_failure. */
  tolerated: boolean;
  /** Its last attempt was stopped by the run's interrupt, not by a failure of its own. */
  interrupted?: boolean;
  /** Its last attempt failed to connect (see ExecResult.network). */
  network?: boolean;
  /** Not run again by a retry: the execution whose success it reuses (status is "success"). */
  reusedFrom?: string;
}

export interface RunSummary {
  runId: string;
  workflow: string;
  status: "success" | "failed";
  durationSeconds: number;
  tasks: TaskSummary[];
  /** The handlers that ran (or were stopped before they started), in order; absent: none. */
  handlers?: HandlerSummary[];
  /** Set when the run was stopped by a signal. */
  interrupted?: string;
}

export { backoffSeconds } from "./attempts.ts";

export const OUTPUT_LIMIT = 10 * 1024 * 1024;

export async function runWorkflow(wf: Workflow, opts: RunOptions): Promise<RunSummary> {
  return new Run(wf, opts).execute();
}

/** The workflow as the run sees it: only the tasks its plan starts or reuses. */
function partOf(wf: Workflow, plan: RunPlan | undefined): Workflow {
  if (!plan) return wf;
  return { ...wf, tasks: wf.tasks.filter((t) => plan.run.has(t.name) || plan.reused.has(t.name)) };
}

/** How the DAG ended, before the handlers. */
interface DagEnd {
  status: "success" | "failed";
  tasks: TaskSummary[];
  /** Tasks that never started, with why (skips.ts). */
  skipped: { task: string; reason: string }[];
  /** The signal that interrupted the DAG, in words. */
  interruptedBy?: string;
}

/** One run: recorded at its start, then the DAG through the ready queue, then the handlers, then its end. */
class Run {
  private readonly eventLog: Logger;
  private readonly t0: number;
  private readonly runId: string;
  /** Placeholders known from the start; handlers get the run's outcome as well. */
  private readonly values: Record<string, string>;
  private readonly summaries: (TaskSummary | undefined)[];
  private readonly queue: ReadyQueue;
  /** One controller stops every running attempt: interrupt, or a store that fails under us. */
  private readonly stopAll = new AbortController();
  /** The first store error; the run ends with it (exit 6). */
  private fatal: unknown;
  private firstFailure: string | undefined;
  private readonly output: LiveOutput;
  private readonly tasks: TaskRunner;

  // The ready queue's loop: tasks running now, the loop's wake-up on every finish, and
  // whether new starts stopped. fail_fast (the default): a failure stops new starts. Without
  // it only the failed task's dependants are held back (they never become ready), and
  // independent tasks go on.
  private running = 0;
  private wake: (() => void) | undefined;
  private halted = false;
  private readonly failFast: boolean;
  private readonly cap: number;
  private readonly wf: Workflow;

  /** Records the run's start (with a retry's reused tasks). */
  constructor(
    full: Workflow,
    private readonly opts: RunOptions,
  ) {
    const { recorder, events, log, plan } = opts;
    const wf = (this.wf = partOf(full, plan));
    this.eventLog = opts.eventLog ?? log;
    const trigger = opts.trigger ?? "manual";
    this.t0 = performance.now();
    const startedAt = new Date();
    const reused = wf.tasks.filter((t) => plan?.reused.has(t.name)).map((t) => ({ task: t.name, from: plan!.reused.get(t.name)! }));
    this.runId = recorder.startRun(full, trigger, {
      tasks: plan ? wf.tasks.map((t) => t.name) : undefined,
      retryOf: plan?.retryOf,
      reused,
      taskHashes: taskHashes(full),
      scheduledFor: opts.scheduledFor,
      // A write the recorder commits later (group commit) that fails is this run's store error.
      onError: (err) => this.fail(err),
    });
    this.values = startValues(wf, this.runId, trigger, startedAt);
    events?.emit("run:start", { runId: this.runId, workflow: wf.name, file: wf.file, totalTasks: wf.tasks.length, trigger });
    this.eventLog.info("run started", { workflow: wf.name, execution_id: this.runId, tasks: wf.tasks.length, trigger });

    this.summaries = new Array(wf.tasks.length);
    // A reused task stands for its earlier success: its dependants do not wait for it.
    for (const r of reused) {
      const i = wf.tasks.findIndex((t) => t.name === r.task);
      this.summaries[i] = { name: r.task, status: "success", attempts: 0, durationSeconds: 0, exitCode: null, tolerated: false, reusedFrom: r.from };
    }
    this.queue = new ReadyQueue(wf.tasks, (i) => !plan || plan.run.has(wf.tasks[i]!.name));
    this.failFast = wf.failFast !== false;
    this.cap = Math.max(1, opts.maxParallel);
    const fail = (err: unknown) => this.fail(err);
    this.output = new LiveOutput(recorder, fail, opts.outputFlushMs ?? 500);
    this.tasks = new TaskRunner({ runId: this.runId, workflow: wf.name, opts, eventLog: this.eventLog, output: this.output, fail, workflowEnv: wf.env });
  }

  async execute(): Promise<RunSummary> {
    let end: DagEnd;
    let handlers: HandlerSummary[];
    try {
      await this.runDag();
      end = this.dagEnd();
      handlers = await this.handlerPhase(end);
    } finally {
      this.output.stop();
    }
    return this.finish(end, handlers);
  }

  /** The store failed under us: stop everything; the run ends with the first error. */
  private fail(err: unknown): void {
    this.fatal ??= err;
    if (!this.stopAll.signal.aborted) this.stopAll.abort({ kind: "interrupt", signal: "a database error" } satisfies StopReason);
  }

  /** The ready queue: start what is ready while slots are free; wake on every finish. */
  private async runDag(): Promise<void> {
    const { signal } = this.opts;
    const onInterrupt = () => this.stopAll.abort(signal!.reason);
    signal?.addEventListener("abort", onInterrupt, { once: true });
    if (signal?.aborted) onInterrupt();
    try {
      while (true) {
        this.startReady();
        if (this.running === 0) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      signal?.removeEventListener("abort", onInterrupt);
    }
  }

  private startReady(): void {
    while (!this.halted && !this.stopAll.signal.aborted && !this.queue.isEmpty && this.running < this.cap) {
      const i = this.queue.take();
      this.running++;
      this.tasks
        .run(this.wf.tasks[i]!, this.stopAll.signal, this.values)
        .then(
          (s) => this.settle(i, s),
          (err) => {
            this.fail(err);
            this.summaries[i] = { name: this.wf.tasks[i]!.name, status: "failed", attempts: 0, durationSeconds: 0, exitCode: null, error: String(err), tolerated: false };
          },
        )
        .finally(() => {
          this.running--;
          this.wake?.();
        });
    }
  }

  /** A task ended: its dependants may become ready, or its failure stops new starts (fail_fast). */
  private settle(i: number, s: TaskSummary): void {
    this.summaries[i] = s;
    if (s.status === "success" || s.tolerated) {
      this.queue.release(i);
    } else if (s.status !== "skipped") {
      if (this.failFast || s.interrupted) this.halted = true;
      if (!s.interrupted) this.firstFailure ??= this.wf.tasks[i]!.name;
    }
  }

  private dagEnd(): DagEnd {
    const interrupted = this.stopAll.signal.aborted ? (this.stopAll.signal.reason as StopReason) : undefined;
    const interruptedBy = interrupted?.kind === "interrupt" ? interrupted.signal : undefined;
    // Reasons for tasks that never started (skips.ts).
    const skipped = skipReasons(this.wf, this.summaries, interruptedBy, this.firstFailure);
    const tasks = this.summaries as TaskSummary[];
    const failedHard = tasks.some((s) => (s.status === "failed" || s.status === "timeout") && !s.tolerated);
    const status = failedHard || interruptedBy || skipped.length ? "failed" : "success";
    return { status, tasks, skipped, interruptedBy };
  }

  /** The handlers: recorded in this run, their outcome never changes its status. */
  private async handlerPhase(end: DagEnd): Promise<HandlerSummary[]> {
    const { opts } = this;
    const list = this.fatal === undefined ? handlersFor(this.wf, end.status) : [];
    if (!list.length) return [];
    const outcome = {
      status: end.status,
      durationSeconds: round((performance.now() - this.t0) / 1000),
      failedTasks: end.tasks.filter((s) => (s.status === "failed" || s.status === "timeout") && !s.tolerated).map((s) => s.name),
    } as const;
    const vals = endValues(this.values, outcome);
    // Their own stop: a second signal; the first one too when the DAG was not interrupted;
    // a store error (stopAll, unless it already stopped the DAG).
    const stopOn = [opts.stopHandlers, end.interruptedBy ? undefined : opts.signal, this.stopAll.signal.aborted ? undefined : this.stopAll.signal];
    return runHandlers(list, { wf: this.wf, log: opts.log, stopOn, runTask: (task, signal) => this.runHandler(task, signal, vals) });
  }

  /** A handler, like a task; once the store has failed, nothing more is run (it could not be recorded). */
  private async runHandler(task: Task, stop: AbortSignal, vals: Record<string, string>): Promise<TaskSummary> {
    const none = { name: task.name, attempts: 0, durationSeconds: 0, exitCode: null, tolerated: false };
    if (this.fatal !== undefined) return { ...none, status: "skipped", reason: "not started: the run could not be recorded" };
    try {
      return await this.tasks.run(task, stop, vals);
    } catch (err) {
      this.fail(err);
      return { ...none, status: "failed", error: String(err) };
    }
  }

  /** The run's row, its run:finish event and log line; a store error ends it as a DatabaseError (exit 6). */
  private finish(end: DagEnd, handlers: HandlerSummary[]): RunSummary {
    const { status, tasks, skipped, interruptedBy } = end;
    const summary: RunSummary = {
      runId: this.runId,
      workflow: this.wf.name,
      status,
      // Recorded as it is (handlers included): the summary and `status` show the same duration.
      durationSeconds: round((performance.now() - this.t0) / 1000),
      tasks,
      handlers,
      interrupted: interruptedBy,
    };
    if (this.fatal === undefined) {
      try {
        this.opts.recorder.finishRun(this.runId, {
          status,
          durationSeconds: summary.durationSeconds,
          successfulTasks: tasks.filter((s) => s.status === "success").length,
          failedTasks: tasks.filter((s) => s.status === "failed" || s.status === "timeout").length,
          error: interruptedBy ? `interrupted by ${interruptedBy}` : undefined,
          skipped,
        });
      } catch (err) {
        this.fatal = err;
      }
    }
    this.opts.events?.emit("run:finish", summary);
    this.eventLog.info("run finished", { workflow: this.wf.name, execution_id: this.runId, status, duration_seconds: summary.durationSeconds });
    if (this.fatal !== undefined) throw this.fatal instanceof PicoflowError ? this.fatal : new PicoflowError(String(this.fatal), 6);
    return summary;
  }
}
