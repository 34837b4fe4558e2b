// `picoflow stats`: runs, success rate and durations per workflow and per task over a period.

import type { TaskStats, WorkflowStats } from "../store/queries.ts";
import { sqlTimeAgo } from "../store/time.ts";
import { createContext, type GlobalOptions } from "./context.ts";
import { formatDuration, localTime, table } from "./format.ts";
import { answeredBeforeFirstRun, formatOption, intOption, percent, requireWorkflow, toJson, withHistory, workflowOption } from "./read.ts";

export interface StatsOptions extends GlobalOptions {
  workflow?: unknown;
  period?: unknown;
  format?: unknown;
}

export function statsCommand(positional: unknown, opts: StatsOptions): void {
  const workflow = workflowOption(positional, opts.workflow);
  const period = intOption(opts.period, "--period", 30, 1, 36500);
  const format = formatOption(opts.format);
  const ctx = createContext(opts);
  if (answeredBeforeFirstRun(ctx, format, { workflow })) return;
  const since = sqlTimeAgo(period * 86400_000);

  const stats = withHistory(ctx, (h) => {
    if (workflow !== undefined) requireWorkflow(h, workflow);
    return h.stats({ since, workflow });
  });

  if (format === "json") {
    ctx.out(toJson(stats.workflows.map((w) => ({ ...w, tasks: stats.tasks.filter((t) => t.workflow_name === w.workflow_name) }))));
    return;
  }
  let text = `Runs started in the last ${period} day${period === 1 ? "" : "s"} (since ${localTime(since)})\n\n`;
  if (!stats.workflows.length) {
    ctx.out(text + "No runs in this period.\n");
    return;
  }
  text += formatWorkflows(stats.workflows);
  for (const w of stats.workflows) {
    const tasks = stats.tasks.filter((t) => t.workflow_name === w.workflow_name);
    if (tasks.length) text += `\n${w.workflow_name}: tasks\n` + formatTasks(tasks);
  }
  ctx.out(text);
}

const num = (header: string) => ({ header, right: true });

function formatWorkflows(list: WorkflowStats[]): string {
  const rows = list.map((w) => [
    w.workflow_name,
    w.runs,
    w.success,
    w.failed,
    percent(w.success_rate),
    formatDuration(w.avg_duration),
    formatDuration(w.min_duration),
    formatDuration(w.max_duration),
    w.skipped,
  ]);
  const columns = ["WORKFLOW", num("RUNS"), num("OK"), num("FAILED"), num("RATE"), num("AVG"), num("MIN"), num("MAX"), num("SKIPPED")];
  // Skipped (overlapping) triggers only happen under the daemon: no column unless there are some.
  if (!list.some((w) => w.skipped > 0)) {
    columns.pop();
    rows.forEach((r) => r.pop());
  }
  return table(columns, rows);
}

function formatTasks(list: TaskStats[]): string {
  const rows = list.map((t) => [
    `  ${t.task_name}`,
    t.runs,
    percent(t.success_rate),
    t.attempts,
    t.timeouts,
    formatDuration(t.avg_duration),
    formatDuration(t.min_duration),
    formatDuration(t.max_duration),
  ]);
  return table(["  TASK", num("RUNS"), num("RATE"), num("ATTEMPTS"), num("TIMEOUTS"), num("AVG"), num("MIN"), num("MAX")], rows);
}
