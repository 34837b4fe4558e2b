// The one place that opens SQLite (bun:sqlite). Every connection gets WAL, a busy timeout and
// foreign keys; migrations are gated on PRAGMA user_version inside BEGIN IMMEDIATE, so a
// `run` and the daemon can open the same new file at the same moment.

import { constants, Database } from "bun:sqlite";
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
  realpathSync,
  statSync,
  type Stats,
} from "node:fs";
import { dirname, resolve } from "node:path";
import { DatabaseError, NothingRecordedError, systemErrorText } from "../errors.ts";
import { describeUser } from "../sys/proc.ts";

export type { Database };

/** Schema version this binary writes. A newer database is refused. */
export const SCHEMA_VERSION = 5;

/** Page size of a database this binary creates (an existing file keeps its own). */
export const NEW_PAGE_SIZE = 1024;

/** WAL size, in bytes, at which a commit copies it back into the database file. */
const WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024;

/** Milliseconds a connection waits for another writer before reporting "database is locked". */
export const BUSY_TIMEOUT_MS = 10_000;

/** Every column that holds a time, per table (store/time.ts gives their one form). */
const TIME_COLUMNS: Record<string, string[]> = {
  workflow_executions: ["started_at", "finished_at", "created_at"],
  task_executions: ["started_at", "finished_at", "created_at"],
  workflows: ["first_seen_at", "last_seen_at"],
  daemon_state: ["started_at", "heartbeat_at"],
};

/**
 * Columns added after version 1, per table, with the value a reader of an older database sees
 * in them (the column's default).
 */
const ADDED_COLUMNS: Record<string, Record<string, string>> = {
  task_executions: { retry_at: "NULL", tolerated: "0", handler: "NULL", reused_from: "NULL" },
  workflow_executions: { retry_of: "NULL", scheduled_for: "NULL", task_hashes: "NULL", task_needs: "NULL" },
};

/** SQL for a time column `c` in the stored form: the `T` of an older row becomes a space. */
const spacedTime = (c: string) => `CASE WHEN substr(${c}, 11, 1) = 'T' THEN substr(${c}, 1, 10) || ' ' || substr(${c}, 12) ELSE ${c} END`;

/** Version 2: rewrite the `T` of every stored time (see TIME_COLUMNS). */
function spaceAllTimes(): string {
  return Object.entries(TIME_COLUMNS)
    .map(([table, cols]) => {
      const set = cols.map((c) => `${c} = ${spacedTime(c)}`).join(", ");
      const where = cols.map((c) => `substr(${c}, 11, 1) = 'T'`).join(" OR ");
      return `UPDATE ${table} SET ${set} WHERE ${where};`;
    })
    .join("\n");
}

// Version 1: tables and indexes from the spec's "Database Schema", column for column, plus
// columns and tables of our own (owner, trigger, skipped tasks, live output chunks, known
// workflows). Version 2: times stored as "2026-11-26 08:17:42.123Z", so the spec's example
// queries (`started_at > datetime('now', '-1 day')`) compare them correctly; retry_at, when
// an attempt waiting in backoff is tried again; tolerated, a failure continue_on_failure let pass.
// Version 3: handler attempts marked, and the deliveries of notifications and pings.
// Version 4: retry_of, scheduled_for (catch-up), reused tasks of a retry, paused workflows.
// Version 5: task_needs, the run's dependencies, so the dashboard draws the DAG as it ran.
// Append only: the tests build a version-1 database from MIGRATIONS[0].
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE workflow_executions (
      id TEXT PRIMARY KEY,
      workflow_name TEXT NOT NULL,
      started_at TEXT NOT NULL,
      finished_at TEXT,
      status TEXT NOT NULL,
      duration_seconds REAL,
      total_tasks INTEGER NOT NULL,
      successful_tasks INTEGER,
      failed_tasks INTEGER,
      created_at TEXT NOT NULL,
      trigger TEXT NOT NULL DEFAULT 'manual',
      owner_pid INTEGER,
      owner_identity TEXT,
      error_message TEXT,
      workflow_file TEXT,
      task_names TEXT
  );
  CREATE INDEX idx_workflow_name ON workflow_executions(workflow_name);
  CREATE INDEX idx_started_at ON workflow_executions(started_at);
  CREATE INDEX idx_status ON workflow_executions(status);

  CREATE TABLE task_executions (
      id TEXT PRIMARY KEY,
      workflow_execution_id TEXT NOT NULL,
      task_name TEXT NOT NULL,
      status TEXT NOT NULL,
      started_at TEXT NOT NULL,
      finished_at TEXT,
      exit_code INTEGER,
      stdout TEXT,
      stderr TEXT,
      attempt INTEGER NOT NULL DEFAULT 1,
      error_message TEXT,
      duration_seconds REAL,
      created_at TEXT NOT NULL,
      http_status INTEGER,
      pid INTEGER,
      pid_identity TEXT,
      FOREIGN KEY (workflow_execution_id) REFERENCES workflow_executions(id) ON DELETE CASCADE
  );
  CREATE INDEX idx_workflow_execution_id ON task_executions(workflow_execution_id);
  CREATE INDEX idx_task_name ON task_executions(task_name);
  CREATE INDEX idx_task_status ON task_executions(status);
  CREATE INDEX idx_task_started_at ON task_executions(started_at);

  CREATE TABLE skipped_tasks (
      workflow_execution_id TEXT NOT NULL REFERENCES workflow_executions(id) ON DELETE CASCADE,
      task_name TEXT NOT NULL,
      reason TEXT NOT NULL,
      PRIMARY KEY (workflow_execution_id, task_name)
  );

  CREATE TABLE task_output_chunks (
      id INTEGER PRIMARY KEY,
      task_execution_id TEXT NOT NULL REFERENCES task_executions(id) ON DELETE CASCADE,
      stream TEXT NOT NULL,
      data TEXT NOT NULL
  );
  CREATE INDEX idx_output_chunks_task ON task_output_chunks(task_execution_id, id);

  CREATE TABLE workflows (
      name TEXT PRIMARY KEY,
      file TEXT,
      description TEXT,
      schedule TEXT,
      task_count INTEGER NOT NULL,
      first_seen_at TEXT NOT NULL,
      last_seen_at TEXT NOT NULL
  );

  -- One row per running daemon (keyed by its PID file), kept current by the daemon and
  -- deleted on a clean stop; \`daemon status\` reads it after checking pid + identity.
  CREATE TABLE daemon_state (
      pid_file TEXT PRIMARY KEY,
      pid INTEGER NOT NULL,
      identity TEXT NOT NULL,
      started_at TEXT NOT NULL,
      heartbeat_at TEXT NOT NULL,
      rss_bytes INTEGER,
      version TEXT,
      metrics_url TEXT,
      workflows TEXT NOT NULL
  );

  -- The read side's "latest run of a workflow" and per-workflow history, without a sort.
  CREATE INDEX idx_workflow_started ON workflow_executions(workflow_name, started_at);
  `,
  `
  ${spaceAllTimes()}
  ALTER TABLE task_executions ADD COLUMN retry_at TEXT;
  -- 1 on the last attempt of a task whose failure continue_on_failure tolerated.
  ALTER TABLE task_executions ADD COLUMN tolerated INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- The handler list (on_failure, on_success, on_exit) of an attempt of a handler; NULL for
  -- a task of the DAG.
  ALTER TABLE task_executions ADD COLUMN handler TEXT;

  -- One row per notification or healthcheck ping of a run: where it went (secrets masked),
  -- when, and how it ended.
  CREATE TABLE deliveries (
      id INTEGER PRIMARY KEY,
      workflow_execution_id TEXT NOT NULL REFERENCES workflow_executions(id) ON DELETE CASCADE,
      kind TEXT NOT NULL,
      event TEXT NOT NULL,
      target TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      result TEXT NOT NULL,
      http_status INTEGER,
      error TEXT,
      created_at TEXT NOT NULL,
      finished_at TEXT
  );
  CREATE INDEX idx_deliveries_execution ON deliveries(workflow_execution_id);
  `,
  `
  -- A retry's original execution (picoflow retry, trigger --retry).
  ALTER TABLE workflow_executions ADD COLUMN retry_of TEXT;
  -- Per-task fingerprints of what ran (JSON name -> hash), so a retry says which tasks changed.
  ALTER TABLE workflow_executions ADD COLUMN task_hashes TEXT;
  -- The fire time a scheduled or catch-up run was for, so a missed time is caught up once.
  ALTER TABLE workflow_executions ADD COLUMN scheduled_for TEXT;
  CREATE INDEX idx_workflow_scheduled_for ON workflow_executions(workflow_name, scheduled_for);
  -- A task a retry did not run again: status 'reused', and the execution whose success it reuses.
  ALTER TABLE task_executions ADD COLUMN reused_from TEXT;

  -- Schedules paused (picoflow workflow pause), kept across restarts and read by the daemon;
  -- paused while resumed_at is NULL. The last pause stays after a resume, so catch-up does not
  -- run the fire times the user paused.
  CREATE TABLE workflow_pauses (
      workflow_name TEXT PRIMARY KEY,
      paused_at TEXT NOT NULL,
      resumed_at TEXT
  );
  `,
  `
  -- The run's dependencies as it ran (JSON task -> the tasks of the run it depends on; tasks
  -- without any left out), written once at its start. NULL for runs recorded before.
  ALTER TABLE workflow_executions ADD COLUMN task_needs TEXT;
  `,
];

const PICOFLOW_TABLES = ["workflow_executions", "task_executions"];

export interface OpenOptions {
  /** Read-only: never creates or migrates; a missing file is an error. */
  readonly?: boolean;
}

/** Open (and for writers, create and migrate) the database at `path`. Throws DatabaseError. */
export function openDatabase(path: string, opts: OpenOptions = {}): Database {
  const abs = resolve(path);
  if (!opts.readonly) return connect(path, prepareFile(path, abs), false, false);
  const file = readableFile(path, abs);
  // PicoFlow creates its database 0600: another user cannot read it at all.
  if (!accessible(file, fsConstants.R_OK)) {
    throw new DatabaseError(`${path}: cannot read it: permission denied (run as the user that owns it)`);
  }
  try {
    return connect(path, file, true, false);
  } catch (err) {
    if (!(err instanceof DatabaseError) || !/read-only|unable to open/.test(err.message)) throw err;
    // A WAL reader uses the -shm file beside the database, and creates it if it is missing.
    const dir = dirname(file);
    const shm = `${file}-shm`;
    if (existsSync(shm)) {
      if (!accessible(shm, fsConstants.R_OK | fsConstants.W_OK)) {
        throw new DatabaseError(`${path}: cannot read it: ${shm}, SQLite's shared-memory file, is not readable and writable by this user`);
      }
      throw err;
    }
    if (accessible(dir, fsConstants.W_OK)) throw err;
    // In a directory the user cannot write (a copy of a database, a backup) it cannot be
    // created. Without a -wal file no writer is at work, so the file can be read as it is.
    if (existsSync(`${file}-wal`)) {
      throw new DatabaseError(`${path}: cannot read it: SQLite needs to create ${shm} beside it, and ${dir} is not writable by this user`);
    }
    return connect(path, file, true, true);
  }
}

/**
 * The file a reader opens: the database itself, or a symlink's target (its -wal and -shm
 * files are beside the target). Reading follows any link to a regular file: it writes nothing.
 */
function readableFile(path: string, abs: string): string {
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw new DatabaseError(`${path}: cannot open database: ${systemErrorText(err)}`);
    if (lstatOrNull(path, abs)?.isSymbolicLink()) {
      throw new DatabaseError(`${path}: is a symbolic link to ${readlinkSync(abs)}, which does not exist`);
    }
    throw new NothingRecordedError(`${path}: no database here yet`);
  }
  const st = statSync(real);
  if (st.isDirectory()) throw new DatabaseError(`${path}: is a directory, not a database file`);
  if (!st.isFile()) throw new DatabaseError(`${path}: is not a regular file, not a database file`);
  return real;
}

function accessible(file: string, mode: number): boolean {
  try {
    accessSync(file, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * One connection with the pragmas every connection gets. `immutable`: read the file as it is,
 * without WAL's shared-memory file (only when no writer can be at work; see openDatabase).
 */
function connect(path: string, abs: string, readonly: boolean, immutable: boolean): Database {
  let db: Database;
  try {
    if (immutable) {
      const uri = `file:${encodeURI(abs).replace(/[?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}?immutable=1`;
      db = new Database(uri, constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_URI);
    } else db = new Database(abs, readonly ? { readonly: true } : { create: true, readwrite: true });
  } catch (err) {
    throw new DatabaseError(`${path}: cannot open database: ${(err as Error).message}`);
  }
  try {
    db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!readonly) {
      // Before any pragma that changes the file: another program's database stays untouched.
      refuseForeign(db, path);
      // Must come before the first table is created (and before WAL writes the header) to
      // take effect; on an existing file it is a no-op. Lets retention give space back with
      // PRAGMA incremental_vacuum (store/retention.ts).
      // Likewise only for a new file, and before auto_vacuum (which fixes the page size of
      // an empty file): every commit writes each page it changed to the WAL whole, and a
      // task's row changes a few pages (the table and its five indexes), so small pages mean
      // fewer bytes written per task on an SD card (docs/benchmarks.md).
      db.run(`PRAGMA page_size = ${NEW_PAGE_SIZE}`);
      db.run("PRAGMA auto_vacuum = INCREMENTAL");
      db.run("PRAGMA journal_mode = WAL");
      // NORMAL in WAL mode is durable across a crash of the process, and cheap per commit.
      db.run("PRAGMA synchronous = NORMAL");
      // The WAL is checkpointed at about 4 MiB whatever the page size (SQLite's default is
      // 1000 pages): with small pages, a page changed by many commits is copied back once.
      const pageSize = (db.query("PRAGMA page_size").get() as { page_size: number }).page_size;
      db.run(`PRAGMA wal_autocheckpoint = ${Math.round(WAL_CHECKPOINT_BYTES / pageSize)}`);
    }
    db.run("PRAGMA foreign_keys = ON");
    if (readonly) checkReadable(db, path);
    else migrate(db, path);
  } catch (err) {
    db.close();
    if (err instanceof DatabaseError) throw err;
    throw databaseError(path, err);
  }
  return db;
}

/** Turn an SQLite exception into one clear line. */
export function databaseError(path: string, err: unknown): DatabaseError {
  const msg = (err as Error).message ?? String(err);
  if (/file is not a database|malformed|corrupt/i.test(msg)) {
    return new DatabaseError(`${path}: not a PicoFlow database, or the file is corrupt (${msg})`);
  }
  if (/locked|busy/i.test(msg)) return new DatabaseError(`${path}: database is busy: ${msg}`);
  if (/readonly|read-only/i.test(msg)) return new DatabaseError(`${path}: database is read-only: ${msg}`);
  return new DatabaseError(`${path}: database error: ${msg}`);
}

/**
 * Copy what the WAL holds into the database file and empty the WAL. An empty WAL is left
 * alone: truncating it again would still touch the file (its mtime), a write to an SD card
 * for nothing. False when a reader kept part of it (done at the next checkpoint). Throws
 * SQLite's error (the caller says which database).
 */
export function checkpointWal(db: Database): boolean {
  type Result = { busy: number; log: number } | null;
  const passive = db.query("PRAGMA wal_checkpoint(PASSIVE)").get() as Result;
  if (!passive || passive.log <= 0) return true;
  const r = db.query("PRAGMA wal_checkpoint(TRUNCATE)").get() as Result;
  return !r || r.busy === 0;
}

/** Free the connection's page cache (read again from the file system's cache when needed). */
export function shrinkDbMemory(db: Database): void {
  db.run("PRAGMA shrink_memory");
}

/**
 * Make sure `abs` is a file a writer may open, creating it 0600 if it is missing; returns the
 * path to hand to SQLite (a symlink's resolved target). Refuses what could make us write
 * where the user did not mean to: see checkSymlink, and an empty file of another user's
 * (filling it would hand them the run output).
 */
function prepareFile(path: string, abs: string): string {
  const dir = dirname(abs);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new DatabaseError(`${path}: cannot create database: directory ${dir} does not exist`);
  }
  if (!dirStat.isDirectory()) throw new DatabaseError(`${path}: cannot create database: ${dir} is not a directory`);
  if (lstatOrNull(path, abs) === null && createFile(path, abs)) return abs;
  // It exists (or appeared while we tried to create it): look at what it is now.
  const st = lstatOrNull(path, abs);
  if (st === null) throw new DatabaseError(`${path}: cannot create database: the file vanished while it was being created`);
  if (st.isSymbolicLink()) return checkSymlink(path, abs, st);
  if (st.isDirectory()) throw new DatabaseError(`${path}: is a directory, not a database file`);
  if (!st.isFile()) throw new DatabaseError(`${path}: is not a regular file, not a database file`);
  if (st.size === 0 && st.uid !== process.geteuid!()) {
    throw new DatabaseError(`${path}: is an empty file owned by ${describeUser(st.uid)}; PicoFlow fills only an empty file of your own`);
  }
  if (st.size === 0) privateIfEmpty(path, abs);
  return abs;
}

/**
 * An empty file we are about to fill (made with `touch`, or by a writer that has not migrated
 * it yet) becomes 0600 like one we create; SQLite gives the -wal and -shm files the same mode.
 */
function privateIfEmpty(path: string, file: string): void {
  try {
    const fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (st.isFile() && st.size === 0 && st.uid === process.geteuid!() && (st.mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new DatabaseError(`${path}: cannot open database: ${systemErrorText(err)}`);
  }
}

function lstatOrNull(path: string, abs: string): Stats | null {
  try {
    return lstatSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    throw new DatabaseError(`${path}: cannot open database: ${systemErrorText(err)}`);
  }
}

/** Create the file 0600 (run output may hold secrets); false if something took the name first. */
function createFile(path: string, abs: string): boolean {
  try {
    // O_EXCL with O_CREAT never follows a symlink, even a dangling one; O_NOFOLLOW says so twice.
    const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = fsConstants;
    closeSync(openSync(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      throw new DatabaseError(`${path}: cannot create database: directory ${dirname(abs)} is not writable`);
    }
    // The directory was there a moment ago (prepareFile): gone since, or one where files
    // cannot be made at all (/proc answers ENOENT).
    if (code === "ENOENT") throw new DatabaseError(`${path}: cannot create database: directory ${dirname(abs)} does not exist or is not writable`);
    throw new DatabaseError(`${path}: cannot create database: ${systemErrorText(err)}`);
  }
}

/** SQLite's file header: the first 16 bytes of every database file. */
const SQLITE_HEADER = "SQLite format 3\0";

/**
 * A database path that is a symlink is followed only if the link is the user's (or root's,
 * who set it up for a service user) and its target exists, is a regular file of the user's,
 * and is empty or an SQLite database. So a link planted by another user cannot make us
 * create a file (with SQLite's 0644), fill someone's empty file, or write into a file of
 * another program. Returns the target, which SQLite then opens (not the link, which could
 * be swapped after this check).
 */
function checkSymlink(path: string, abs: string, link: Stats): string {
  const me = process.geteuid!();
  let to: string;
  try {
    to = readlinkSync(abs);
  } catch {
    to = "?";
  }
  const refuse = (why: string) => new DatabaseError(`${path}: is a symbolic link to ${to}, ${why}`);
  if (link.uid !== me && link.uid !== 0) throw refuse(`and the link is owned by ${describeUser(link.uid)}; PicoFlow follows only links of your own or root's`);
  let target: Stats;
  let real: string;
  try {
    real = realpathSync(abs);
    // The checks below are about this very link: one swapped in meanwhile is not followed.
    const again = lstatSync(abs);
    if (again.dev !== link.dev || again.ino !== link.ino) throw refuse("and the link was replaced while it was being checked");
    target = lstatSync(real);
  } catch (err) {
    if (err instanceof DatabaseError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw refuse("which does not exist; PicoFlow does not create a database through a link (create the file, or use the real path)");
    throw refuse(`which cannot be read: ${systemErrorText(err)}`);
  }
  if (!target.isFile()) throw refuse("which is not a regular file");
  if (target.uid !== me) throw refuse(`which is owned by ${describeUser(target.uid)}, not by you`);
  if (target.size > 0 && !hasSqliteHeader(real)) throw refuse("which is not a database; refusing to overwrite it");
  if (target.size === 0) privateIfEmpty(path, real);
  return real;
}

function hasSqliteHeader(file: string): boolean {
  try {
    const fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      return startsWithSqliteHeader(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Does the open file `fd` start with SQLite's header? Throws if it cannot be read. */
export function startsWithSqliteHeader(fd: number): boolean {
  const buf = Buffer.alloc(SQLITE_HEADER.length);
  return readSync(fd, buf, 0, buf.length, 0) === buf.length && buf.toString("latin1") === SQLITE_HEADER;
}

function userVersion(db: Database): number {
  return (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
}

/** A database with tables but no schema version of ours belongs to another program. */
function refuseForeign(db: Database, path: string): void {
  if (userVersion(db) !== 0) return;
  const tables = db.query("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
  if (tables.n > 0) throw new DatabaseError(`${path}: not a PicoFlow database (it has tables of another program)`);
}

function migrate(db: Database, path: string): void {
  if (userVersion(db) === SCHEMA_VERSION) return;
  db.run("BEGIN IMMEDIATE");
  try {
    // Re-check under the write lock: another process may have migrated meanwhile.
    const version = userVersion(db);
    if (version > SCHEMA_VERSION) {
      throw new DatabaseError(`${path}: database schema version ${version} is newer than this picoflow understands (${SCHEMA_VERSION}); upgrade picoflow`);
    }
    if (version === 0) refuseForeign(db, path);
    for (let v = version; v < SCHEMA_VERSION; v++) db.run(MIGRATIONS[v]!);
    db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.run("COMMIT");
  } catch (err) {
    db.run("ROLLBACK");
    throw err;
  }
}

function checkReadable(db: Database, path: string): void {
  // One read transaction: a writer migrating meanwhile is seen wholly before or wholly after.
  db.run("BEGIN");
  try {
    const version = checkSchema(db, path);
    if (version < SCHEMA_VERSION) olderSchemaViews(db);
  } finally {
    db.run("COMMIT");
  }
}

/**
 * A reader cannot migrate a database no writer of this version has opened yet. Instead, for
 * this connection only, temporary views named like the tables (they come first in name
 * lookup) show it as the current schema would: times in the stored form, and columns added
 * since with their defaults. Only the connection's TEMP schema is written; the file is not touched.
 */
function olderSchemaViews(db: Database): void {
  for (const [table, times] of Object.entries(TIME_COLUMNS)) {
    const cols = (db.query(`PRAGMA main.table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
    if (!cols.length) continue;
    const select = [
      "rowid AS rowid",
      ...cols.map((c) => (times.includes(c) ? `${spacedTime(`"${c}"`)} AS "${c}"` : `"${c}"`)),
      ...Object.entries(ADDED_COLUMNS[table] ?? {})
        .filter(([c]) => !cols.includes(c))
        .map(([c, value]) => `${value} AS "${c}"`),
    ];
    db.run(`CREATE TEMP VIEW IF NOT EXISTS ${table} AS SELECT ${select.join(", ")} FROM main.${table}`);
  }
}

/** Refuses what this binary cannot read; returns the schema version. */
function checkSchema(db: Database, path: string): number {
  const version = userVersion(db);
  if (version > SCHEMA_VERSION) {
    throw new DatabaseError(`${path}: database schema version ${version} is newer than this picoflow understands (${SCHEMA_VERSION}); upgrade picoflow`);
  }
  const names = (db.query("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
  // No tables at all: a file a writer has just created and not yet migrated (or never will).
  if (version === 0 && names.length === 0) throw new NothingRecordedError(`${path}: the database is empty (nothing has been recorded yet)`);
  if (version === 0 || !PICOFLOW_TABLES.every((t) => names.includes(t))) {
    throw new DatabaseError(`${path}: not a PicoFlow database (no PicoFlow tables in it)`);
  }
  return version;
}
