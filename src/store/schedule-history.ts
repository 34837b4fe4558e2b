// What the schedule loop reads back to catch up missed runs and to judge the clock: the fire
// times already recorded for a workflow (scheduled_for of scheduled, skipped and catch-up runs),
// when PicoFlow first saw it, and the newest run of all. Read-only; a failure is a DatabaseError.

import { databaseError, type Database } from "./db.ts";
import { lastPause } from "./pauses.ts";
import { parseTime, sqlTime } from "./time.ts";

function dateOf(ts: string | null | undefined): Date | null {
  if (!ts) return null;
  const t = parseTime(ts);
  return Number.isNaN(t) ? null : new Date(t);
}

function read<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw databaseError(path, err);
  }
}

/** The start of the newest run recorded, of any workflow (null: none yet). */
export function newestRunStart(db: Database, path: string): Date | null {
  return read(path, () => {
    const row = db.query(`SELECT max(started_at) AS t FROM workflow_executions`).get() as { t: string | null } | null;
    return dateOf(row?.t);
  });
}

/** When the workflow was first recorded (`run`, or a daemon that loaded it); null: never. */
export function firstSeenAt(db: Database, path: string, workflow: string): Date | null {
  return read(path, () => {
    const row = db.query(`SELECT first_seen_at AS t FROM workflows WHERE name = ?`).get(workflow) as { t: string | null } | null;
    return dateOf(row?.t);
  });
}

/** The fire times recorded for the workflow at or after `from` (any trigger, any status), as epoch ms. */
export function recordedFireTimes(db: Database, path: string, workflow: string, from: Date): Set<number> {
  return read(path, () => {
    const rows = db
      .query(`SELECT scheduled_for AS t FROM workflow_executions WHERE workflow_name = ? AND scheduled_for >= ?`)
      .all(workflow, sqlTime(from)) as { t: string }[];
    const out = new Set<number>();
    for (const r of rows) {
      const t = parseTime(r.t);
      if (!Number.isNaN(t)) out.add(t);
    }
    return out;
  });
}

/** The latest fire time recorded for the workflow (null: none). */
export function lastFireTime(db: Database, path: string, workflow: string): Date | null {
  return read(path, () => {
    const row = db.query(`SELECT max(scheduled_for) AS t FROM workflow_executions WHERE workflow_name = ?`).get(workflow) as { t: string | null } | null;
    return dateOf(row?.t);
  });
}

/** The workflow's last pause as epoch ms, `to` Infinity while it lasts; null if never paused. */
export function pauseSpan(db: Database, path: string, workflow: string): { from: number; to: number } | null {
  return read(path, () => {
    const p = lastPause(db, workflow);
    if (!p) return null;
    return { from: parseTime(p.from), to: p.to === null ? Infinity : parseTime(p.to) };
  });
}

/** The reads above for one database, as the schedule loop asks for them. */
export function scheduleHistory(db: Database, path: string) {
  return {
    newestRun: () => newestRunStart(db, path),
    firstSeen: (workflow: string) => firstSeenAt(db, path, workflow),
    recorded: (workflow: string, from: Date) => recordedFireTimes(db, path, workflow, from),
    lastFired: (workflow: string) => lastFireTime(db, path, workflow),
    pauseSpan: (workflow: string) => pauseSpan(db, path, workflow),
  };
}
