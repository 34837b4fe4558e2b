// The daemon's timers besides the schedules: [logs] retention when it is due, and the check
// that the database is still the file opened, which also retries a state write that failed.
// Both are re-armed when a reload changes their intervals. Neither writes while nothing was
// deleted and nothing ran: the WAL is checkpointed once the daemon falls quiet (settleLater),
// so an idle daemon writes nothing at all to its SD card, and logs nothing at info level.
// Once it has been idle a while longer, the memory its runs used is given back.

import type { Settings } from "../config.ts";
import { messageOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import { checkpointWal, shrinkDbMemory } from "../store/db.ts";
import { applyRetention } from "../store/retention.ts";
import { releaseMemory } from "../sys/memory.ts";
import type { DaemonDatabase } from "./db-guard.ts";

/** How often the daemon looks whether log retention is due. */
const CLEANUP_CHECK_MS = 60_000;
/**
 * How long the daemon stays quiet (no run going, no state change) before it checkpoints. A
 * burst of runs (catch-up, every-second schedules) is checkpointed once, after it.
 */
const QUIET_MS = 1000;
/** Idle this long after its last run, the daemon releases memory (a full GC costs some CPU: not after every run). */
const IDLE_MS = 30_000;
/** FOR TESTS ONLY: IDLE_MS in ms (read at start; not a setting, not documented for users). */
export const TEST_IDLE_MS_ENV = "PICOFLOW_TEST_IDLE_MS";

/** How long the daemon waits, idle, before it releases memory: IDLE_MS unless a test sets it. */
export function idleMsFrom(env: Record<string, string | undefined>): number {
  const test = Number(env[TEST_IDLE_MS_ENV]);
  return Number.isInteger(test) && test > 0 ? test : IDLE_MS;
}

/** Apply log retention now (if enabled, and the database is still the file opened). */
export function applyRetentionNow(db: DaemonDatabase, settings: Settings, log: Logger): void {
  if (!settings.logs.cleanupEnabled || !db.intact()) return;
  try {
    const r = applyRetention(db.db, db.path, settings.logs, new Date());
    // Nothing deleted: a daily no-op, not worth a line in the journal.
    const report = r.deletedByAge || r.deletedBySize ? log.info.bind(log) : log.debug.bind(log);
    report("log retention applied", {
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
  /** A run is going (its end calls settleLater again). */
  busy: () => boolean;
  /** Idle this long (ms), memory is released (idleMsFrom). */
  idleMs: number;
}

export class Housekeeping {
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private quietTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: HousekeepingOptions) {}

  /** Start both timers with the intervals in use (again, after a reload changed them). */
  arm(): void {
    const { db, log, settings } = this.o;
    for (const t of this.timers.splice(0)) clearInterval(t);
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
    clearTimeout(this.quietTimer);
    clearTimeout(this.idleTimer);
    this.quietTimer = this.idleTimer = undefined;
  }

  /**
   * The daemon just wrote (started, a run started or ended, a reload): once it has been quiet
   * for QUIET_MS, move what the WAL holds into the database file and empty the WAL. Otherwise
   * those pages would be written by the next retention pass (a day later, in an idle daemon)
   * or by the WAL's auto-checkpoint: a write while nothing is due.
   */
  settleLater(): void {
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      if (!this.o.busy()) this.settleNow();
    }, QUIET_MS);
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (!this.o.busy()) this.releaseNow();
    }, this.o.idleMs);
  }

  /** Give back the memory that is not in use: the page cache of the database, garbage, code caches. */
  releaseNow(): void {
    if (this.o.db.intact()) {
      try {
        shrinkDbMemory(this.o.db.db);
      } catch {} // only a cache: a failure here changes nothing
    }
    const { heapBytes } = releaseMemory();
    this.o.log.debug("memory released (daemon idle)", { heap_bytes: heapBytes });
  }

  /** Checkpoint now (the daemon has started: its start-up writes are not left in the WAL). */
  settleNow(): void {
    const { db, log } = this.o;
    if (!db.intact()) return;
    try {
      // A reader (`logs --follow`) may keep part of it: the next quiet moment finishes it.
      const done = checkpointWal(db.db);
      log.debug("database checkpointed (daemon quiet)", { complete: done });
    } catch (err) {
      log.warn("cannot checkpoint the database", { db_path: db.path, error: messageOf(err) });
    }
  }
}
