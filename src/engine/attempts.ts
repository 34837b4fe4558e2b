// One task of a run (or a handler) to its end: its attempts, each in a shared slot when the
// daemon bounds all runs, the backoff between them, each attempt's timeout, its output masked
// (live output batched by live-output.ts), and every attempt recorded, its slot freed in
// `finally`. A store error while an attempt runs goes to the run (`fail`), which stops it.

import type { Logger } from "../log.ts";
import { maskSecrets, StreamMasker } from "../secrets.ts";
import type { ExecContext, ExecResult, Executor, StopReason } from "../executors/types.ts";
import type { Task } from "../workflow/types.ts";
import { configFor } from "./handlers.ts";
import { sleep } from "./limiter.ts";
import type { LiveOutput } from "./live-output.ts";
import type { FinalTaskStatus, RunOptions, TaskSummary } from "./runner.ts";

/** Seconds to wait before attempt `failed + 1`: multiplier^(failed-1), capped. */
export function backoffSeconds(failedAttempt: number, multiplier: number, maxSeconds: number): number {
  return Math.min(maxSeconds, multiplier ** (failedAttempt - 1));
}

/** What the tasks of one run share. */
export interface TaskRunContext {
  runId: string;
  workflow: string;
  opts: RunOptions;
  eventLog: Logger;
  output: LiveOutput;
  /** The store failed under the run: stop it (the run keeps the first error). */
  fail: (err: unknown) => void;
  /** The workflow's env_file and env (Workflow.env): shell tasks get it over the process environment. */
  workflowEnv?: Readonly<Record<string, string>>;
}

interface AttemptEnd {
  result: ExecResult;
  seconds: number;
  /** Seconds to wait before the next attempt; absent: this attempt was the last. */
  retryDelay?: number;
}

export class TaskRunner {
  /** What shell tasks inherit: the process environment with the workflow's over it, merged once per run. */
  private shellEnv: Record<string, string | undefined> | undefined;

  constructor(private readonly c: TaskRunContext) {}

  /** One task to its end, retries included; `stop` stops it (the run's interrupt, or the handlers' stop). */
  async run(task: Task, stop: AbortSignal, vals: Record<string, string>): Promise<TaskSummary> {
    const { opts, runId, workflow } = this.c;
    let executor: Executor<any>;
    try {
      executor = await opts.executors[task.type]();
    } catch (err) {
      // A module that cannot load fails this task's attempts like any other failure.
      const error = `cannot load the ${task.type} executor: ${(err as Error).message}`;
      executor = { run: async () => ({ status: "failed", exitCode: null, stdout: "", stderr: "", error }) };
    }
    const maxAttempts = task.retry + 1;
    let total = 0;
    let last: ExecResult | undefined;
    let attempt = 0;
    let ran = 0;
    let retryDelay: number | undefined;
    while (attempt < maxAttempts) {
      attempt++;
      const release = opts.sharedSlots ? await opts.sharedSlots.acquire() : undefined;
      try {
        if (stop.aborted) break;
        const r = await this.attempt(task, executor, attempt, maxAttempts, stop, vals);
        total = round(total + r.seconds);
        last = r.result;
        retryDelay = r.retryDelay;
        ran++;
      } finally {
        release?.();
      }
      if (retryDelay === undefined || stop.aborted) break;
      opts.events?.emit("task:retry", { runId, workflow, task: task.name, handler: task.handler, nextAttempt: attempt + 1, maxAttempts, delaySeconds: retryDelay });
      this.c.eventLog.info("task will retry", { workflow, task: task.name, attempt, delay_seconds: retryDelay, error: last.error });
      await sleep(retryDelay * 1000, stop);
      if (stop.aborted) break;
    }
    return summaryOf(task, last, ran, total, stop);
  }

  /**
   * One attempt, recorded. Returns the seconds to wait before the next attempt when one
   * follows: the attempt's row then reads `retrying` (with the time of the next attempt)
   * until that attempt starts.
   */
  private async attempt(
    task: Task,
    executor: Executor<any>,
    attempt: number,
    maxAttempts: number,
    stopSignal: AbortSignal,
    vals: Record<string, string>,
  ): Promise<AttemptEnd> {
    const { opts, runId, workflow } = this.c;
    const attemptId = opts.recorder.startAttempt(runId, task.name, attempt, task.handler);
    opts.events?.emit("task:start", { runId, workflow, task: task.name, handler: task.handler, attempt, maxAttempts });
    if (opts.log.enabled("debug")) opts.log.debug("task started", { workflow, task: task.name, attempt });
    const ctl = new AbortController();
    const unlink = stopOn(ctl, stopSignal, task.timeout);
    const start = performance.now();
    let result: ExecResult;
    try {
      result = await executor.run(configFor(task, vals), this.execContext(task, attemptId, attempt, ctl.signal));
    } catch (err) {
      // An executor bug is this attempt's failure, not the end of the run.
      result = { status: "failed", exitCode: null, stdout: "", stderr: "", error: `internal error: ${(err as Error).message}` };
    } finally {
      unlink();
    }
    // Milliseconds: what the summary shows and the database holds are the same number.
    const seconds = round((performance.now() - start) / 1000);
    result = maskResult(result, task.secrets);
    this.c.output.discard(attemptId);
    if (result.permanent && result.status !== "success" && attempt < maxAttempts) {
      result = { ...result, error: `${result.error ?? "cannot start"} (not retried: retrying cannot help)` };
    }
    const final = result.status === "success" || attempt >= maxAttempts || stopSignal.aborted || result.permanent === true;
    const retryDelay = final ? undefined : backoffSeconds(attempt, opts.backoff.multiplier, opts.backoff.maxSeconds);
    const interrupted = stopSignal.aborted && (stopSignal.reason as StopReason).kind === "interrupt";
    const end = { result, seconds, retryDelay };
    this.recordEnd(task, attemptId, attempt, maxAttempts, end, final && isTolerated(task, result.status, interrupted));
    return end;
  }

  /** What the executor gets: the attempt's stop signal, its pid and output reported back. */
  private execContext(task: Task, attemptId: string, attempt: number, signal: AbortSignal): ExecContext {
    const { opts, runId } = this.c;
    // Per stream, so a secret split across two output pieces is still masked; none to mask: no maskers.
    const maskers = task.secrets.length ? { stdout: new StreamMasker(task.secrets), stderr: new StreamMasker(task.secrets) } : undefined;
    const output = this.c.output;
    return {
      signal,
      // ssh and http tasks get none of it exported (docs/workflows.md); ${VAR} works in them all.
      env: task.type === "shell" && this.c.workflowEnv ? (this.shellEnv ??= { ...opts.env, ...this.c.workflowEnv }) : opts.env,
      runId,
      attemptId,
      killGraceMs: opts.killGraceMs,
      outputLimit: opts.outputLimit,
      log: opts.log,
      task: task.name,
      attempt,
      mask: (text) => maskSecrets(text, task.secrets),
      onSpawn: (pid, identity) => {
        try {
          opts.recorder.attemptSpawned(attemptId, pid, identity);
        } catch (err) {
          this.c.fail(err);
        }
      },
      onOutput: (stream, text) => {
        const safe = maskers ? maskers[stream].push(text) : text;
        if (safe) output.add(attemptId, stream, safe);
      },
    };
  }

  /** The attempt's row, its task:finish event and its log line. */
  private recordEnd(task: Task, attemptId: string, attempt: number, maxAttempts: number, end: AttemptEnd, tolerated: boolean): void {
    const { opts, runId, workflow } = this.c;
    const { result, seconds, retryDelay } = end;
    try {
      opts.recorder.finishAttempt(attemptId, result, seconds, {
        retryAt: retryDelay === undefined ? undefined : new Date(Date.now() + retryDelay * 1000),
        tolerated,
      });
    } catch (err) {
      this.c.fail(err);
    }
    const final = retryDelay === undefined;
    opts.events?.emit("task:finish", { runId, workflow, task: task.name, handler: task.handler, attempt, maxAttempts, result, durationSeconds: seconds, final });
    const level = result.status === "success" ? "debug" : "warn";
    // The line is built only when it is printed: a success is a debug line, off by default.
    if (!this.c.eventLog.enabled(level)) return;
    this.c.eventLog[level]("task attempt finished", {
      workflow,
      task: task.name,
      ...(task.handler ? { handler: task.handler } : {}),
      attempt,
      status: result.status,
      exit_code: result.exitCode,
      duration_seconds: seconds,
      error: result.error,
    });
  }
}

/**
 * Aborts `ctl` when `stopSignal` does (with its reason) or after `timeout` seconds (0: none).
 * Returns the cleanup for when the attempt has ended.
 */
function stopOn(ctl: AbortController, stopSignal: AbortSignal, timeout: number): () => void {
  const stop = () => ctl.abort(stopSignal.reason);
  stopSignal.addEventListener("abort", stop, { once: true });
  const timer =
    timeout > 0 ? setTimeout(() => ctl.abort({ kind: "timeout", seconds: timeout } satisfies StopReason), timeout * 1000) : undefined;
  return () => {
    clearTimeout(timer);
    stopSignal.removeEventListener("abort", stop);
  };
}

/** The task's summary from its last attempt; none ran: it was stopped before it started. */
function summaryOf(task: Task, last: ExecResult | undefined, ran: number, total: number, stop: AbortSignal): TaskSummary {
  const status: FinalTaskStatus = last ? (last.status === "success" ? "success" : last.status) : "skipped";
  const interrupted = status !== "success" && status !== "skipped" && (stop.reason as StopReason | undefined)?.kind === "interrupt";
  return {
    name: task.name,
    status,
    attempts: ran,
    durationSeconds: total,
    exitCode: last?.exitCode ?? null,
    error: last?.error,
    reason: last ? undefined : "not started: run interrupted",
    tolerated: isTolerated(task, status, interrupted),
    interrupted,
    network: last?.network === true,
  };
}

/** A failure of its own that continue_on_failure lets the run go past (an interrupt is not one). */
function isTolerated(task: Task, status: string, interrupted: boolean): boolean {
  return task.continueOnFailure && status !== "success" && status !== "skipped" && !interrupted;
}

function maskResult(r: ExecResult, secrets: string[]): ExecResult {
  if (!secrets.length) return r;
  return {
    ...r,
    stdout: maskSecrets(r.stdout, secrets),
    stderr: maskSecrets(r.stderr, secrets),
    error: r.error === undefined ? undefined : maskSecrets(r.error, secrets),
  };
}

/** Seconds to the millisecond: no float noise (0.046, not 0.04608454599999999). */
export const round = (s: number) => Math.round(s * 1000) / 1000;
