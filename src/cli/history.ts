// `picoflow history`: past runs, newest first, filtered by workflow, status and date.

import { ConfigError } from "../errors.ts";
import type { ExecutionRow } from "../store/queries.ts";
import { isProcessAlive } from "../sys/proc.ts";
import { createContext, type GlobalOptions } from "./context.ts";
import { elapsed, formatDuration, localTime, paint, statusColour, table } from "./format.ts";
import { answeredBeforeFirstRun, dateOption, formatOption, intOption, requireWorkflow, shortId, textOption, toJson, withHistory, workflowOption } from "./read.ts";
import { RUN_STATUSES } from "./commands.ts";

export interface HistoryOptions extends GlobalOptions {
  workflow?: unknown;
  status?: unknown;
  limit?: unknown;
  since?: unknown;
  format?: unknown;
}

export function historyCommand(positional: unknown, opts: HistoryOptions): void {
  const workflow = workflowOption(positional, opts.workflow);
  const status = textOption(opts.status, "--status")?.toLowerCase();
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new ConfigError(`--status: '${status}' is not one of ${RUN_STATUSES.join(", ")}`);
  }
  const limit = intOption(opts.limit, "--limit", 10, 0, 1_000_000_000);
  const since = dateOption(opts.since, "--since");
  const format = formatOption(opts.format);
  const ctx = createContext(opts);
  if (answeredBeforeFirstRun(ctx, format, { workflow })) return;

  let gone = new Set<string>();
  const runs = withHistory(ctx, (h) => {
    if (workflow !== undefined) requireWorkflow(h, workflow);
    const found = h.history({ workflow, status, limit, since });
    // Runs recorded as running whose process is gone (kill -9): pointed out, as status does.
    const live = found.filter(isLive).map((r) => r.id);
    if (live.length) {
      const owners = h.owners(live);
      gone = new Set(live.filter((id) => {
        const o = owners.get(id);
        return o !== undefined && o.pid !== null && !isProcessAlive(o.pid, o.identity);
      }));
    }
    return found;
  });

  if (format === "json") {
    ctx.out(toJson(runs));
    return;
  }
  if (!runs.length) {
    ctx.out("No runs match.\n");
    return;
  }
  let text = formatHistory(runs, ctx.tty);
  for (const r of runs.filter((x) => gone.has(x.id))) {
    text += `\nNote: ${r.workflow_name} ${shortId(r.id)} is recorded as running, but its process (pid ${r.owner_pid}) is gone;\n` +
      `the next 'picoflow run' or daemon start records it as failed.\n`;
  }
  ctx.out(text);
}

function isLive(r: ExecutionRow): boolean {
  return r.status === "running" || r.status === "pending";
}

function formatHistory(runs: ExecutionRow[], tty: boolean): string {
  const c = paint(tty);
  const rows = runs.map((r) => {
    const live = isLive(r);
    return [
      localTime(r.started_at),
      shortId(r.id),
      c(statusColour(r.status), r.status),
      formatDuration(live ? elapsed(r.started_at) : r.duration_seconds),
      r.status === "skipped" ? "-" : `${live ? "-" : (r.successful_tasks ?? 0)}/${r.total_tasks}`,
      r.workflow_name,
    ];
  });
  return table(["STARTED", "EXECUTION", "STATUS", { header: "DURATION", right: true }, { header: "TASKS", right: true }, "WORKFLOW"], rows);
}
