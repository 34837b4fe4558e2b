// `picoflow status`: the latest run of each workflow, or one workflow's latest run task by task,
// including tasks that never started and why.

import { IoError } from "../errors.ts";
import type { DeliveryRow } from "../store/deliveries.ts";
import type { RunDetail } from "../store/queries.ts";
import { isProcessAlive } from "../sys/proc.ts";
import { createContext, type GlobalOptions } from "./context.ts";
import { elapsed, formatDuration, localTime, localTimesIn, outputWidth, paint, statusColour, table } from "./format.ts";
import { answeredBeforeFirstRun, clip, formatOption, requireWorkflow, resolveExecution, shortId, textOption, toJson, withHistory, workflowOption } from "./read.ts";

export interface StatusOptions extends GlobalOptions {
  workflow?: unknown;
  runningOnly?: boolean;
  executionId?: unknown;
  format?: unknown;
}

export function statusCommand(positional: unknown, opts: StatusOptions): void {
  const workflow = workflowOption(positional, opts.workflow);
  const executionId = textOption(opts.executionId, "--execution-id");
  const format = formatOption(opts.format);
  const ctx = createContext(opts);
  if (answeredBeforeFirstRun(ctx, format, { workflow, executionId })) return;
  const runningOnly = Boolean(opts.runningOnly);

  const runs = withHistory(ctx, (h) => {
    if (executionId !== undefined) {
      const e = resolveExecution(h, executionId);
      if (workflow !== undefined && e.workflow_name !== workflow) {
        requireWorkflow(h, workflow);
        throw new IoError(`execution ${e.id} is a run of '${e.workflow_name}', not of '${workflow}'`);
      }
      const d = h.runDetail(e.id);
      return d && (!runningOnly || isLive(d)) ? [d] : [];
    }
    if (workflow !== undefined) requireWorkflow(h, workflow);
    return h.latestRuns({ workflow, runningOnly });
  });

  // A run shown task by task shows its notifications and pings too (`deliveries`).
  const deliveries = (workflow !== undefined || executionId !== undefined) && runs.length ? withHistory(ctx, (h) => new Map(runs.map((r) => [r.id, h.deliveries(r.id)]))) : undefined;
  if (format === "json") {
    ctx.out(toJson(runs.map((r) => (deliveries ? { ...publicShape(r), deliveries: deliveries.get(r.id) ?? [] } : publicShape(r)))));
    return;
  }
  if (!runs.length) {
    const what = workflow !== undefined ? ` of '${workflow}'` : "";
    ctx.out(runningOnly ? `No run${what} is running.\n` : `No runs${what} recorded yet.\n`);
    return;
  }
  const detailed = workflow !== undefined || executionId !== undefined;
  ctx.out(detailed ? runs.map((r) => formatDetail(r, ctx.tty) + deliveryTable(deliveries?.get(r.id) ?? [], ctx.tty)).join("\n") : formatOverview(runs, ctx.tty));
}

function isLive(r: RunDetail): boolean {
  return r.status === "running" || r.status === "pending";
}

/** A run marked running whose owning process is gone (it will be closed by the next writer). */
function ownerGone(r: RunDetail): boolean {
  return isLive(r) && r.owner_pid !== null && !isProcessAlive(r.owner_pid, r.owner_identity);
}

/** A run as `status --format json` shows it (the API's GET /api/v1/executions/ID adds `deliveries` as status does). */
export function publicShape(r: RunDetail): Omit<RunDetail, "owner_identity"> {
  const { owner_identity: _, ...rest } = r;
  return rest;
}

/**
 * The run's error for its Status line: said once (a skipped trigger's reason is stored as
 * "skipped: ...", after a status that already says so), with its times in local time.
 */
function runReason(r: RunDetail): string {
  const msg = r.error_message ?? "";
  const own = `${r.status}: `;
  return localTimesIn(msg.startsWith(own) ? msg.slice(own.length) : msg);
}

function succeeded(r: RunDetail): number {
  return r.tasks.filter((t) => t.status === "success").length;
}

function formatOverview(runs: RunDetail[], tty: boolean): string {
  const c = paint(tty);
  const rows = runs.map((r) => [
    r.workflow_name,
    c(statusColour(r.status), r.status),
    localTime(r.started_at),
    formatDuration(isLive(r) ? elapsed(r.started_at) : r.duration_seconds),
    `${succeeded(r)}/${r.total_tasks}`,
    shortId(r.id),
  ]);
  let text = table(["WORKFLOW", "STATUS", "STARTED", { header: "DURATION", right: true }, { header: "TASKS", right: true }, "EXECUTION"], rows);
  for (const r of runs.filter(ownerGone)) {
    text += `\nNote: ${r.workflow_name} ${shortId(r.id)} is recorded as running, but its process (pid ${r.owner_pid}) is gone;\n` +
      `the next 'picoflow run' or daemon start records it as failed.\n`;
  }
  return text;
}

function formatDetail(r: RunDetail, tty: boolean): string {
  const c = paint(tty);
  const counts = new Map<string, number>();
  for (const t of r.tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const tally = [...counts].map(([s, n]) => `${n} ${s}`).join(", ");
  const live = isLive(r);
  let head = `Workflow   ${r.workflow_name}${r.workflow_file ? ` (${r.workflow_file})` : ""}\n`;
  head += `Execution  ${r.id} (${r.trigger}${r.owner_pid !== null ? `, pid ${r.owner_pid}` : ""})\n`;
  if (r.retry_of) head += `Retry of   ${r.retry_of}\n`;
  head += `Status     ${c(statusColour(r.status), r.status)}${r.error_message ? `: ${runReason(r)}` : ""}\n`;
  head += `Started    ${localTime(r.started_at)}\n`;
  if (live) head += `Running    for ${formatDuration(elapsed(r.started_at))}\n`;
  else head += `Finished   ${localTime(r.finished_at)} (${formatDuration(r.duration_seconds)})\n`;
  head += `Tasks      ${r.total_tasks} total${tally ? `: ${tally}` : ""}\n`;
  if (r.skipped_triggers > 0) {
    const since = r.status === "skipped" ? "after this one" : "since this run started";
    head += `Skipped    ${r.skipped_triggers} ${r.status === "skipped" ? "more " : ""}scheduled trigger${r.skipped_triggers === 1 ? "" : "s"} ${since} (overlap)\n`;
  }
  if (ownerGone(r)) {
    head += `Note       its process (pid ${r.owner_pid}) is gone; the next 'picoflow run' or daemon start records it as failed\n`;
  }
  const rows = r.tasks.map((t) => {
    let note = t.reason ?? t.error_message ?? "";
    if (t.http_status !== null) note = `HTTP ${t.http_status}${note ? `: ${note}` : ""}`;
    // Waiting in backoff: which attempt comes next and when, then why the last one failed.
    if (t.status === "retrying") note = `attempt ${t.next_attempt} at ${localTime(t.retry_at)}${note ? `; ${note}` : ""}`;
    // Not run again by this retry: the execution whose success it stands for.
    if (t.reused_from) note = `success of execution ${shortId(t.reused_from)}`;
    const duration = t.status === "running" && t.started_at ? elapsed(t.started_at) : t.duration_seconds;
    const status = t.tolerated ? `${t.status} (tolerated)` : t.status;
    return [t.task_name, status, String(t.attempts), formatDuration(duration), t.exit_code === null ? "-" : String(t.exit_code), localTimesIn(note)];
  });
  // The note gets what is left of the terminal's width (at least 20 characters); not cut when
  // stdout is not a terminal. The JSON has it whole.
  const headers = ["TASK", "STATUS", "ATTEMPTS", "DURATION", "EXIT"];
  const used = headers.reduce((sum, h, i) => sum + Math.max(h.length, ...rows.map((row) => row[i]!.length)) + 2, 0);
  const room = Math.max(20, outputWidth(tty) - used);
  r.tasks.forEach((t, i) => {
    const row = rows[i]!;
    row[1] = c(t.tolerated ? "yellow" : statusColour(t.status), row[1]!);
    row[5] = row[5] ? clip(row[5], room) : "";
  });
  return head + "\n" + table(["TASK", "STATUS", { header: "ATTEMPTS", right: true }, { header: "DURATION", right: true }, { header: "EXIT", right: true }, "NOTE"], rows) + handlerTable(r, c);
}

/** The handlers that ran, apart from the tasks: their outcome is not the run's. */
function handlerTable(r: RunDetail, c: ReturnType<typeof paint>): string {
  if (!r.handlers.length) return "";
  const rows = r.handlers.map((h) => {
    let note = h.reason ?? h.error_message ?? "";
    if (h.http_status !== null) note = `HTTP ${h.http_status}${note ? `: ${note}` : ""}`;
    if (h.status === "retrying") note = `attempt ${h.next_attempt} at ${localTime(h.retry_at)}${note ? `; ${note}` : ""}`;
    const duration = h.status === "running" && h.started_at ? elapsed(h.started_at) : h.duration_seconds;
    return [h.task_name, h.handler, c(statusColour(h.status), h.status), String(h.attempts), formatDuration(duration), h.exit_code === null ? "-" : String(h.exit_code), localTimesIn(note)];
  });
  return "\n" + table(["HANDLER", "LIST", "STATUS", { header: "ATTEMPTS", right: true }, { header: "DURATION", right: true }, { header: "EXIT", right: true }, "NOTE"], rows);
}

/** The run's notifications and healthcheck pings (targets as recorded: masked). */
function deliveryTable(list: DeliveryRow[], tty: boolean): string {
  if (!list.length) return "";
  const c = paint(tty);
  const rows = list.map((d) => {
    const note = [d.http_status !== null ? `HTTP ${d.http_status}` : "", d.error ?? ""].filter(Boolean).join(": ");
    return [d.kind, d.event, d.target, c(statusColour(d.result), d.result), String(d.attempts), localTime(d.finished_at ?? d.created_at), note];
  });
  return "\n" + table(["DELIVERY", "EVENT", "TARGET", "RESULT", { header: "ATTEMPTS", right: true }, "AT", "NOTE"], rows);
}
