// What a notification says: a one-line summary of the run, the `json` document and the `ntfy`
// request, and the bodies of healthcheck pings. Everything taken from the run is masked with
// the workflow's secret set. The exact shapes are documented in docs/notifications.md.

import { hostname } from "node:os";
import type { RunSummary, TaskSummary } from "../engine/runner.ts";
import { maskSecrets } from "../secrets.ts";
import type { NotifyFormat } from "../workflow/types.ts";

/** What a payload is made of: the run's summary and what the database says about it. */
export interface RunReport {
  summary: RunSummary;
  trigger: string;
  /** ISO 8601 UTC. */
  startedAt: string;
  finishedAt: string;
  /** The previous finished run failed: a success is a recovery. */
  previousFailed: boolean;
  secrets: readonly string[];
}

export interface FailedTask {
  name: string;
  status: string;
  exit_code: number | null;
  error: string | null;
}

export interface HttpRequest {
  headers: Record<string, string>;
  body: string;
}

/** A task's error is cut to this many characters in a payload (the database has it whole). */
const MAX_ERROR_CHARS = 300;
/** The summary line names at most this many failed tasks. */
const MAX_NAMED_TASKS = 5;

/** This machine's name, as the payloads show it. */
export const host = (): string => hostname();

/** The tasks that made the run fail: failed or timed out, not tolerated by continue_on_failure. */
export function failedTasks(summary: RunSummary, secrets: readonly string[]): FailedTask[] {
  return summary.tasks.filter(decidedFailure).map((t) => ({
    name: t.name,
    status: t.status,
    exit_code: t.exitCode,
    error: t.error ? cut(maskSecrets(oneLine(t.error), secrets), MAX_ERROR_CHARS) : null,
  }));
}

function decidedFailure(t: TaskSummary): boolean {
  return (t.status === "failed" || t.status === "timeout") && !t.tolerated;
}

/**
 * One line: "backup failed on pi4 after 12.3s: dump (exit 1), upload (timeout)",
 * "backup was interrupted by SIGTERM on pi4 after 3.0s", "backup succeeded on pi4 in 12.3s",
 * "backup succeeded on pi4 in 12.3s (recovered: the previous run failed)".
 */
export function summaryLine(r: RunReport): string {
  const s = r.summary;
  const took = duration(s.durationSeconds);
  if (s.status === "success") return `${s.workflow} succeeded on ${host()} in ${took}${r.previousFailed ? " (recovered: the previous run failed)" : ""}`;
  const failed = failedTasks(s, r.secrets);
  const named = failed.slice(0, MAX_NAMED_TASKS).map((t) => `${t.name} (${t.status === "timeout" ? "timeout" : t.exit_code !== null ? `exit ${t.exit_code}` : "failed"})`);
  if (failed.length > MAX_NAMED_TASKS) named.push(`and ${failed.length - MAX_NAMED_TASKS} more`);
  const what = s.interrupted ? `was interrupted by ${s.interrupted}` : "failed";
  return `${s.workflow} ${what} on ${host()} after ${took}${named.length && !s.interrupted ? `: ${named.join(", ")}` : ""}`;
}

/** The request for one notification in `format`. */
export function notification(format: NotifyFormat, r: RunReport): HttpRequest {
  const text = summaryLine(r);
  if (format === "ntfy") return ntfyRequest(r, text);
  const s = r.summary;
  const doc = {
    text,
    content: text,
    workflow: s.workflow,
    execution_id: s.runId,
    status: s.status,
    trigger: r.trigger,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    duration_seconds: Math.round(s.durationSeconds * 1000) / 1000,
    host: host(),
    failed_tasks: failedTasks(s, r.secrets),
  };
  return { headers: { "content-type": "application/json" }, body: JSON.stringify(doc) };
}

/** ntfy: the summary as the message, Title, Priority (high for failures) and Tags (emoji) headers. */
function ntfyRequest(r: RunReport, text: string): HttpRequest {
  const s = r.summary;
  const ok = s.status === "success";
  const title = ok ? (r.previousFailed ? `${s.workflow} recovered` : `${s.workflow} succeeded`) : s.interrupted ? `${s.workflow} interrupted` : `${s.workflow} failed`;
  return {
    headers: {
      "content-type": "text/plain; charset=utf-8",
      title,
      priority: ok ? "default" : "high",
      tags: ok ? "white_check_mark,picoflow" : "rotating_light,picoflow",
    },
    body: text,
  };
}

/** The body of the `URL/start` ping. */
export function startLine(workflow: string, runId: string, trigger: string): string {
  return `${workflow} started on ${host()} (execution ${runId}, ${trigger})`;
}

/** "12.3s", "4m 12s", "2h 5m". */
export function duration(seconds: number): string {
  if (seconds < 60) return `${(Math.round(seconds * 10) / 10).toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, " ").trim();
}

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
