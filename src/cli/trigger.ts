// `picoflow trigger WORKFLOW`: ask the running daemon, through its control socket, to start a
// run now (trigger "trigger"), under the daemon's overlap rule and shared slots. --wait follows
// the run's progress over the same connection and exits with the run's exit code, as `run` does.

import { resolve } from "node:path";
import { askDaemon, socketPathFor } from "../daemon/control.ts";
import { defaultPidFile } from "../daemon/pidfile.ts";
import { RunEvents, type RunEventMap } from "../engine/events.ts";
import type { RunSummary } from "../engine/runner.ts";
import { ConfigError, InterruptedError, PicoflowError } from "../errors.ts";
import { createContext, type CliContext, type GlobalOptions } from "./context.ts";
import { attachProgress, formatSummary } from "./progress.ts";
import { formatOption, textOption, toJson } from "./read.ts";
import { runFailure } from "./run.ts";

export interface TriggerOptions extends GlobalOptions {
  wait?: boolean;
  retry?: unknown;
  format?: unknown;
  pidFile?: unknown;
}

/** The control socket of the daemon a command means: beside --pid-file, else beside the database. */
export function controlSocket(ctx: CliContext, pidFile: unknown): string {
  if (pidFile !== undefined && (typeof pidFile !== "string" || pidFile === "")) throw new ConfigError("--pid-file: expects a path");
  return socketPathFor(resolve((pidFile as string | undefined) ?? defaultPidFile(ctx.settings.dbPath)));
}

export async function triggerCommand(workflow: string, opts: TriggerOptions): Promise<void> {
  const format = formatOption(opts.format);
  const retry = textOption(opts.retry, "--retry");
  const ctx = createContext(opts);
  const socket = controlSocket(ctx, opts.pidFile);
  const hint = `start the daemon with 'picoflow daemon start FILE...', or run the workflow once without it: 'picoflow run FILE'`;
  const wait = Boolean(opts.wait);
  const events = new RunEvents();
  if (wait && format === "table") attachProgress(events, ctx.out, ctx.tty);
  let started: { execution_id: string; workflow: string; trigger: string } | undefined;
  let summary: RunSummary | undefined;
  await askDaemon(
    socket,
    { op: "trigger", workflow, wait, ...(retry !== undefined ? { retry } : {}) },
    (a) => {
      if (!started) {
        started = { execution_id: String(a.execution_id), workflow: String(a.workflow), trigger: String(a.trigger) };
        if (typeof a.retry_of === "string") {
          Object.assign(started, { retry_of: a.retry_of, tasks_to_run: a.tasks_to_run, tasks_reused: a.tasks_reused });
          // As `picoflow retry` says it: the file changed since the run retried.
          if (ctx.log.enabled("warn")) for (const n of (a.notes as string[] | undefined) ?? []) process.stderr.write(`picoflow: warning: ${n}\n`);
        }
        if (!wait) return true;
        const e: RunEventMap["run:start"] = { runId: started.execution_id, workflow: started.workflow, file: "", totalTasks: Number(a.total_tasks ?? 0), trigger: retry ? "retry" : "trigger" };
        events.emit("run:start", e);
        return false;
      }
      const name = String(a.event) as keyof RunEventMap;
      if (name === "run:finish") {
        summary = a as unknown as RunSummary;
        return true;
      }
      if (name === "task:start" || name === "task:finish" || name === "task:retry") events.emit(name, a as never);
      return false;
    },
    hint,
  );
  if (!started) throw new PicoflowError(`the daemon on ${socket} closed the connection without an answer`, 1);
  if (!wait) {
    ctx.out(format === "json" ? toJson(started) : `Triggered ${started.workflow}: execution ${started.execution_id}${retryNote(started)}\n`);
    return;
  }
  if (!summary) {
    throw new PicoflowError(`lost the connection to the daemon before execution ${started.execution_id} ended; see 'picoflow status ${started.workflow}'`, 1);
  }
  if (format === "json") ctx.out(toJson(finishedJson(started, summary)));
  else ctx.out(formatSummary(summary, ctx.tty));
  if (summary.interrupted) throw new InterruptedError(`workflow '${summary.workflow}' interrupted by ${summary.interrupted}`);
  if (summary.status !== "success") throw runFailure(summary.workflow, summary);
}

/** " (retry of X: 2 tasks to run, 1 reused)" for a retry. */
function retryNote(started: Record<string, unknown>): string {
  if (typeof started.retry_of !== "string") return "";
  return ` (retry of ${started.retry_of}: ${started.tasks_to_run} task${started.tasks_to_run === 1 ? "" : "s"} to run, ${started.tasks_reused} reused)`;
}

/** The followed run as JSON, in the field names of the read commands' JSON. */
function finishedJson(started: { execution_id: string; workflow: string; trigger: string }, s: RunSummary) {
  return {
    ...started,
    status: s.status,
    interrupted: s.interrupted ?? null,
    duration_seconds: s.durationSeconds,
    tasks: s.tasks.map((t) => ({
      name: t.name,
      status: t.status,
      attempts: t.attempts,
      duration_seconds: t.durationSeconds,
      exit_code: t.exitCode,
      error: t.error ?? null,
      reason: t.reason ?? null,
      tolerated: t.tolerated,
    })),
  };
}
