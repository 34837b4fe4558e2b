// The daemon's own rows: its state (for `daemon status`, read from another process) and the
// history row of a scheduled trigger skipped because the previous run was still going.

import type { Workflow } from "../workflow/types.ts";
import { databaseError, type Database } from "./db.ts";
import type { Owner } from "./recorder.ts";

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

export interface DaemonState {
  pidFile: string;
  pid: number;
  identity: string;
  startedAt: string;
  heartbeatAt: string;
  rssBytes: number | null;
  version: string;
  /** Where /metrics is served, or null when metrics are off. */
  metricsUrl: string | null;
  workflows: DaemonWorkflowState[];
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
    ).run(s.pidFile, s.pid, s.identity, s.startedAt, s.heartbeatAt, s.rssBytes, s.version, s.metricsUrl, JSON.stringify(s.workflows));
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
  let workflows: DaemonWorkflowState[] = [];
  try {
    workflows = JSON.parse(row.workflows);
  } catch {}
  return {
    pidFile: row.pid_file,
    pid: row.pid,
    identity: row.identity,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    rssBytes: row.rss_bytes,
    version: row.version ?? "",
    metricsUrl: row.metrics_url,
    workflows,
  };
}

/**
 * Record a scheduled trigger that was not run because a run of the same workflow was still
 * in progress: a finished `workflow_executions` row with status 'skipped', so `history`
 * shows the gap. Returns its id.
 */
export function recordSkippedRun(db: Database, path: string, wf: Workflow, owner: Owner, reason: string): string {
  const id = crypto.randomUUID();
  const ts = new Date().toISOString();
  try {
    db.query(
      `INSERT INTO workflow_executions (id, workflow_name, started_at, finished_at, status, duration_seconds, total_tasks,
         successful_tasks, failed_tasks, created_at, trigger, owner_pid, owner_identity, error_message, workflow_file, task_names)
       VALUES (?, ?, ?, ?, 'skipped', 0, ?, 0, 0, ?, 'schedule', ?, ?, ?, ?, ?)`,
    ).run(id, wf.name, ts, ts, wf.tasks.length, ts, owner.pid, owner.identity, reason, wf.file, JSON.stringify(wf.tasks.map((t) => t.name)));
  } catch (err) {
    throw databaseError(path, err);
  }
  return id;
}
