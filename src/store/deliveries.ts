// The `deliveries` table: one row per notification or healthcheck ping of a run (its target
// already masked), written when it starts and when it ends; read by `status`. Also the two
// reads the notification policy needs: the run as recorded, and the previous finished run.
// A database older than schema version 3, opened read-only, has no such table: reads give [].

import type { Database } from "./db.ts";
import { isoTime, sqlTime } from "./time.ts";

export type DeliveryKind = "notify" | "healthcheck";
export type DeliveryResult = "pending" | "success" | "failed";

/** A delivery as `status` shows it (times as stored; the JSON output turns them into ISO 8601). */
export interface DeliveryRow {
  kind: DeliveryKind;
  /** notify: the policy event that fired it (failure, recovery, ...); healthcheck: start, success or fail. */
  event: string;
  /** The URL with its secret parts masked (see notify/target.ts). */
  target: string;
  attempts: number;
  result: DeliveryResult;
  http_status: number | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface DeliveryEnd {
  result: "success" | "failed";
  attempts: number;
  httpStatus: number | null;
  error: string | null;
}

/** The writes of deliveries, on the connection that records runs. */
export class DeliveryStore {
  private readonly insertQ;
  private readonly finishQ;

  constructor(private readonly db: Database) {
    this.insertQ = db.prepare(
      `INSERT INTO deliveries (workflow_execution_id, kind, event, target, attempts, result, created_at)
       VALUES (?, ?, ?, ?, 0, 'pending', ?)`,
    );
    this.finishQ = db.prepare(
      `UPDATE deliveries SET attempts = ?, result = ?, http_status = ?, error = ?, finished_at = ? WHERE id = ?`,
    );
  }

  /** A delivery about to be sent; its row id. */
  start(runId: string, kind: DeliveryKind, event: string, target: string): number {
    return Number(this.insertQ.run(runId, kind, event, target, sqlTime(new Date())).lastInsertRowid);
  }

  finish(id: number, end: DeliveryEnd): void {
    this.finishQ.run(end.attempts, end.result, end.httpStatus, end.error, sqlTime(new Date()), id);
  }

  /** The run as recorded (times ISO 8601), or null when it is not there. */
  run(runId: string): RecordedRun | null {
    const r = this.db
      .query(`SELECT workflow_name, started_at, finished_at, status, trigger, rowid FROM workflow_executions WHERE id = ?`)
      .get(runId) as { workflow_name: string; started_at: string; finished_at: string | null; status: string; trigger: string; rowid: number } | null;
    if (!r) return null;
    return { startedAt: isoTime(r.started_at), finishedAt: r.finished_at ? isoTime(r.finished_at) : null, trigger: r.trigger, previous: this.previous(r) };
  }

  /**
   * The status of the run of the same workflow before this one that finished (success or
   * failed; skipped triggers and runs still going do not count), or null for the first.
   */
  private previous(r: { workflow_name: string; started_at: string; rowid: number }): "success" | "failed" | null {
    const p = this.db
      .query(
        `SELECT status FROM workflow_executions
         WHERE workflow_name = ?1 AND status IN ('success', 'failed') AND rowid != ?3
           AND (started_at < ?2 OR (started_at = ?2 AND rowid < ?3))
         ORDER BY started_at DESC, rowid DESC LIMIT 1`,
      )
      .get(r.workflow_name, r.started_at, r.rowid) as { status: "success" | "failed" } | null;
    return p?.status ?? null;
  }
}

export interface RecordedRun {
  startedAt: string;
  finishedAt: string | null;
  trigger: string;
  /** The previous finished run's status (see DeliveryStore.previous). */
  previous: "success" | "failed" | null;
}

/** The deliveries of one run, oldest first; [] in a database without the table (older than version 3). */
export function readDeliveries(db: Database, runId: string): DeliveryRow[] {
  if (!db.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'`).get()) return [];
  return db
    .query(
      `SELECT kind, event, target, attempts, result, http_status, error, created_at, finished_at
       FROM deliveries WHERE workflow_execution_id = ? ORDER BY id`,
    )
    .all(runId) as DeliveryRow[];
}

/** The last success and failure of each workflow (Unix seconds), for the metrics a daemon starts with. */
export function lastOutcomes(db: Database): { workflow: string; status: "success" | "failed"; at: number }[] {
  const rows = db
    .query(
      `SELECT workflow_name, status, MAX(finished_at) AS at FROM workflow_executions
       WHERE status IN ('success', 'failed') AND finished_at IS NOT NULL GROUP BY workflow_name, status`,
    )
    .all() as { workflow_name: string; status: "success" | "failed"; at: string }[];
  return rows.map((r) => ({ workflow: r.workflow_name, status: r.status, at: Math.round(Date.parse(isoTime(r.at)) / 1000) }));
}
