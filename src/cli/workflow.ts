// `picoflow workflow list`: every known workflow with its runs, success rate, last run, schedule
// and pause. `picoflow workflow pause|resume NAME`: the pause is a row in the database
// (store/pauses.ts), so it works with the daemon stopped and survives its restart; the daemon
// reads it when a trigger comes due.

import { ConfigError, nearest } from "../errors.ts";
import { openDatabase } from "../store/db.ts";
import { pauseWorkflow, resumeWorkflow, type PauseChange } from "../store/pauses.ts";
import { openHistory, type History, type WorkflowSummary } from "../store/queries.ts";
import { sqlTimeAgo } from "../store/time.ts";
import { isProcessAlive } from "../sys/proc.ts";
import { createContext, type CliContext, type GlobalOptions } from "./context.ts";
import { localTime, paint, statusColour, table } from "./format.ts";
import { answeredBeforeFirstRun, formatOption, isoUtc, percent, requireWorkflow, toJson, withHistory, type OutputFormat } from "./read.ts";

import { ACTIVE_DAYS } from "./commands.ts";

const ACTIONS = ["list", "pause", "resume"] as const;

export interface WorkflowOptions extends GlobalOptions {
  all?: boolean;
  format?: unknown;
}

export function workflowCommand(action: string, name: unknown, opts: WorkflowOptions): void {
  if (!(ACTIONS as readonly string[]).includes(action)) {
    const near = nearest(action, ACTIONS);
    throw new ConfigError(`unknown workflow action '${action}' (${near ? `did you mean '${near}'?` : `known: ${ACTIONS.join(", ")}`})`);
  }
  if (action === "pause" || action === "resume") return pauseCommand(action, name, opts);
  if (name !== undefined) throw new ConfigError(`workflow list takes no workflow name (got '${String(name)}')`);
  const format = formatOption(opts.format);
  const ctx = createContext(opts);
  if (answeredBeforeFirstRun(ctx, format)) return;
  const list = withHistory(ctx, (h) => workflowList(h, Boolean(opts.all)));

  if (format === "json") {
    ctx.out(toJson(list));
    return;
  }
  if (!list.length) {
    ctx.out(opts.all ? "No workflows recorded yet.\n" : `No workflow loaded or run in the last ${ACTIVE_DAYS} days (--all lists every one).\n`);
    return;
  }
  ctx.out(formatList(list, ctx.tty));
}

/** The rows of `workflow list` (its --format json shape before toJson); the API's GET /api/v1/workflows too. */
export function workflowList(h: History, all: boolean): (WorkflowSummary & { paused: boolean })[] {
  const activeSince = sqlTimeAgo(ACTIVE_DAYS * 86400_000);
  return h.workflows({ all, activeSince, isAlive: isProcessAlive }).map((w) => ({ ...w, paused: w.paused_at !== null }));
}

function formatList(list: WorkflowSummary[], tty: boolean): string {
  const c = paint(tty);
  const rows = list.map((w) => [
    w.name,
    w.runs,
    percent(w.success_rate),
    localTime(w.last_run_at),
    w.last_status ? c(statusColour(w.last_status), w.last_status) : "-",
    w.schedule ?? "-",
    w.paused_at ? c("yellow", `since ${localTime(w.paused_at)}`) : "-",
  ]);
  return table(["WORKFLOW", { header: "RUNS", right: true }, { header: "RATE", right: true }, "LAST RUN", "STATUS", "SCHEDULE", "PAUSED"], rows);
}

/**
 * `workflow pause|resume NAME`. The name must be one the database knows (a run, or a daemon
 * loaded it): a typo would otherwise pause nothing, silently. A paused name the database no
 * longer knows otherwise (its runs deleted by retention) can still be resumed.
 */
function pauseCommand(action: "pause" | "resume", name: unknown, opts: WorkflowOptions): void {
  if (name === undefined || String(name) === "") throw new ConfigError(`workflow ${action} needs a workflow name: picoflow workflow ${action} NAME`);
  if (opts.all !== undefined) throw new ConfigError(`--all applies to 'workflow list' only`);
  const wf = String(name);
  const format = formatOption(opts.format);
  const ctx = createContext(opts);
  // No database yet: not found (exit 5), and none is created.
  answeredBeforeFirstRun(ctx, format, { workflow: wf });
  const change = setPause(ctx.settings.dbPath, action, wf);
  printPause(ctx, format, action, wf, change.pausedAt, change.changed);
}

/**
 * Pause or resume `wf` in the database at `dbPath` (the name checked as above; IoError when
 * unknown); the API's POST /api/v1/workflows/NAME/pause|resume too.
 */
export function setPause(dbPath: string, action: "pause" | "resume", wf: string): PauseChange {
  const h = openHistory(dbPath);
  try {
    if (!(action === "resume" && h.pausedAt(wf) !== null)) requireWorkflow(h, wf);
  } finally {
    h.close();
  }
  const db = openDatabase(dbPath);
  try {
    return action === "pause" ? pauseWorkflow(db, dbPath, wf) : resumeWorkflow(db, dbPath, wf);
  } finally {
    db.close();
  }
}

/** `workflow pause|resume --format json`. */
export function pauseJson(wf: string, change: PauseChange): Record<string, unknown> {
  return { workflow: wf, paused: change.pausedAt !== null, paused_at: isoUtc(change.pausedAt), changed: change.changed };
}

function printPause(ctx: CliContext, format: OutputFormat, action: "pause" | "resume", wf: string, pausedAt: string | null, changed: boolean): void {
  if (format === "json") {
    ctx.out(JSON.stringify(pauseJson(wf, { pausedAt, changed }), null, 2) + "\n");
    return;
  }
  if (action === "pause") {
    ctx.out(
      changed
        ? `Paused '${wf}': the daemon does not fire its scheduled runs until 'picoflow workflow resume ${wf}' ('picoflow trigger ${wf}' still runs it).\n`
        : `'${wf}' is already paused (since ${localTime(pausedAt)}).\n`,
    );
  } else {
    ctx.out(changed ? `Resumed '${wf}': its schedule fires again from its next time.\n` : `'${wf}' is not paused.\n`);
  }
}
