// The runner: a ready queue over the DAG, bounded by max_parallel, with retries, backoff,
// timeouts, continue_on_failure and fail_fast; then the handler phase (handlers.ts). It sees
// only the domain, the Executor interface and the RunRecorder interface; every attempt is
// recorded and its slot freed in `finally`.

import { PicoflowError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { maskSecrets, StreamMasker } from "../secrets.ts";
import type { ExecResult, Executor, OutputStream, StopReason } from "../executors/types.ts";
import type { RunRecorder, Trigger } from "../store/types.ts";
import { insertSorted } from "../workflow/dag.ts";
import type { Task, TaskType, Workflow } from "../workflow/types.ts";
import type { RunEvents } from "./events.ts";
import { configFor, endValues, handlersFor, runHandlers, startValues, type HandlerSummary } from "./handlers.ts";
import { Limiter, sleep } from "./limiter.ts";
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

/** Seconds to wait before attempt `failed + 1`: multiplier^(failed-1), capped. */
export function backoffSeconds(failedAttempt: number, multiplier: number, maxSeconds: number): number {
  return Math.min(maxSeconds, multiplier ** (failedAttempt - 1));
}

export const OUTPUT_LIMIT = 10 * 1024 * 1024;

/** Live output waiting to be written is flushed early once it reaches this size. */
const FLUSH_AT_BYTES = 256 * 1024;

export async function runWorkflow(wf: Workflow, opts: RunOptions): Promise<RunSummary> {
  const { recorder, events, log } = opts;
  const eventLog = opts.eventLog ?? log;
  const trigger = opts.trigger ?? "manual";
  const t0 = performance.now();
  const startedAt = new Date();
  const runId = recorder.startRun(wf, trigger);
  // Placeholders known from the start; handlers get the run's outcome as well.
  const values = startValues(wf, runId, trigger, startedAt);
  events?.emit("run:start", { runId, workflow: wf.name, file: wf.file, totalTasks: wf.tasks.length, trigger });
  eventLog.info("run started", { workflow: wf.name, execution_id: runId, tasks: wf.tasks.length, trigger });

  const n = wf.tasks.length;
  const index = new Map(wf.tasks.map((t, i) => [t.name, i]));
  const waiting = wf.tasks.map((t) => t.dependsOn.length);
  const dependants: number[][] = wf.tasks.map(() => []);
  wf.tasks.forEach((t, i) => t.dependsOn.forEach((d) => dependants[index.get(d)!]!.push(i)));
  const summaries: (TaskSummary | undefined)[] = new Array(n);
  const ready: number[] = [];
  waiting.forEach((w, i) => w === 0 && ready.push(i));

  // One controller stops every running attempt: interrupt, or a store that fails under us.
  const stopAll = new AbortController();
  const onInterrupt = () => stopAll.abort(opts.signal!.reason);
  opts.signal?.addEventListener("abort", onInterrupt, { once: true });
  if (opts.signal?.aborted) onInterrupt();
  let fatal: unknown;
  let firstFailure: string | undefined;

  // Live output is batched per attempt and written every outputFlushMs.
  const pendingOutput = new Map<string, { stream: OutputStream; text: string }[]>();
  let pendingBytes = 0;
  const flushOutput = () => {
    pendingBytes = 0;
    for (const [attemptId, parts] of pendingOutput) {
      pendingOutput.delete(attemptId);
      for (const p of mergeParts(parts)) {
        try {
          recorder.appendOutput(attemptId, p.stream, p.text);
        } catch (err) {
          fail(err);
        }
      }
    }
  };
  const flushTimer = setInterval(flushOutput, opts.outputFlushMs ?? 500);

  const fail = (err: unknown) => {
    fatal ??= err;
    if (!stopAll.signal.aborted) stopAll.abort({ kind: "interrupt", signal: "a database error" } satisfies StopReason);
  };

  /** One task to its end, retries included; `stop` stops it (the run's interrupt, or the handlers' stop). */
  const runTask = async (task: Task, stop: AbortSignal, vals: Record<string, string>): Promise<TaskSummary> => {
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
        const r = await runAttempt(task, executor, attempt, maxAttempts, stop, vals);
        total = round(total + r.seconds);
        last = r.result;
        retryDelay = r.retryDelay;
        ran++;
      } finally {
        release?.();
      }
      if (retryDelay === undefined || stop.aborted) break;
      events?.emit("task:retry", { runId, workflow: wf.name, task: task.name, handler: task.handler, nextAttempt: attempt + 1, maxAttempts, delaySeconds: retryDelay });
      eventLog.info("task will retry", { workflow: wf.name, task: task.name, attempt, delay_seconds: retryDelay, error: last.error });
      await sleep(retryDelay * 1000, stop);
      if (stop.aborted) break;
    }
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
  };

  /** A failure of its own that continue_on_failure lets the run go past (an interrupt is not one). */
  const isTolerated = (task: Task, status: string, interrupted: boolean) =>
    task.continueOnFailure && status !== "success" && status !== "skipped" && !interrupted;

  /**
   * One attempt, recorded. Returns the seconds to wait before the next attempt when one
   * follows: the attempt's row then reads `retrying` (with the time of the next attempt)
   * until that attempt starts.
   */
  const runAttempt = async (
    task: Task,
    executor: Executor<any>,
    attempt: number,
    maxAttempts: number,
    stopSignal: AbortSignal,
    vals: Record<string, string>,
  ): Promise<{ result: ExecResult; seconds: number; retryDelay?: number }> => {
    const attemptId = recorder.startAttempt(runId, task.name, attempt, task.handler);
    events?.emit("task:start", { runId, workflow: wf.name, task: task.name, handler: task.handler, attempt, maxAttempts });
    log.debug("task started", { workflow: wf.name, task: task.name, attempt });
    const ctl = new AbortController();
    const stop = () => ctl.abort(stopSignal.reason);
    stopSignal.addEventListener("abort", stop, { once: true });
    const timer =
      task.timeout > 0
        ? setTimeout(() => ctl.abort({ kind: "timeout", seconds: task.timeout } satisfies StopReason), task.timeout * 1000)
        : undefined;
    const start = performance.now();
    // Per stream, so a secret split across two output pieces is still masked.
    const maskers = { stdout: new StreamMasker(task.secrets), stderr: new StreamMasker(task.secrets) };
    let result: ExecResult;
    try {
      result = await executor.run(configFor(task, vals), {
        signal: ctl.signal,
        env: opts.env,
        runId,
        attemptId,
        killGraceMs: opts.killGraceMs,
        outputLimit: opts.outputLimit,
        log,
        onSpawn: (pid) => {
          try {
            recorder.attemptSpawned(attemptId, pid);
          } catch (err) {
            fail(err);
          }
        },
        onOutput: (stream, text) => {
          const safe = maskers[stream].push(text);
          if (!safe) return;
          let parts = pendingOutput.get(attemptId);
          if (!parts) pendingOutput.set(attemptId, (parts = []));
          parts.push({ stream, text: safe });
          // A fast producer must not pile up output between timer flushes: memory stays flat.
          pendingBytes += safe.length;
          if (pendingBytes >= FLUSH_AT_BYTES) flushOutput();
        },
      });
    } catch (err) {
      // An executor bug is this attempt's failure, not the end of the run.
      result = { status: "failed", exitCode: null, stdout: "", stderr: "", error: `internal error: ${(err as Error).message}` };
    } finally {
      clearTimeout(timer);
      stopSignal.removeEventListener("abort", stop);
    }
    // Milliseconds: what the summary shows and the database holds are the same number.
    const seconds = round((performance.now() - start) / 1000);
    result = maskResult(result, task.secrets);
    pendingOutput.delete(attemptId);
    if (result.permanent && result.status !== "success" && attempt < maxAttempts) {
      result = { ...result, error: `${result.error ?? "cannot start"} (not retried: retrying cannot help)` };
    }
    const final = result.status === "success" || attempt >= maxAttempts || stopSignal.aborted || result.permanent === true;
    const retryDelay = final ? undefined : backoffSeconds(attempt, opts.backoff.multiplier, opts.backoff.maxSeconds);
    const interrupted = stopSignal.aborted && (stopSignal.reason as StopReason).kind === "interrupt";
    try {
      recorder.finishAttempt(attemptId, result, seconds, {
        retryAt: retryDelay === undefined ? undefined : new Date(Date.now() + retryDelay * 1000),
        tolerated: final && isTolerated(task, result.status, interrupted),
      });
    } catch (err) {
      fail(err);
    }
    events?.emit("task:finish", { runId, workflow: wf.name, task: task.name, handler: task.handler, attempt, maxAttempts, result, durationSeconds: seconds, final });
    const level = result.status === "success" ? "debug" : "warn";
    eventLog[level]("task attempt finished", {
      workflow: wf.name,
      task: task.name,
      ...(task.handler ? { handler: task.handler } : {}),
      attempt,
      status: result.status,
      exit_code: result.exitCode,
      duration_seconds: seconds,
      error: result.error,
    });
    return { result, seconds, retryDelay };
  };

  /** A handler, like a task; once the store has failed, nothing more is run (it could not be recorded). */
  const runHandler = async (task: Task, stop: AbortSignal, vals: Record<string, string>): Promise<TaskSummary> => {
    const none = { name: task.name, attempts: 0, durationSeconds: 0, exitCode: null, tolerated: false };
    if (fatal !== undefined) return { ...none, status: "skipped", reason: "not started: the run could not be recorded" };
    try {
      return await runTask(task, stop, vals);
    } catch (err) {
      fail(err);
      return { ...none, status: "failed", error: String(err) };
    }
  };

  // The ready queue: start what is ready while slots are free; wake on every finish.
  let running = 0;
  let wake: (() => void) | undefined;
  let halted = false;
  // fail_fast (the default): a failure stops new starts. Without it only the failed task's
  // dependants are held back (they never become ready), and independent tasks go on.
  const failFast = wf.failFast !== false;
  const local = Math.max(1, opts.maxParallel);
  try {
    while (true) {
      while (!halted && !stopAll.signal.aborted && ready.length && running < local) {
        const i = ready.shift()!;
        running++;
        runTask(wf.tasks[i]!, stopAll.signal, values)
          .then(
            (s) => {
              summaries[i] = s;
              if (s.status === "success" || s.tolerated) {
                for (const d of dependants[i]!) if (--waiting[d]! === 0) insertSorted(ready, d);
              } else if (s.status !== "skipped") {
                if (failFast || s.interrupted) halted = true;
                if (!s.interrupted) firstFailure ??= wf.tasks[i]!.name;
              }
            },
            (err) => {
              fail(err);
              summaries[i] = { name: wf.tasks[i]!.name, status: "failed", attempts: 0, durationSeconds: 0, exitCode: null, error: String(err), tolerated: false };
            },
          )
          .finally(() => {
            running--;
            wake?.();
          });
      }
      if (running === 0) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } catch (err) {
    clearInterval(flushTimer);
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onInterrupt);
  }

  const interrupted = stopAll.signal.aborted ? (stopAll.signal.reason as StopReason) : undefined;
  const interruptedBy = interrupted?.kind === "interrupt" ? interrupted.signal : undefined;
  // Reasons for tasks that never started (skips.ts).
  const skipped = skipReasons(wf, summaries, interruptedBy, firstFailure);

  const tasks = summaries as TaskSummary[];
  const failedHard = tasks.some((s) => (s.status === "failed" || s.status === "timeout") && !s.tolerated);
  const status = failedHard || interruptedBy || skipped.length ? "failed" : "success";

  // The handlers: recorded in this run, their outcome never changes its status.
  let handlers: HandlerSummary[] = [];
  try {
    const list = fatal === undefined ? handlersFor(wf, status) : [];
    if (list.length) {
      const outcome = {
        status,
        durationSeconds: round((performance.now() - t0) / 1000),
        failedTasks: tasks.filter((s) => (s.status === "failed" || s.status === "timeout") && !s.tolerated).map((s) => s.name),
      } as const;
      const vals = endValues(values, outcome);
      // Their own stop: a second signal; the first one too when the DAG was not interrupted;
      // a store error (stopAll, unless it already stopped the DAG).
      const stopOn = [opts.stopHandlers, interruptedBy ? undefined : opts.signal, stopAll.signal.aborted ? undefined : stopAll.signal];
      handlers = await runHandlers(list, { wf, log, stopOn, runTask: (task, signal) => runHandler(task, signal, vals) });
    }
  } finally {
    clearInterval(flushTimer);
  }

  const summary: RunSummary = {
    runId,
    workflow: wf.name,
    status,
    // Recorded as it is (handlers included): the summary and `status` show the same duration.
    durationSeconds: round((performance.now() - t0) / 1000),
    tasks,
    handlers,
    interrupted: interruptedBy,
  };
  if (fatal === undefined) {
    try {
      recorder.finishRun(runId, {
        status,
        durationSeconds: summary.durationSeconds,
        successfulTasks: tasks.filter((s) => s.status === "success").length,
        failedTasks: tasks.filter((s) => s.status === "failed" || s.status === "timeout").length,
        error: interruptedBy ? `interrupted by ${interruptedBy}` : undefined,
        skipped,
      });
    } catch (err) {
      fatal = err;
    }
  }
  events?.emit("run:finish", summary);
  eventLog.info("run finished", { workflow: wf.name, execution_id: runId, status, duration_seconds: summary.durationSeconds });
  if (fatal !== undefined) throw fatal instanceof PicoflowError ? fatal : new PicoflowError(String(fatal), 6);
  return summary;

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

/** Join consecutive parts of the same stream, so one flush is one row per stream switch. */
function mergeParts(parts: { stream: OutputStream; text: string }[]): { stream: OutputStream; text: string }[] {
  const out: { stream: OutputStream; text: string }[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (last && last.stream === p.stream) last.text += p.text;
    else out.push({ ...p });
  }
  return out;
}

/** Seconds to the millisecond: no float noise (0.046, not 0.04608454599999999). */
const round = (s: number) => Math.round(s * 1000) / 1000;
