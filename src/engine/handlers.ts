// The handler phase of a run: after the DAG, the on_failure (run failed or interrupted) or
// on_success handlers, then on_exit, one at a time in the order written; and the run-time
// placeholder values and PICOFLOW_* environment tasks and handlers get. A handler's outcome
// never changes the run's status: it is recorded, logged and counted, nothing more.

import { hostname } from "node:os";
import type { Logger } from "../log.ts";
import { fillTree } from "../workflow/placeholders.ts";
import type { HandlerKind, Task, Workflow } from "../workflow/types.ts";
import type { TaskSummary } from "./runner.ts";

/** A handler's summary: a task summary with the list it comes from. */
export type HandlerSummary = TaskSummary & { handler: HandlerKind };

/** The values of the placeholders known when the run starts (any task may use them). */
export function startValues(wf: Workflow, runId: string, trigger: string, startedAt: Date): Record<string, string> {
  return {
    "workflow.name": wf.name,
    "run.id": runId,
    "run.trigger": trigger,
    "run.started_at": startedAt.toISOString(),
    "run.host": hostname(),
  };
}

/** How the DAG ended, for the handlers' placeholders and environment. */
export interface RunOutcome {
  status: "success" | "failed";
  durationSeconds: number;
  /** DAG tasks that failed or timed out (not tolerated), or were stopped by an interrupt. */
  failedTasks: string[];
}

export function endValues(start: Record<string, string>, o: RunOutcome): Record<string, string> {
  return {
    ...start,
    "run.status": o.status,
    "run.duration_seconds": String(o.durationSeconds),
    "run.failed_tasks": o.failedTasks.join(","),
  };
}

/**
 * The config a task runs with: placeholders filled in; for a shell or ssh handler, the
 * PICOFLOW_* variables added (env for shell; exported before the remote command for ssh,
 * which needs no AcceptEnv on the server).
 */
export function configFor(task: Task, values: Record<string, string>): Task["config"] {
  const config = task.placeholders ? fillTree(task.config, values) : task.config;
  if (!task.handler || task.type === "http") return config;
  const vars: Record<string, string> = {
    PICOFLOW_WORKFLOW: values["workflow.name"] ?? "",
    PICOFLOW_EXECUTION_ID: values["run.id"] ?? "",
    PICOFLOW_STATUS: values["run.status"] ?? "",
    PICOFLOW_FAILED_TASKS: values["run.failed_tasks"] ?? "",
  };
  if (task.type === "shell") {
    const c = config as Extract<Task, { type: "shell" }>["config"];
    // The handler's own env wins: it was written for this handler.
    return { ...c, env: { ...vars, ...c.env } };
  }
  const c = config as Extract<Task, { type: "ssh" }>["config"];
  const exports = Object.entries(vars).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  return { ...c, command: `export ${exports}\n${c.command}` };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The handlers that apply to a run that ended `status`, in the order they run. */
export function handlersFor(wf: Workflow, status: "success" | "failed"): Task[] {
  const first: HandlerKind = status === "success" ? "on_success" : "on_failure";
  const all = wf.handlers ?? [];
  return [...all.filter((h) => h.handler === first), ...all.filter((h) => h.handler === "on_exit")];
}

export interface HandlerPhase {
  wf: Workflow;
  /** Where a handler that failed is reported (a warning, also under `run`'s progress display). */
  log: Logger;
  /** Any of these stops the running handler and skips those after it (a second signal, the daemon's grace). */
  stopOn: (AbortSignal | undefined)[];
  /** Runs one task to its end, retries included, stopped by `signal`. */
  runTask: (task: Task, signal: AbortSignal) => Promise<TaskSummary>;
}

/** Run the handlers that apply, one after the other; a stop leaves the rest not started. */
export async function runHandlers(handlers: Task[], p: HandlerPhase): Promise<HandlerSummary[]> {
  const ctl = new AbortController();
  const listeners = p.stopOn.flatMap((src) => {
    if (!src) return [];
    const fn = () => !ctl.signal.aborted && ctl.abort(src.reason);
    if (src.aborted) fn();
    else src.addEventListener("abort", fn, { once: true });
    return [() => src.removeEventListener("abort", fn)];
  });
  try {
    return await runEach(handlers, p, ctl.signal);
  } finally {
    for (const off of listeners) off();
  }
}

async function runEach(handlers: Task[], p: HandlerPhase, stop: AbortSignal): Promise<HandlerSummary[]> {
  const out: HandlerSummary[] = [];
  for (const h of handlers) {
    const kind = h.handler!;
    if (stop.aborted) {
      out.push({ name: h.name, handler: kind, status: "skipped", attempts: 0, durationSeconds: 0, exitCode: null, reason: "not started: handlers stopped", tolerated: false });
      continue;
    }
    const s = { ...(await p.runTask(h, stop)), handler: kind };
    if (s.status === "skipped" && stop.aborted) s.reason = "not started: handlers stopped";
    if (s.status !== "success") {
      // Logged, shown in status, counted in metrics; the run's status stays as it was.
      const msg = s.status === "skipped" ? "handler not started" : "handler failed";
      p.log.warn(msg, { workflow: p.wf.name, handler: h.name, list: kind, status: s.status, error: s.error ?? s.reason });
    }
    out.push(s);
  }
  return out;
}
