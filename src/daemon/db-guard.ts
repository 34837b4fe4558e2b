// Is the daemon's open database still the file at its path? A database deleted (`rm -rf` of
// its directory) or replaced under a running daemon would otherwise swallow every later run
// unseen: SQLite keeps writing to the open, unlinked file. DaemonDatabase is the daemon's
// handle on it: once the file is not the one opened, nothing more is written and the daemon stops.

import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { systemErrorText } from "../errors.ts";
import type { Logger } from "../log.ts";
import { abandonDatabase } from "../store/abandon.ts";
import { startsWithSqliteHeader, type Database } from "../store/db.ts";

export class DatabaseGuard {
  private readonly dev: number;
  private readonly ino: number;
  /** Absolute, so the log names the file however the daemon was started. */
  private readonly path: string;

  /** Remember the file at `path` (call right after opening it). */
  constructor(path: string) {
    this.path = resolve(path);
    const st = statSync(this.path);
    this.dev = st.dev;
    this.ino = st.ino;
  }

  /**
   * null while the file at the path is still the one that was opened (same device and inode)
   * and still starts with SQLite's header; otherwise one line saying what happened. VACUUM,
   * WAL checkpoints and retention rewrite the file in place: its inode stays.
   */
  problem(): string | null {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return `${this.path} was deleted (or its directory removed) while the daemon was running`;
      return `cannot check ${this.path}: ${systemErrorText(err)}`;
    }
    try {
      const st = fstatSync(fd);
      if (st.dev !== this.dev || st.ino !== this.ino) return `${this.path} was replaced by another file while the daemon was running`;
      if (!startsWithSqliteHeader(fd)) {
        return `${this.path} was overwritten while the daemon was running: it is no longer an SQLite database`;
      }
      return null;
    } catch (err) {
      return `cannot check ${this.path}: ${systemErrorText(err)}`;
    } finally {
      closeSync(fd);
    }
  }
}

/** The daemon's open database, checked before each run and each write (and while idle). */
export class DaemonDatabase {
  /** Set once the database file is no longer the one opened: nothing is written after that. */
  lost: string | null = null;
  /** Set when the file was deleted or replaced: closes the connection without a write. */
  private closeAbandoned: (() => void) | undefined;

  constructor(
    readonly db: Database,
    readonly path: string,
    private readonly guard: DatabaseGuard,
    private readonly log: Logger,
    /** Asks the daemon to stop (exit 6). */
    private readonly onLost: (problem: string) => void,
  ) {}

  /** Is the open database still the file at its path? If not: log, stop, exit 6. */
  intact(): boolean {
    if (this.lost !== null) return false;
    const problem = this.guard.problem();
    if (problem === null) return true;
    this.lost = problem;
    this.closeAbandoned = abandonDatabase(this.db, this.path);
    this.log.error("database file deleted or replaced; the daemon stops", { db_path: this.path, problem });
    this.onLost(problem);
    return false;
  }

  close(): void {
    if (this.closeAbandoned) this.closeAbandoned();
    else this.db.close();
  }
}
