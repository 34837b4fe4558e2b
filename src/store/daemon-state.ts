// The daemon's own rows: its state (for `daemon status`, read from another process) and the
// history row of a scheduled trigger skipped because the previous run was still going.

import type { Workflow } from "../workflow/types.ts";
import { databaseError, type Database } from "./db.ts";
import { taskNeeds, type Owner } from "./recorder.ts";
import { isoTime, sqlTime, sqlTimeOf } from "./time.ts";

/** One loaded workflow as the daemon reports it. */
export interface DaemonWorkflowState {
  name: string;
  file: string;
  schedule: string | null;
  timezone: string | null;
  /** ISO 8601; null when unscheduled or the expression never fires again. */
  nextRun: string | null;
  /** A run of it is in progress. */
  running: boolean;
  /** Why the file's current content is not what is scheduled (the last good version is). */
  error: string | null;
}

/** A workflow file that failed the daemon's last load (start or reload). */
export interface DaemonInvalidFile {
  file: string;
  /** One line per problem (FILE:LINE:COL: ...), values masked as `validate` masks them. */
  problems: string[];
  /** The workflow whose last good version of this file stays scheduled; null: not loaded at all. */
  workflow: string | null;
}

export interface DaemonState {
  pidFile: string;
  pid: number;
  identity: string;
  /** ISO 8601 here; the row stores it as every stored time is (store/time.ts). */
  startedAt: string;
  /** When the daemon wrote the row: at its last change of state (the column's name is older). */
  heartbeatAt: string;
  rssBytes: number | null;
  version: string;
  /** The commit the daemon's binary was built from ("source" when run from source); kept in the `workflows` column. */
  commit?: string;
  /** That commit's date (ISO 8601), null from source; kept in the `workflows` column. */
  commitDate?: string | null;
  /** Where /metrics is served, or null when metrics are off. */
  metricsUrl: string | null;
  workflows: DaemonWorkflowState[];
  invalidFiles?: DaemonInvalidFile[];
}

/**
 * The `workflows` column holds {"workflows": [...], "invalidFiles": [...], "commit": ...,
 * "commitDate": ...} (the commit there rather than in a new column: no schema change for it);
 * a daemon from before invalid files were reported wrote the workflows array alone.
 */
function encodeWorkflows(s: DaemonState): string {
  return JSON.stringify({ workflows: s.workflows, invalidFiles: s.invalidFiles ?? [], commit: s.commit, commitDate: s.commitDate });
}

export function decodeWorkflows(text: string): Pick<DaemonState, "workflows" | "invalidFiles" | "commit" | "commitDate"> {
  try {
    const v = JSON.parse(text);
    if (Array.isArray(v)) return { workflows: v, invalidFiles: [] };
    return {
      workflows: Array.isArray(v?.workflows) ? v.workflows : [],
      invalidFiles: Array.isArray(v?.invalidFiles) ? v.invalidFiles : [],
      // Absent when an older daemon wrote the row.
      ...(typeof v?.commit === "string" ? { commit: v.commit, commitDate: typeof v.commitDate === "string" ? v.commitDate : null } : {}),
    };
  } catch {
    return { workflows: [], invalidFiles: [] };
  }
}

interface Row {
  pid_file: string;
  pid: number;
  identity: string;
  started_at: string;
  heartbeat_at: string;
  rss_bytes: number | null;
  version: string | null;
  metrics_url: string | null;
  workflows: string;
}

/** Insert or refresh the state row of the daemon using `s.pidFile`. */
export function writeDaemonState(db: Database, path: string, s: DaemonState): void {
  try {
    db.query(
      `INSERT INTO daemon_state (pid_file, pid, identity, started_at, heartbeat_at, rss_bytes, version, metrics_url, workflows)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
       ON CONFLICT(pid_file) DO UPDATE SET pid = ?2, identity = ?3, started_at = ?4, heartbeat_at = ?5,
         rss_bytes = ?6, version = ?7, metrics_url = ?8, workflows = ?9`,
    ).run(s.pidFile, s.pid, s.identity, sqlTimeOf(s.startedAt), sqlTimeOf(s.heartbeatAt), s.rssBytes, s.version, s.metricsUrl, encodeWorkflows(s));
  } catch (err) {
    throw databaseError(path, err);
  }
}

/** Remove the row on a clean stop, only if it is still this daemon's. */
export function clearDaemonState(db: Database, path: string, pidFile: string, pid: number, identity: string): void {
  try {
    db.query(`DELETE FROM daemon_state WHERE pid_file = ? AND pid = ? AND identity = ?`).run(pidFile, pid, identity);
  } catch (err) {
    throw databaseError(path, err);
  }
}

/** The state row of the daemon using `pidFile`, or null. Works on a read-only connection. */
export function readDaemonState(db: Database, path: string, pidFile: string): DaemonState | null {
  let row: Row | null;
  try {
    const hasTable = db.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'daemon_state'`).get();
    if (!hasTable) return null;
    row = db.query(`SELECT * FROM daemon_state WHERE pid_file = ?`).get(pidFile) as Row | null;
  } catch (err) {
    throw databaseError(path, err);
  }
  if (!row) return null;
  return {
    pidFile: row.pid_file,
    pid: row.pid,
    identity: row.identity,
    startedAt: isoTime(row.started_at),
    heartbeatAt: isoTime(row.heartbeat_at),
    rssBytes: row.rss_bytes,
    version: row.version ?? "",
    metricsUrl: row.metrics_url,
    ...decodeWorkflows(row.workflows),
  };
}

/**
 * Record a scheduled trigger that was not run because a run of the same workflow was still
 * in progress: a finished `workflow_executions` row with status 'skipped', so `history`
 * shows the gap. Returns its id.
 */
export function recordSkippedRun(db: Database, path: string, wf: Workflow, owner: Owner, reason: string, scheduledFor?: Date): string {
  const id = crypto.randomUUID();
  const ts = sqlTime(new Date());
  try {
    db.query(
      `INSERT INTO workflow_executions (id, workflow_name, started_at, finished_at, status, duration_seconds, total_tasks,
         successful_tasks, failed_tasks, created_at, trigger, owner_pid, owner_identity, error_message, workflow_file, task_names, scheduled_for, task_needs)
       VALUES (?, ?, ?, ?, 'skipped', 0, ?, 0, 0, ?, 'schedule', ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id, wf.name, ts, ts, wf.tasks.length, ts, owner.pid, owner.identity, reason, wf.file, JSON.stringify(wf.tasks.map((t) => t.name)),
      // A skipped time is not missed: it is never caught up.
      scheduledFor ? sqlTime(scheduledFor) : null,
      // The DAG it would have run, as a run records it: the dashboard draws a skipped trigger too.
      taskNeeds(wf, wf.tasks.map((t) => t.name)),
    );
  } catch (err) {
    throw databaseError(path, err);
  }
  return id;
}
