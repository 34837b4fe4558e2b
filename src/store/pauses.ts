// Paused schedules (`picoflow workflow pause|resume`): one row per workflow in workflow_pauses,
// paused while its resumed_at is NULL. A resume keeps the row (with resumed_at), so catch-up
// knows which fire times were paused on purpose and does not run them after a restart. The pause lives in the database, not in the daemon, so it works while the
// daemon is stopped and survives a restart; the daemon reads it when a trigger comes due (one
// primary-key lookup per fire, nothing written while idle). A database older than schema
// version 4, opened read-only, has no such table: nothing is paused there.

import { databaseError, type Database } from "./db.ts";
import { sqlTime } from "./time.ts";

export interface PauseChange {
  /** When the workflow was paused (stored form); null when it is not paused (after resume). */
  pausedAt: string | null;
  /** False when it already was in the state asked for (pause twice, resume an unpaused one). */
  changed: boolean;
}

function hasPauseTable(db: Database): boolean {
  return db.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'workflow_pauses'`).get() !== null;
}

/** Pause `name`'s schedule; pausing a paused workflow keeps its first pause time. */
export function pauseWorkflow(db: Database, path: string, name: string, now: Date = new Date()): PauseChange {
  try {
    const changed =
      db
        .query(
          `INSERT INTO workflow_pauses (workflow_name, paused_at) VALUES (?, ?)
           ON CONFLICT (workflow_name) DO UPDATE SET paused_at = excluded.paused_at, resumed_at = NULL WHERE resumed_at IS NOT NULL`,
        )
        .run(name, sqlTime(now)).changes > 0;
    return { pausedAt: pausedSince(db, name), changed };
  } catch (err) {
    throw databaseError(path, err);
  }
}

/** Resume `name`'s schedule; `changed` is false if it was not paused. */
export function resumeWorkflow(db: Database, path: string, name: string, now: Date = new Date()): PauseChange {
  try {
    const changed = db.query(`UPDATE workflow_pauses SET resumed_at = ? WHERE workflow_name = ? AND resumed_at IS NULL`).run(sqlTime(now), name).changes > 0;
    return { pausedAt: null, changed };
  } catch (err) {
    throw databaseError(path, err);
  }
}

/** When `name` was paused (stored form), or null. The daemon's check at each fire: a primary-key read. */
export function pausedSince(db: Database, name: string): string | null {
  const row = db.query(`SELECT paused_at FROM workflow_pauses WHERE workflow_name = ? AND resumed_at IS NULL`).get(name) as { paused_at: string } | null;
  return row?.paused_at ?? null;
}

/** Every paused workflow with its pause time (stored form); empty for a database without the table. */
export function pausedWorkflows(db: Database): Map<string, string> {
  const out = new Map<string, string>();
  if (!hasPauseTable(db)) return out;
  for (const r of db.query(`SELECT workflow_name, paused_at FROM workflow_pauses WHERE resumed_at IS NULL`).all() as { workflow_name: string; paused_at: string }[]) {
    out.set(r.workflow_name, r.paused_at);
  }
  return out;
}

/** The workflow's last pause, from when to when (`to` null: still paused); null if never paused. */
export function lastPause(db: Database, name: string): { from: string; to: string | null } | null {
  if (!hasPauseTable(db)) return null;
  const row = db.query(`SELECT paused_at, resumed_at FROM workflow_pauses WHERE workflow_name = ?`).get(name) as { paused_at: string; resumed_at: string | null } | null;
  return row ? { from: row.paused_at, to: row.resumed_at } : null;
}
