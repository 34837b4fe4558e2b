// The daemon's timers besides the schedules: [logs] retention when it is due, and the check
// that the database is still the file opened, which also retries a state write that failed.
// Both are re-armed when a reload changes their intervals.

import type { Settings } from "../config.ts";
import { messageOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import { applyRetention } from "../store/retention.ts";
import type { DaemonDatabase } from "./db-guard.ts";

/** How often the daemon looks whether log retention is due. */
const CLEANUP_CHECK_MS = 60_000;

/** Apply log retention now (if enabled, and the database is still the file opened). */
export function applyRetentionNow(db: DaemonDatabase, settings: Settings, log: Logger): void {
  if (!settings.logs.cleanupEnabled || !db.intact()) return;
  try {
    const r = applyRetention(db.db, db.path, settings.logs, new Date());
    log.info("log retention applied", {
      deleted_by_age: r.deletedByAge,
      deleted_by_size: r.deletedBySize,
      bytes_before: r.bytesBefore,
      bytes_after: r.bytesAfter,
    });
  } catch (err) {
    log.error("log retention failed", { error: messageOf(err) });
  }
}

export interface HousekeepingOptions {
  db: DaemonDatabase;
  log: Logger;
  /** The settings in use (a reload changes them). */
  settings: () => Settings;
  /** The idle check found the database intact: a state write that failed is retried. */
  checked: () => void;
}

export class Housekeeping {
  private readonly timers: ReturnType<typeof setInterval>[] = [];

  constructor(private readonly o: HousekeepingOptions) {}

  /** Start both timers with the intervals in use (again, after a reload changed them). */
  arm(): void {
    const { db, log, settings } = this.o;
    this.stop();
    const cleanup = () => applyRetentionNow(db, settings(), log);
    // Timers hold at most 2^31-1 ms (24.8 days; longer ones fire at once, every millisecond),
    // and a Pi may sleep or set its clock: look at least every minute, clean when it is due.
    // Elapsed time from the monotonic clock: setting the wall clock back must not delay it.
    const cleanupEveryMs = settings().daemon.cleanupIntervalSeconds * 1000;
    let cleanedAt = performance.now();
    const cleanupTimer =
      cleanupEveryMs <= CLEANUP_CHECK_MS
        ? setInterval(cleanup, cleanupEveryMs)
        : setInterval(() => {
            if (performance.now() - cleanedAt < cleanupEveryMs) return;
            cleanedAt = performance.now();
            cleanup();
          }, CLEANUP_CHECK_MS);
    // Also checked before each run and each write; this catches it while the daemon is idle.
    // It only reads, unless a state write failed: that one is retried here.
    const databaseTimer = setInterval(() => {
      if (db.intact()) this.o.checked();
    }, settings().daemon.databaseCheckSeconds * 1000);
    this.timers.push(cleanupTimer, databaseTimer);
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }
}
