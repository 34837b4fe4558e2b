// A database whose file was deleted or replaced under the daemon is cut loose without writing
// one more byte to whatever is now at its path, and without leaving its WAL there: SQLite
// would replay that WAL into the next file opened under the name, resurrecting the old
// database in pieces inside the new file instead of refusing it.

import { unlinkSync } from "node:fs";
import { resolve } from "node:path";
import { fileIdAt, openFileIds } from "../sys/open-files.ts";
import type { Database } from "./db.ts";

/**
 * SQLITE_FCNTL_NULL_IO (SQLite 3.48 and later; not among bun:sqlite's constants): the
 * connection stops reading and writing the database file, so neither a checkpoint nor the
 * close can write into a file that replaced it in place.
 */
const SQLITE_FCNTL_NULL_IO = 43;

/**
 * Stop all I/O on `db`'s database file now. Returns the function that closes the connection
 * later (once running runs have stopped) and then removes the WAL and shared-memory files at
 * the path, only if they are still the ones this connection had open.
 */
export function abandonDatabase(db: Database, path: string): () => void {
  const abs = resolve(path);
  try {
    db.fileControl(SQLITE_FCNTL_NULL_IO, 0);
  } catch {}
  const ours = openFileIds([`${abs}-wal`, `${abs}-shm`]);
  return () => {
    try {
      db.close();
    } catch {}
    for (const [file, id] of ours) {
      if (fileIdAt(file) !== id) continue;
      try {
        unlinkSync(file);
      } catch {}
    }
  };
}
