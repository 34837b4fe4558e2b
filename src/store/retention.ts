// Log retention ([logs] in the config): delete finished executions older than retention_days
// and, oldest first, while the database holds more than max_size_mb; then give the space back
// to the file system (incremental vacuum, WAL truncation), so a steady schedule reaches a
// steady file size. Task rows, output chunks and skipped-task notes go with their execution
// (ON DELETE CASCADE). Runs still in progress are never deleted.

import { statSync } from "node:fs";
import { checkpointWal, databaseError, type Database } from "./db.ts";
import { sqlTimeAgo } from "./time.ts";

export interface RetentionPolicy {
  /** Delete executions that started more than this many days ago; 0 = no age limit. */
  retentionDays: number;
  /** Delete the oldest executions while the data exceeds this many MiB; 0 = no size limit. */
  maxSizeMb: number;
}

export interface RetentionResult {
  deletedByAge: number;
  deletedBySize: number;
  /** Size of the database file (plus its WAL) before and after, in bytes. */
  bytesBefore: number;
  bytesAfter: number;
}

/** Rows per delete transaction: short transactions keep a running daemon's writes flowing. */
const BATCH = 200;
const FINISHED = `status NOT IN ('running', 'pending')`;

function pragma(db: Database, name: string): number {
  const row = db.query(`PRAGMA ${name}`).get() as Record<string, number> | null;
  return row ? Number(Object.values(row)[0]) : 0;
}

/** Bytes of pages in use (the file minus its free pages). */
export function usedBytes(db: Database): number {
  return (pragma(db, "page_count") - pragma(db, "freelist_count")) * pragma(db, "page_size");
}

function fileBytes(db: Database): number {
  const file = (db.query("PRAGMA database_list").all() as { name: string; file: string }[]).find((d) => d.name === "main")?.file;
  if (!file) return 0;
  let n = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      n += statSync(f).size;
    } catch {}
  }
  return n;
}

function deleteBatch(db: Database, where: string, params: (string | number)[]): number {
  return db.transaction(() => {
    const r = db
      .query(`DELETE FROM workflow_executions WHERE id IN (SELECT id FROM workflow_executions WHERE ${where} ORDER BY started_at LIMIT ${BATCH})`)
      .run(...params);
    return r.changes;
  }).immediate();
}

/** Apply `policy` as of `now`. Throws DatabaseError. */
export function applyRetention(db: Database, path: string, policy: RetentionPolicy, now: Date): RetentionResult {
  try {
    const bytesBefore = fileBytes(db);
    let deletedByAge = 0;
    let deletedBySize = 0;
    if (policy.retentionDays > 0) {
      const cutoff = sqlTimeAgo(policy.retentionDays * 86_400_000, now.getTime());
      for (let n; (n = deleteBatch(db, `${FINISHED} AND started_at < ?`, [cutoff])) > 0; ) deletedByAge += n;
    }
    if (policy.maxSizeMb > 0) {
      const limit = policy.maxSizeMb * 1024 * 1024;
      for (let used = usedBytes(db); used > limit; used = usedBytes(db)) {
        // Delete about as many as the excess needs, by the average size of a run, so big
        // runs are not over-deleted and small ones are not deleted one transaction at a time.
        const rows = (db.query(`SELECT count(*) AS n FROM workflow_executions WHERE ${FINISHED}`).get() as { n: number }).n;
        if (rows === 0) break; // only running executions left
        const batch = Math.max(1, Math.min(BATCH, Math.floor(((used - limit) / used) * rows)));
        deletedBySize += deleteOldest(db, batch);
      }
    }
    reclaim(db);
    return { deletedByAge, deletedBySize, bytesBefore, bytesAfter: fileBytes(db) };
  } catch (err) {
    throw databaseError(path, err);
  }
}

/** Delete the `n` oldest finished executions. */
function deleteOldest(db: Database, n: number): number {
  return db.transaction(() => {
    const r = db
      .query(`DELETE FROM workflow_executions WHERE id IN (SELECT id FROM workflow_executions WHERE ${FINISHED} ORDER BY started_at LIMIT ?)`)
      .run(n);
    return r.changes;
  }).immediate();
}

/** Return free pages to the file system and truncate the WAL. */
function reclaim(db: Database): void {
  const free = pragma(db, "freelist_count");
  if (free > 0) {
    if (pragma(db, "auto_vacuum") === 2) {
      db.run("PRAGMA incremental_vacuum");
    } else if (free * 4 > pragma(db, "page_count")) {
      // A file created before auto_vacuum was enabled: one full VACUUM converts it, after
      // which incremental vacuum does the job cheaply. Only when a quarter of it is free.
      db.run("PRAGMA auto_vacuum = INCREMENTAL");
      db.run("VACUUM");
    }
  }
  // The WAL keeps its high-water size until truncated; another reader may prevent a full
  // truncation, which is harmless (the next cleanup tries again). An empty one is not touched.
  checkpointWal(db);
}
