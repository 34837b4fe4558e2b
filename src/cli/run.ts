// `picoflow run FILE`: validate, then run the workflow once (or part of it: --only, --from),
// showing progress and a summary; `--dry-run` prints the plan instead. `retry` runs through here too.

import { RunEvents } from "../engine/events.ts";
import { runCap } from "../engine/limiter.ts";
import { OUTPUT_LIMIT, runWorkflow, type RunSummary, type TaskSummary } from "../engine/runner.ts";
import { selectionPlan, type RunPlan } from "../engine/plan.ts";
import type { Trigger } from "../store/types.ts";
import type { Workflow } from "../workflow/types.ts";
import { ConfigError, ExecutionError, InterruptedError, NetworkError, PicoflowError, TimeoutError } from "../errors.ts";
import { executors } from "../executors/index.ts";
import type { StopReason } from "../executors/types.ts";
import { openDatabase } from "../store/db.ts";
import { recoverOrphans, SqliteRecorder } from "../store/recorder.ts";
import { isProcessAlive, selfIdentity } from "../sys/proc.ts";
import { stopLeftovers } from "../sys/process.ts";
import { onSignals, RUN_STOP_SIGNALS } from "../sys/signals.ts";
import { loadWorkflow } from "../workflow/load.ts";
import { formatPlan } from "./dry-run.ts";
import { textOption } from "./read.ts";
import { Notifier } from "../notify/notifier.ts";
import type { Logger } from "../log.ts";
import { createContext, loadOptions, printLoadWarnings, type CliContext, type GlobalOptions } from "./context.ts";
import { capNote } from "./format.ts";
import { attachProgress, formatSummary } from "./progress.ts";
import { metricsPortOption, serveRunMetrics } from "./run-metrics.ts";

export interface RunOptions extends GlobalOptions {
  metricsPort?: unknown;
  only?: unknown;
  from?: unknown;
  dryRun?: boolean;
}

/** `--only a,b`: the names, trimmed; an empty name is a usage error. */
function onlyOption(value: unknown): string[] | undefined {
  const text = textOption(value, "--only");
  if (text === undefined) return undefined;
  const names = text.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) throw new ConfigError(`--only: '${text}' has an empty task name`);
  return [...new Set(names)];
}

export async function runCommand(file: string, opts: RunOptions): Promise<void> {
  const metricsPort = metricsPortOption(opts.metricsPort);
  const only = onlyOption(opts.only);
  const from = textOption(opts.from, "--from");
  const ctx = createContext(opts);
  // Validate before touching the database: a bad file never leaves a half-written run.
  const wf = loadWorkflow(file, loadOptions(ctx));
  // As `validate` shows them: FILE:LINE:COL: warning: ... (an unset ${VAR}, a program not
  // found); `--log-level error` silences them.
  if (ctx.log.enabled("warn")) printLoadWarnings(wf);
  const plan = only || from !== undefined ? selectionPlan(wf, { only, from }) : undefined;
  // Nothing runs and no database is opened (or created).
  if (opts.dryRun) {
    ctx.out(formatPlan(wf, plan, runCap(wf.maxParallel, ctx.settings.execution.maxParallel)));
    return;
  }
  await runLoaded(ctx, wf, { metricsPort, plan });
}

/**
 * Run a loaded workflow once in this process: the database, crash recovery, signals, progress,
 * notifications, the summary, and the run's exit code as an error. `retry` runs through here.
 */
export async function runLoaded(ctx: CliContext, wf: Workflow, extra: { metricsPort?: number; plan?: RunPlan; trigger?: Trigger }): Promise<void> {
  const { metricsPort, plan, trigger } = extra;
  const { settings, log } = ctx;
  const events = new RunEvents();
  // Metrics only when asked for with --metrics-port (see docs/inspecting.md); bound before the
  // database is touched, so a busy port fails the command before anything runs.
  const stopMetrics = metricsPort === undefined ? undefined : await serveRunMetrics(ctx, metricsPort, events);
  let db;
  try {
    db = openDatabase(settings.dbPath);
  } catch (err) {
    await stopMetrics?.();
    throw err;
  }
  // Notifications and healthcheck pings (docs/notifications.md): sent as the run goes, waited
  // for after its summary, before the process exits; the exit code stays the run's.
  const notifier = new Notifier({ db, log, settings: () => settings.notify });
  try {
    const closed = await recoverOrphans(db, settings.dbPath, isProcessAlive, stopLeftovers);
    if (closed.length) log.warn("closed runs whose process is gone", { executions: closed });
    const recorder = new SqliteRecorder(db, { pid: process.pid, identity: selfIdentity() }, settings.dbPath);

    const interrupt = new AbortController();
    const stopHandlers = new AbortController();
    // SIGHUP too: a closed terminal or SSH session must not leave the run half-recorded. And
    // SIGUSR1/SIGUSR2/SIGALRM, whose default would kill us silently: stopped and recorded alike.
    // The handlers (on_failure, on_exit) still run after the first signal, bounded by their
    // timeouts; a second signal stops them.
    const unsubscribe = onSignals(RUN_STOP_SIGNALS, (sig) => {
      if (interrupt.signal.aborted) {
        if (stopHandlers.signal.aborted || !wf.handlers?.length) return;
        log.warn("second signal received; stopping handlers", { signal: sig });
        stopHandlers.abort({ kind: "interrupt", signal: `${sig} (second signal)` } satisfies StopReason);
        return;
      }
      log.warn("signal received; stopping running tasks", { signal: sig });
      interrupt.abort({ kind: "interrupt", signal: sig } satisfies StopReason);
    });

    attachProgress(events, ctx.out, ctx.tty, capNote(wf.maxParallel, settings.execution.maxParallel));
    notifier.attach(wf, events);
    let summary;
    try {
      summary = await runWorkflow(wf, {
        executors,
        recorder,
        events,
        log,
        eventLog: showsProgressOnScreen(ctx) ? belowInfo(log) : log,
        signal: interrupt.signal,
        stopHandlers: stopHandlers.signal,
        env: ctx.env,
        // One rule with the daemon: [execution] max_parallel (default 4) caps the process.
        maxParallel: runCap(wf.maxParallel, settings.execution.maxParallel),
        backoff: { multiplier: settings.retry.backoffMultiplier, maxSeconds: settings.retry.maxBackoffSeconds },
        killGraceMs: settings.timeout.killGraceSeconds * 1000,
        outputLimit: OUTPUT_LIMIT,
        plan,
        trigger,
      });
    } finally {
      unsubscribe();
    }
    ctx.out(formatSummary(summary, ctx.tty));
    if (summary.interrupted) throw new InterruptedError(`workflow '${wf.name}' interrupted by ${summary.interrupted}`);
    if (summary.status !== "success") throw runFailure(wf.name, summary);
  } finally {
    await waitForDeliveries(notifier, log);
    db.close();
    await stopMetrics?.();
  }
}

/**
 * Wait for the run's notifications and pings, each bounded by [notify] timeout_seconds,
 * attempts and backoff_seconds. A stop signal now gives them up (their rows say so).
 */
async function waitForDeliveries(notifier: Notifier, log: Logger): Promise<void> {
  if (!notifier.busy) return;
  const off = onSignals(RUN_STOP_SIGNALS, (sig) => {
    log.warn("signal received; giving up notifications still being sent", { signal: sig });
    notifier.stop();
  });
  try {
    await notifier.settled();
  } finally {
    off();
  }
}

/**
 * The error a failed run exits with. Only the failures that decided the run count (failed
 * tasks that continue_on_failure did not tolerate): 7 when each was a connection failure
 * (ssh 255, HTTP connect/DNS/TLS), 8 when each was a timeout, otherwise 3.
 */
export function runFailure(workflow: string, summary: RunSummary): PicoflowError {
  const deciding = summary.tasks.filter((t) => (t.status === "failed" || t.status === "timeout") && !t.tolerated);
  const names = (list: TaskSummary[]) => `task${list.length === 1 ? "" : "s"} ${list.map((t) => `'${t.name}'`).join(", ")}`;
  if (deciding.length && deciding.every((t) => t.status === "failed" && t.network)) {
    return new NetworkError(`workflow '${workflow}' failed: ${names(deciding)} could not connect`);
  }
  if (deciding.length && deciding.every((t) => t.status === "timeout")) {
    return new TimeoutError(`workflow '${workflow}' failed: ${names(deciding)} timed out`);
  }
  return new ExecutionError(`workflow '${workflow}' failed${deciding.length ? `: ${names(deciding)} failed` : ""}`);
}

/** Progress (stdout) and log lines (stderr) both on the terminal: the same events would show twice. */
function showsProgressOnScreen(ctx: CliContext): boolean {
  return ctx.tty && Boolean(process.stderr.isTTY);
}

/**
 * The log for run events when the progress display already shows them on the same screen:
 * its info and warn lines become debug lines (`--log-level debug` still shows them).
 */
function belowInfo(log: Logger): Logger {
  return { ...log, info: log.debug, warn: log.debug };
}
