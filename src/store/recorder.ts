// Writes runs as they happen, with prepared statements. A run's start and end are committed at
// once; an attempt's start, pid, live output and end are queued and committed together with
// whatever else is queued a few milliseconds later (group commit): an attempt that ends
// within the window is one INSERT with its final values. On an SD card every commit rewrites
// the changed pages of task_executions and its five indexes in the WAL, so fewer, larger
// commits are what keeps the bytes written per task small (docs/benchmarks.md).

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
         failed_tasks, created_at, trigger, owner_pid, owner_identity, workflow_file, task_names, retry_of, task_hashes, scheduled_for,
         task_needs)
       VALUES (?, ?, ?, 'running', ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
      `INSERT INTO task_executions (id, workflow_execution_id, task_name, status, started_at, attempt, created_at, handler,
         pid, pid_identity, finished_at, exit_code, stdout, stderr, error_message, duration_seconds, http_status, retry_at, tolerated)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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

/**
 * The run's dependencies as JSON (task_needs): each task of the run that depends on others of
 * the run, with those. A dependency the run leaves out (a partial run) is not part of its DAG.
 */
export function taskNeeds(wf: Workflow, names: readonly string[]): string {
  const inRun = new Set(names);
  const needs: Record<string, string[]> = {};
  for (const t of wf.tasks) {
    const deps = inRun.has(t.name) ? t.dependsOn.filter((d) => inRun.has(d)) : [];
    if (deps.length) needs[t.name] = deps;
  }
  return JSON.stringify(needs);
}

export interface Owner {
  pid: number;
  /** Identity that survives pid reuse (see sys/proc.ts). */
  identity: string;
}

/** An attempt whose INSERT is still queued: later calls change these values instead of writing. */
interface QueuedAttempt {
  id: string;
  runId: string;
  task: string;
  startedAt: string;
  attempt: number;
  handler: string | null;
  status: string;
  pid: number | null;
  pidIdentity: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  stdout: string | null;
  stderr: string | null;
  error: string | null;
  durationSeconds: number | null;
  httpStatus: number | null;
  retryAt: string | null;
  tolerated: number;
}

/**
 * A queued write, of run `runId`. `chunkOf`: live output of that attempt (dropped once it
 * ends); `inserts`: the INSERT of that queued attempt.
 */
interface Op {
  runId: string;
  chunkOf?: string;
  inserts?: string;
  write: () => void;
}

/**
 * How long a queued write waits for others to share its commit. Short enough that `status`
 * and `logs --follow` in another process see a running attempt at once; long enough that
 * a quick task's start, pid and end usually meet in one INSERT.
 */
export const GROUP_COMMIT_MS = 10;
/** After a failed commit (a full disk), how often what is still queued is tried again. */
const RETRY_MS = 1000;
/**
 * How many times a run's refused writes are tried again before they are dropped: memory stays
 * bounded while the disk stays full. The run has failed by then, and is closed as failed with
 * the reason once writes work (daemon/owed-runs.ts), or by the next start's recovery.
 */
const MAX_RETRIES = 10;

export class SqliteRecorder implements RunRecorder {
  /** Run and task of each attempt still to be finished. */
  private readonly attemptOf = new Map<string, { runId: string; task: string }>();
  /**
   * Attempts whose row reads `retrying` (waiting in backoff), by run and task, with the status
   * the row gets when the next attempt starts or the run ends.
   */
  private readonly retrying = new Map<string, { runId: string; attemptId: string; status: string }>();
  private readonly q: ReturnType<typeof statements>;
  /** Writes waiting for the next commit, in order. */
  private queue: Op[] = [];
  /** Attempts whose INSERT is in the queue. */
  private readonly queued = new Map<string, QueuedAttempt>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Where a failed deferred write of each open run is reported (RunStart.onError). */
  private readonly onError = new Map<string, (err: unknown) => void>();
  /** Failed commits in a row of the runs whose writes the database refuses. */
  private readonly refused = new Map<string, number>();

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

  /** `ops` and then `fn` in one transaction; once it has committed, `ops` leave the queue. */
  private commit<T>(ops: Op[], fn: () => T): T {
    const out = this.write(() => {
      for (const op of ops) op.write();
      return fn();
    });
    if (ops === this.queue) this.queue = [];
    else if (ops.length) {
      const done = new Set(ops);
      this.queue = this.queue.filter((op) => !done.has(op));
    }
    for (const op of ops) if (op.inserts) this.queued.delete(op.inserts);
    if (this.refused.size) for (const op of ops) this.refused.delete(op.runId);
    if (!this.queue.length) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return out;
  }

  /**
   * `fn` of run `runId` (null: of no run) with everything queued, in one transaction. What
   * another run queued may be what the database refuses (a full disk, a big output): then
   * only this run's own queued writes go with `fn`, and the rest waits for the timer. On an
   * error nothing of it is written and the queue stays as it was.
   */
  private writeFor<T>(runId: string | null, fn: () => T): T {
    try {
      return this.commit(this.queue, fn);
    } catch (err) {
      const own = this.queue.filter((op) => op.runId === runId);
      if (own.length === this.queue.length) throw err;
      return this.commit(own, fn);
    }
  }

  /** Commit what is queued, now. Throws a DatabaseError; what failed stays queued. */
  flush(): void {
    if (this.queue.length) this.commit(this.queue, () => {});
  }

  /**
   * Commit what is queued for run `runId`, now. Called before a run whose recording failed is
   * closed (daemon/owed-runs.ts): a queued `running` attempt must not land after the close and
   * leave a ghost. Throws while the database still refuses it (the close then waits too).
   */
  flushRun(runId: string): void {
    const own = this.queue.filter((op) => op.runId === runId);
    if (own.length) this.commit(own, () => {});
    this.refused.delete(runId);
  }

  private enqueue(op: Op): void {
    this.queue.push(op);
    this.timer ??= setTimeout(() => this.flushLater(), GROUP_COMMIT_MS);
  }

  /**
   * The timer's commit. When it fails, each run's writes are tried alone, and a run whose
   * writes the database refuses gets it as its store error (as a throw from the call that
   * queued them would have been). They stay queued and are tried again every RETRY_MS (up to
   * MAX_RETRIES times), so a short refusal loses no record, and none is ever half-written.
   */
  private flushLater(): void {
    this.timer = undefined;
    try {
      this.flush();
      return;
    } catch {}
    for (const runId of new Set(this.queue.map((op) => op.runId))) {
      try {
        this.commit(
          this.queue.filter((op) => op.runId === runId),
          () => {},
        );
        this.refused.delete(runId);
      } catch (err) {
        const report = this.onError.get(runId);
        this.onError.delete(runId);
        report?.(err);
        const n = (this.refused.get(runId) ?? 0) + 1;
        this.refused.set(runId, n);
        if (n > MAX_RETRIES) this.drop(runId);
      }
    }
    if (this.queue.length && !this.timer) {
      this.timer = setTimeout(() => this.flushLater(), RETRY_MS);
      // Retrying alone must not keep a finished command alive.
      this.timer.unref?.();
    }
  }

  /** Give up the queued writes of run `runId`. */
  private drop(runId: string): void {
    this.refused.delete(runId);
    this.queue = this.queue.filter((op) => {
      if (op.runId !== runId) return true;
      if (op.inserts) this.queued.delete(op.inserts);
      return false;
    });
  }

  /** Remember a workflow as known (for `workflow list`), without running it. */
  noteWorkflow(wf: Workflow): void {
    this.writeFor(null, () => this.q.upsertWorkflow.run(wf.name, wf.file, wf.description ?? null, wf.schedule ?? null, wf.tasks.length, now()));
  }

  startRun(wf: Workflow, trigger: Trigger, start: RunStart = {}): string {
    const id = crypto.randomUUID();
    const ts = now();
    const names = start.tasks ?? wf.tasks.map((t) => t.name);
    // Committed at once (with whatever else is queued): the run's row, with its owner, is what
    // recovery after a kill -9 finds the run's processes by, queued attempts included.
    this.writeFor(id, () => {
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
        taskNeeds(wf, names),
      );
      for (const r of start.reused ?? []) this.q.insertReused.run(crypto.randomUUID(), id, r.task, ts, ts, ts, r.from);
    });
    if (start.onError) this.onError.set(id, start.onError);
    return id;
  }

  startAttempt(runId: string, task: string, attempt: number, handler?: HandlerKind): string {
    const id = crypto.randomUUID();
    const ts = now();
    const key = `${runId}\n${task}`;
    const before = this.retrying.get(key);
    // The previous attempt stops reading `retrying` as this one starts: in the same commit.
    if (before) this.endRetry(runId, before.attemptId, before.status);
    const a: QueuedAttempt = {
      id,
      runId,
      task,
      startedAt: ts,
      attempt,
      handler: handler ?? null,
      status: "running",
      pid: null,
      pidIdentity: null,
      finishedAt: null,
      exitCode: null,
      stdout: null,
      stderr: null,
      error: null,
      durationSeconds: null,
      httpStatus: null,
      retryAt: null,
      tolerated: 0,
    };
    this.queued.set(id, a);
    this.enqueue({ runId, inserts: id, write: () => this.insertAttempt(a) });
    this.retrying.delete(key);
    this.attemptOf.set(id, { runId, task });
    return id;
  }

  /** The attempt's row as it reads when the queue is committed. */
  private insertAttempt(a: QueuedAttempt): void {
    this.q.insertAttempt.run(
      a.id,
      a.runId,
      a.task,
      a.status,
      a.startedAt,
      a.attempt,
      a.startedAt,
      a.handler,
      a.pid,
      a.pidIdentity,
      a.finishedAt,
      a.exitCode,
      a.stdout,
      a.stderr,
      a.error,
      a.durationSeconds,
      a.httpStatus,
      a.retryAt,
      a.tolerated,
    );
  }

  /** An attempt waiting in `retrying` gets its own result's status (the next attempt starts, or the run ends). */
  private endRetry(runId: string, attemptId: string, status: string): void {
    const a = this.queued.get(attemptId);
    if (a) {
      if (a.status === "retrying") Object.assign(a, { status, retryAt: null });
    } else this.enqueue({ runId, write: () => this.q.endRetry.run(status, attemptId) });
  }

  attemptSpawned(attemptId: string, pid: number, known?: string): void {
    const identity = known ?? identityOf(pid);
    const a = this.queued.get(attemptId);
    if (a) Object.assign(a, { pid, pidIdentity: identity });
    else this.enqueue({ runId: this.runOf(attemptId), write: () => this.q.setPid.run(pid, identity, attemptId) });
  }

  appendOutput(attemptId: string, stream: OutputStream, text: string): void {
    this.enqueue({ runId: this.runOf(attemptId), chunkOf: attemptId, write: () => this.q.insertChunk.run(attemptId, stream, text) });
  }

  private runOf(attemptId: string): string {
    return this.attemptOf.get(attemptId)?.runId ?? "";
  }

  finishAttempt(attemptId: string, r: ExecResult, durationSeconds: number, end: AttemptEnd = {}): void {
    const retryAt = end.retryAt && r.status !== "success" ? end.retryAt : undefined;
    const of = this.attemptOf.get(attemptId);
    this.attemptOf.delete(attemptId);
    const values = {
      status: retryAt ? "retrying" : r.status,
      finishedAt: now(),
      exitCode: r.exitCode,
      stdout: r.stdout,
      stderr: r.stderr,
      error: r.error ?? null,
      durationSeconds,
      httpStatus: r.httpStatus ?? null,
      retryAt: retryAt ? sqlTime(retryAt) : null,
      tolerated: end.tolerated ? 1 : 0,
    };
    // Its live output still queued is never written: the row now holds all of it.
    if (this.queue.some((op) => op.chunkOf === attemptId)) this.queue = this.queue.filter((op) => op.chunkOf !== attemptId);
    const a = this.queued.get(attemptId);
    if (a) Object.assign(a, values);
    else {
      const v = values;
      this.enqueue({
        runId: of?.runId ?? "",
        write: () => {
          this.q.finishAttempt.run(v.status, v.finishedAt, v.exitCode, v.stdout, v.stderr, v.error, v.durationSeconds, v.httpStatus, v.retryAt, v.tolerated, attemptId);
          this.q.deleteChunks.run(attemptId);
        },
      });
    }
    if (retryAt && of) this.retrying.set(`${of.runId}\n${of.task}`, { runId: of.runId, attemptId, status: r.status });
  }

  finishRun(runId: string, f: RunFinish): void {
    // Attempts still waiting for a retry that the end of the run (an interrupt) cancelled.
    const waiting = [...this.retrying].filter(([, w]) => w.runId === runId);
    for (const [, w] of waiting) this.endRetry(runId, w.attemptId, w.status);
    this.onError.delete(runId);
    // Its queued attempts with it: a finished run is durable when `run` returns.
    this.writeFor(runId, () => {
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
