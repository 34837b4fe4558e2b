// `picoflow workflow list`: every known workflow with its runs, success rate, last run and schedule.

import type { CAC } from "cac";
import { ConfigError, nearest } from "../errors.ts";
import type { WorkflowSummary } from "../store/queries.ts";
import { sqlTimeAgo } from "../store/time.ts";
import { isProcessAlive } from "../sys/proc.ts";
import { createContext, type GlobalOptions } from "./context.ts";
import { localTime, paint, statusColour, table } from "./format.ts";
import { answeredBeforeFirstRun, formatOption, percent, toJson, withHistory } from "./read.ts";

/** Without --all, a workflow is listed if a running daemon has it loaded, or it was loaded or run within this many days. */
export const ACTIVE_DAYS = 30;

const ACTIONS = ["list"] as const;

interface WorkflowOptions extends GlobalOptions {
  all?: boolean;
  format?: unknown;
}

export function registerWorkflow(cli: CAC): void {
  cli
    .command("workflow <action>", "Workflows PicoFlow knows of; action: list")
    .option("--all", `Include workflows neither loaded by a running daemon nor run in the last ${ACTIVE_DAYS} days`)
    .option("-o, --format <format>", "Output format: table, json (default: table)")
    .example("picoflow workflow list")
    .example("picoflow workflow list --all --format json")
    .action((action: unknown, opts: WorkflowOptions) => workflowCommand(String(action), opts));
}

function workflowCommand(action: string, opts: WorkflowOptions): void {
  if (action !== "list") {
    const near = nearest(action, ACTIONS);
    throw new ConfigError(`unknown workflow action '${action}' (${near ? `did you mean '${near}'?` : `known: ${ACTIONS.join(", ")}`})`);
  }
  const format = formatOption(opts.format);
  const ctx = createContext(opts);
  if (answeredBeforeFirstRun(ctx, format)) return;
  const activeSince = sqlTimeAgo(ACTIVE_DAYS * 86400_000);
  const list = withHistory(ctx, (h) => h.workflows({ all: Boolean(opts.all), activeSince, isAlive: isProcessAlive }));

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

function formatList(list: WorkflowSummary[], tty: boolean): string {
  const c = paint(tty);
  const rows = list.map((w) => [
    w.name,
    w.runs,
    percent(w.success_rate),
    localTime(w.last_run_at),
    w.last_status ? c(statusColour(w.last_status), w.last_status) : "-",
    w.schedule ?? "-",
  ]);
  return table(["WORKFLOW", { header: "RUNS", right: true }, { header: "RATE", right: true }, "LAST RUN", "STATUS", "SCHEDULE"], rows);
}
