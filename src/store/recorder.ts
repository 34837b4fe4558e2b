// Writes runs as they happen: one short immediate transaction per event, prepared statements.

import type { ExecResult, OutputStream } from "../executors/types.ts";
import { identityOf } from "../sys/proc.ts";
import type { HandlerKind, Workflow } from "../workflow/types.ts";
import { databaseError, type Database } from "./db.ts";
import { sqlTime } from "./time.ts";
import type { AttemptEnd, RunFinish, RunRecorder, RunStart, Trigger } from "./types.ts";

const now = () => sqlTime(new Date());

function statements(db: Database) {
  return {
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    rollback: db.prepare("ROLLBACK"),
    insertRun: db.prepare(
      `INSERT INTO workflow_executions (id, workflow_name, started_at, status, total_tasks, successful_tasks,
         failed_tasks, created_at, trigger, owner_pid, owner_identity, workflow_file, task_names, retry_of, task_hashes, scheduled_for)
       VALUES (?, ?, ?, 'running', ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // A task a retry does not run again: no attempt (attempt 0), the success it reuses named.
    insertReused: db.prepare(
      `INSERT INTO task_executions (id, workflow_execution_id, task_name, status, started_at, finished_at, attempt, created_at, reused_from)
       VALUES (?, ?, ?, 'reused', ?, ?, 0, ?, ?)`,
    ),
    upsertWorkflow: db.prepare(
      `INSERT INTO workflows (name, file, description, schedule, task_count, first_seen_at, last_seen_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
       ON CONFLICT(name) DO UPDATE SET file = ?2, description = ?3, schedule = ?4, task_count = ?5, last_seen_at = ?6`,
    ),
    insertAttempt: db.prepare(
      `INSERT INTO task_executions (id, workflow_execution_id, task_name, status, started_at, attempt, created_at, handler)
       VALUES (?, ?, ?, 'running', ?, ?, ?, ?)`,
    ),
    setPid: db.prepare(`UPDATE task_executions SET pid = ?, pid_identity = ? WHERE id = ?`),
    insertChunk: db.prepare(`INSERT INTO task_output_chunks (task_execution_id, stream, data) VALUES (?, ?, ?)`),
    finishAttempt: db.prepare(
      `UPDATE task_executions SET status = ?, finished_at = ?, exit_code = ?, stdout = ?, stderr = ?,
         error_message = ?, duration_seconds = ?, http_status = ?, retry_at = ?, tolerated = ? WHERE id = ?`,
    ),
    endRetry: db.prepare(`UPDATE task_executions SET status = ?, retry_at = NULL WHERE id = ? AND status = 'retrying'`),
    deleteChunks: db.prepare(`DELETE FROM task_output_chunks WHERE task_execution_id = ?`),
    finishRun: db.prepare(
      `UPDATE workflow_executions SET status = ?, finished_at = ?, duration_seconds = ?, successful_tasks = ?,
         failed_tasks = ?, error_message = ? WHERE id = ?`,
    ),
    insertSkipped: db.prepare(`INSERT OR REPLACE INTO skipped_tasks (workflow_execution_id, task_name, reason) VALUES (?, ?, ?)`),
  };
}

export interface Owner {
  pid: number;
  /** Identity that survives pid reuse (see sys/proc.ts). */
  identity: string;
}

export class SqliteRecorder implements RunRecorder {
  /** Run and task of each attempt still to be finished. */
  private readonly attemptOf = new Map<string, { runId: string; task: string }>();
  /**
   * Attempts whose row reads `retrying` (waiting in backoff), by run and task, with the status
   * the row gets when the next attempt starts or the run ends.
   */
  private readonly retrying = new Map<string, { runId: string; attemptId: string; status: string }>();
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: Database,
    private readonly owner: Owner,
    private readonly path: string,
  ) {
    try {
      this.q = statements(db);
    } catch (err) {
      // A file with an older or foreign layout fails here, not halfway through a run.
      throw databaseError(path, err);
    }
  }


  /**
   * One short write transaction. BEGIN IMMEDIATE takes the write lock up front (waiting up to
   * busy_timeout), so another writer can never make it fail half-way. The statements are
   * prepared once: `db.transaction(fn).immediate()` builds its wrappers on every call and
   * costs about twice as much per write, which showed in 1000-task runs.
   */
  private write<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    try {
      this.q.begin.run();
    } catch (err) {
      throw databaseError(this.path, err);
    }
    try {
      const out = fn();
      this.q.commit.run();
      return out;
    } catch (err) {
      if (this.db.inTransaction) {
        try {
          this.q.rollback.run();
        } catch {}
      }
      throw databaseError(this.path, err);
    }
  }

  /** Remember a workflow as known (for `workflow list`), without running it. */
  noteWorkflow(wf: Workflow): void {
    this.write(() => this.q.upsertWorkflow.run(wf.name, wf.file, wf.description ?? null, wf.schedule ?? null, wf.tasks.length, now()));
  }

  startRun(wf: Workflow, trigger: Trigger, start: RunStart = {}): string {
    const id = crypto.randomUUID();
    const ts = now();
    const names = start.tasks ?? wf.tasks.map((t) => t.name);
    this.write(() => {
      this.q.upsertWorkflow.run(wf.name, wf.file, wf.description ?? null, wf.schedule ?? null, wf.tasks.length, ts);
      this.q.insertRun.run(
        id,
        wf.name,
        ts,
        names.length,
        ts,
        trigger,
        this.owner.pid,
        this.owner.identity,
        wf.file,
        JSON.stringify(names),
        start.retryOf ?? null,
        start.taskHashes ? JSON.stringify(start.taskHashes) : null,
        start.scheduledFor ? sqlTime(start.scheduledFor) : null,
      );
      for (const r of start.reused ?? []) this.q.insertReused.run(crypto.randomUUID(), id, r.task, ts, ts, ts, r.from);
    });
    return id;
  }

  startAttempt(runId: string, task: string, attempt: number, handler?: HandlerKind): string {
    const id = crypto.randomUUID();
    const ts = now();
    const key = `${runId}\n${task}`;
    const before = this.retrying.get(key);
    this.write(() => {
      // The previous attempt stops reading `retrying` as this one starts: one transaction.
      if (before) this.q.endRetry.run(before.status, before.attemptId);
      this.q.insertAttempt.run(id, runId, task, ts, attempt, ts, handler ?? null);
    });
    this.retrying.delete(key);
    this.attemptOf.set(id, { runId, task });
    return id;
  }

  attemptSpawned(attemptId: string, pid: number): void {
    this.write(() => this.q.setPid.run(pid, identityOf(pid), attemptId));
  }

  appendOutput(attemptId: string, stream: OutputStream, text: string): void {
    this.write(() => this.q.insertChunk.run(attemptId, stream, text));
  }

  finishAttempt(attemptId: string, r: ExecResult, durationSeconds: number, end: AttemptEnd = {}): void {
    const retryAt = end.retryAt && r.status !== "success" ? end.retryAt : undefined;
    const of = this.attemptOf.get(attemptId);
    this.attemptOf.delete(attemptId);
    this.write(() => {
      this.q.finishAttempt.run(
        retryAt ? "retrying" : r.status,
        now(),
        r.exitCode,
        r.stdout,
        r.stderr,
        r.error ?? null,
        durationSeconds,
        r.httpStatus ?? null,
        retryAt ? sqlTime(retryAt) : null,
        end.tolerated ? 1 : 0,
        attemptId,
      );
      this.q.deleteChunks.run(attemptId);
    });
    if (retryAt && of) this.retrying.set(`${of.runId}\n${of.task}`, { runId: of.runId, attemptId, status: r.status });
  }

  finishRun(runId: string, f: RunFinish): void {
    // Attempts still waiting for a retry that the end of the run (an interrupt) cancelled.
    const waiting = [...this.retrying].filter(([, w]) => w.runId === runId);
    this.write(() => {
      for (const [, w] of waiting) this.q.endRetry.run(w.status, w.attemptId);
      this.q.finishRun.run(f.status, now(), f.durationSeconds ?? null, f.successfulTasks, f.failedTasks, f.error ?? null, runId);
      for (const s of f.skipped) this.q.insertSkipped.run(runId, s.task, s.reason);
    });
    for (const [key] of waiting) this.retrying.delete(key);
  }
}

/** What a dead owner left: its run ids and the process groups its unfinished attempts recorded. */
export interface Leftovers {
  runIds: string[];
  groups: { pid: number; identity: string | null }[];
}

/**
 * Close runs whose owning process is gone (kill -9, power loss): first `stop` is given what
 * they left running (to kill it), then the run and its unfinished attempts become `failed`
 * with the reason. Runs of live processes are never touched. Returns the ids it closed.
 * Nothing beyond one query happens when no run is dead, so a normal start stays cheap.
 */
export async function recoverOrphans(
  db: Database,
  path: string,
  isAlive: (pid: number, identity: string | null) => boolean,
  stop?: (left: Leftovers) => Promise<void>,
): Promise<string[]> {
  let dead: { id: string; owner_pid: number | null }[];
  let groups: Leftovers["groups"];
  try {
    const open = db
      .query(`SELECT id, owner_pid, owner_identity FROM workflow_executions WHERE status IN ('pending', 'running')`)
      .all() as { id: string; owner_pid: number | null; owner_identity: string | null }[];
    dead = open.filter((r) => r.owner_pid === null || !isAlive(r.owner_pid, r.owner_identity));
    if (!dead.length) return [];
    const unfinishedOf = db.query(
      `SELECT pid, pid_identity FROM task_executions WHERE workflow_execution_id = ? AND status IN ('pending', 'running', 'retrying') AND pid IS NOT NULL`,
    );
    groups = dead.flatMap((r) => (unfinishedOf.all(r.id) as { pid: number; pid_identity: string | null }[]).map((a) => ({ pid: a.pid, identity: a.pid_identity })));
  } catch (err) {
    throw databaseError(path, err);
  }
  // Processes first: once the rows say "failed", nothing may still be running for them.
  await stop?.({ runIds: dead.map((r) => r.id), groups });
  try {
    const ts = now();
    const closed: string[] = [];
    db.transaction(() => {
      for (const r of dead) {
        const reason = r.owner_pid === null ? "interrupted: owner unknown" : `interrupted: process ${r.owner_pid} is gone`;
        if (closeRun(db, r.id, reason, ts, null)) closed.push(r.id);
      }
    }).immediate();
    return closed;
  } catch (err) {
    throw databaseError(path, err);
  }
}

/**
 * Close a run owed by a live process whose recording failed (a full disk): the run and its
 * unfinished attempts become `failed` with `reason`, as of `finishedAt`. False if the run
 * was already closed. Throws a DatabaseError while the database still refuses writes.
 */
export function closeFailedRecording(db: Database, path: string, runId: string, reason: string, finishedAt: Date, durationSeconds: number | null): boolean {
  try {
    return db.transaction(() => closeRun(db, runId, reason, sqlTime(finishedAt), durationSeconds)).immediate();
  } catch (err) {
    throw databaseError(path, err);
  }
}

/**
 * Inside a write transaction: mark run `runId` and its unfinished attempts `failed` with
 * `reason`, unless it has been closed meanwhile (by another process's recovery). The output
 * an unfinished attempt had written for `logs --follow` is all that is left of it: it is kept
 * as its stdout/stderr. An attempt's duration stays NULL: when it ended is not known.
 */
function closeRun(db: Database, runId: string, reason: string, ts: string, durationSeconds: number | null): boolean {
  const run = db.query(`SELECT status FROM workflow_executions WHERE id = ?`).get(runId) as { status: string } | null;
  if (!run || (run.status !== "pending" && run.status !== "running")) return false;
  const unfinished = db
    .query(`SELECT id FROM task_executions WHERE workflow_execution_id = ? AND status IN ('pending', 'running')`)
    .all(runId) as { id: string }[];
  // An attempt waiting for its retry had finished: it keeps its own result, and ends `failed`
  // (no retry will come). Only attempts cut off while running get the reason.
  db.run(`UPDATE task_executions SET status = 'failed', retry_at = NULL WHERE workflow_execution_id = ? AND status = 'retrying'`, [runId]);
  const chunksOf = db.query(`SELECT stream, data FROM task_output_chunks WHERE task_execution_id = ? ORDER BY id`);
  for (const a of unfinished) {
    const out = { stdout: "", stderr: "" };
    for (const c of chunksOf.all(a.id) as { stream: "stdout" | "stderr"; data: string }[]) out[c.stream] += c.data;
    db.run(
      `UPDATE task_executions SET status = 'failed', finished_at = ?, error_message = ?, duration_seconds = NULL,
         stdout = coalesce(stdout, ?), stderr = coalesce(stderr, ?)
       WHERE id = ?`,
      [ts, reason, out.stdout, out.stderr, a.id],
    );
  }
  db.run(
    `DELETE FROM task_output_chunks WHERE task_execution_id IN
       (SELECT id FROM task_executions WHERE workflow_execution_id = ?)`,
    [runId],
  );
  // The counts are the DAG's tasks', as a finished run's are (handlers are not counted).
  const counts = db
    .query(
      `SELECT
         (SELECT count(DISTINCT task_name) FROM task_executions t WHERE workflow_execution_id = ?1 AND status IN ('success', 'reused') AND handler IS NULL) AS ok,
         (SELECT count(DISTINCT task_name) FROM task_executions t WHERE workflow_execution_id = ?1 AND status NOT IN ('success', 'reused') AND handler IS NULL
            AND NOT EXISTS (SELECT 1 FROM task_executions s WHERE s.workflow_execution_id = ?1
                            AND s.task_name = t.task_name AND s.status = 'success')) AS bad`,
    )
    .get(runId) as { ok: number; bad: number };
  db.run(
    `UPDATE workflow_executions SET status = 'failed', finished_at = ?, duration_seconds = ?,
       successful_tasks = ?, failed_tasks = ?, error_message = ? WHERE id = ?`,
    [ts, durationSeconds, counts.ok, counts.bad, reason, runId],
  );
  return true;
}
