// Is the daemon's open database still the file at its path? A database deleted (`rm -rf` of
// its directory) or replaced under a running daemon would otherwise swallow every later run
// unseen: SQLite keeps writing to the open, unlinked file.

import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { systemErrorText } from "../errors.ts";
import { startsWithSqliteHeader } from "../store/db.ts";

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
