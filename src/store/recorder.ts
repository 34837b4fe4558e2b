// Writes runs as they happen: one short immediate transaction per event, prepared statements.

import type { ExecResult, OutputStream } from "../executors/types.ts";
import { identityOf } from "../sys/proc.ts";
import type { Workflow } from "../workflow/types.ts";
import { databaseError, type Database } from "./db.ts";
import type { RunFinish, RunRecorder, Trigger } from "./types.ts";

const now = () => new Date().toISOString();

function statements(db: Database) {
  return {
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    rollback: db.prepare("ROLLBACK"),
    insertRun: db.prepare(
      `INSERT INTO workflow_executions (id, workflow_name, started_at, status, total_tasks, successful_tasks,
         failed_tasks, created_at, trigger, owner_pid, owner_identity, workflow_file, task_names)
       VALUES (?, ?, ?, 'running', ?, 0, 0, ?, ?, ?, ?, ?, ?)`,
    ),
    upsertWorkflow: db.prepare(
      `INSERT INTO workflows (name, file, description, schedule, task_count, first_seen_at, last_seen_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
       ON CONFLICT(name) DO UPDATE SET file = ?2, description = ?3, schedule = ?4, task_count = ?5, last_seen_at = ?6`,
    ),
    insertAttempt: db.prepare(
      `INSERT INTO task_executions (id, workflow_execution_id, task_name, status, started_at, attempt, created_at)
       VALUES (?, ?, ?, 'running', ?, ?, ?)`,
    ),
    setPid: db.prepare(`UPDATE task_executions SET pid = ?, pid_identity = ? WHERE id = ?`),
    insertChunk: db.prepare(`INSERT INTO task_output_chunks (task_execution_id, stream, data) VALUES (?, ?, ?)`),
    finishAttempt: db.prepare(
      `UPDATE task_executions SET status = ?, finished_at = ?, exit_code = ?, stdout = ?, stderr = ?,
         error_message = ?, duration_seconds = ?, http_status = ? WHERE id = ?`,
    ),
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
  private readonly started = new Map<string, number>();
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

  startRun(wf: Workflow, trigger: Trigger): string {
    const id = crypto.randomUUID();
    const ts = now();
    this.write(() => {
      this.q.upsertWorkflow.run(wf.name, wf.file, wf.description ?? null, wf.schedule ?? null, wf.tasks.length, ts);
      this.q.insertRun.run(
        id,
        wf.name,
        ts,
        wf.tasks.length,
        ts,
        trigger,
        this.owner.pid,
        this.owner.identity,
        wf.file,
        JSON.stringify(wf.tasks.map((t) => t.name)),
      );
    });
    this.started.set(id, performance.now());
    return id;
  }

  startAttempt(runId: string, task: string, attempt: number): string {
    const id = crypto.randomUUID();
    const ts = now();
    this.write(() => this.q.insertAttempt.run(id, runId, task, ts, attempt, ts));
    return id;
  }

  attemptSpawned(attemptId: string, pid: number): void {
    this.write(() => this.q.setPid.run(pid, identityOf(pid), attemptId));
  }

  appendOutput(attemptId: string, stream: OutputStream, text: string): void {
    this.write(() => this.q.insertChunk.run(attemptId, stream, text));
  }

  finishAttempt(attemptId: string, r: ExecResult, durationSeconds: number): void {
    this.write(() => {
      this.q.finishAttempt.run(
        r.status,
        now(),
        r.exitCode,
        r.stdout,
        r.stderr,
        r.error ?? null,
        durationSeconds,
        r.httpStatus ?? null,
        attemptId,
      );
      this.q.deleteChunks.run(attemptId);
    });
  }

  finishRun(runId: string, f: RunFinish): void {
    const t0 = this.started.get(runId);
    this.started.delete(runId);
    const duration = t0 === undefined ? null : (performance.now() - t0) / 1000;
    this.write(() => {
      this.q.finishRun.run(f.status, now(), duration, f.successfulTasks, f.failedTasks, f.error ?? null, runId);
      for (const s of f.skipped) this.q.insertSkipped.run(runId, s.task, s.reason);
    });
  }
}

/**
 * Close runs whose owning process is gone (kill -9, power loss): the run and its unfinished
 * attempts become `failed` with the reason. Runs of live processes are never touched.
 * Returns the ids of the runs it closed.
 */
export function recoverOrphans(
  db: Database,
  path: string,
  isAlive: (pid: number, identity: string | null) => boolean,
  /** Called for each unfinished attempt's process group, to stop what the dead owner left. */
  onLeftover?: (pid: number, identity: string | null) => void,
): string[] {
  try {
    const open = db
      .query(`SELECT id, owner_pid, owner_identity FROM workflow_executions WHERE status IN ('pending', 'running')`)
      .all() as { id: string; owner_pid: number | null; owner_identity: string | null }[];
    const dead = open.filter((r) => r.owner_pid === null || !isAlive(r.owner_pid, r.owner_identity));
    if (!dead.length) return [];
    const ts = now();
    const unfinishedOf = db.query(
      `SELECT id, pid, pid_identity FROM task_executions WHERE workflow_execution_id = ? AND status IN ('pending', 'running', 'retrying')`,
    );
    const chunksOf = db.query(`SELECT stream, data FROM task_output_chunks WHERE task_execution_id = ? ORDER BY id`);
    db.transaction(() => {
      for (const r of dead) {
        const reason = r.owner_pid === null ? "interrupted: owner unknown" : `interrupted: process ${r.owner_pid} is gone`;
        const unfinished = unfinishedOf.all(r.id) as { id: string; pid: number | null; pid_identity: string | null }[];
        for (const a of unfinished) {
          if (onLeftover && a.pid !== null) onLeftover(a.pid, a.pid_identity);
          // The output it had written for `logs --follow` is all that is left of the attempt:
          // keep it as its stdout/stderr. When the owner died is unknown (the crash is only
          // found now), so the duration stays NULL rather than running up to this moment.
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
          [r.id],
        );
        const counts = db
          .query(
            `SELECT
               (SELECT count(DISTINCT task_name) FROM task_executions t WHERE workflow_execution_id = ?1 AND status = 'success') AS ok,
               (SELECT count(DISTINCT task_name) FROM task_executions t WHERE workflow_execution_id = ?1 AND status != 'success'
                  AND NOT EXISTS (SELECT 1 FROM task_executions s WHERE s.workflow_execution_id = ?1
                                  AND s.task_name = t.task_name AND s.status = 'success')) AS bad`,
          )
          .get(r.id) as { ok: number; bad: number };
        db.run(
          `UPDATE workflow_executions SET status = 'failed', finished_at = ?, duration_seconds = NULL,
             successful_tasks = ?, failed_tasks = ?, error_message = ? WHERE id = ?`,
          [ts, counts.ok, counts.bad, reason, r.id],
        );
      }
    }).immediate();
    return dead.map((r) => r.id);
  } catch (err) {
    throw databaseError(path, err);
  }
}
