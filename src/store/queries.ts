// Read side of the history: every query `status`, `history`, `stats`, `logs` and `workflow list`
// run. Opens the database read-only (never creates or writes it); each answer is read inside
// one read transaction, so in WAL mode it is one consistent snapshot while a run or the daemon
// writes (no torn reads, and readers never wait for writers).

import { statSync } from "node:fs";
import { DatabaseError, NothingRecordedError } from "../errors.ts";
import { decodeWorkflows } from "./daemon-state.ts";
import { databaseError, openDatabase, type Database } from "./db.ts";
import { readDeliveries, type DeliveryRow } from "./deliveries.ts";
import { pausedWorkflows } from "./pauses.ts";

/** A row of workflow_executions as the read commands show it (owner identity left out). */
export interface ExecutionRow {
  id: string;
  workflow_name: string;
  started_at: string;
  finished_at: string | null;
  /** pending, running, success, failed, skipped (an overlapping trigger), or anything newer. */
  status: string;
  duration_seconds: number | null;
  total_tasks: number;
  successful_tasks: number | null;
  failed_tasks: number | null;
  created_at: string;
  trigger: string;
  owner_pid: number | null;
  error_message: string | null;
  workflow_file: string | null;
  /** A retry's original execution (picoflow retry); null for other runs. */
  retry_of: string | null;
}

/** A row of task_executions without its output. */
export interface AttemptRow {
  id: string;
  workflow_execution_id: string;
  task_name: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  exit_code: number | null;
  attempt: number;
  error_message: string | null;
  duration_seconds: number | null;
  http_status: number | null;
  created_at: string;
  /** While the row reads `retrying`: when the next attempt starts. */
  retry_at: string | null;
  /** 1 on the last attempt of a failure continue_on_failure tolerated (NULL in a version-1 database). */
  tolerated: number | null;
  /** A handler's attempt: its list (on_failure, on_success, on_exit); NULL for a task of the DAG. */
  handler: string | null;
  /** A task a retry did not run again (status `reused`): the execution whose success it reuses. */
  reused_from: string | null;
}

/** One task of one run, folded over its attempts (or never started, with the reason). */
export interface TaskState {
  task_name: string;
  /**
   * Status of the latest attempt ("retrying" while it waits for the next one); "pending" (run
   * still going) or "skipped" if it never started.
   */
  status: string;
  attempts: number;
  /** While retrying: the attempt that comes next and when it starts; else null. */
  next_attempt: number | null;
  retry_at: string | null;
  /** Its failure was tolerated by continue_on_failure: the run went on past it. */
  tolerated: boolean;
  /** Seconds across finished attempts, backoff excluded; null if none finished. */
  duration_seconds: number | null;
  exit_code: number | null;
  http_status: number | null;
  started_at: string | null;
  finished_at: string | null;
  error_message: string | null;
  /** Why a task never started (skipped_tasks.reason). */
  reason: string | null;
  /** Status `reused` (a retry did not run it again): the execution whose success it reuses. */
  reused_from: string | null;
}

/** A handler of one run, folded over its attempts (only handlers that ran are recorded). */
export type HandlerState = TaskState & { handler: string };

export interface RunDetail extends ExecutionRow {
  /** The DAG's tasks (total_tasks, successful_tasks and failed_tasks count these only). */
  tasks: TaskState[];
  /** The handlers that ran after the DAG, in the order they ran. */
  handlers: HandlerState[];
  /** Other triggers of this workflow skipped (overlap) since this run started. */
  skipped_triggers: number;
  /** Needed by the CLI to tell a live owner from a dead one; not part of the JSON shape. */
  owner_identity: string | null;
}

export interface HistoryFilter {
  workflow?: string;
  status?: string;
  /** 0 = no limit. */
  limit: number;
  /** Lower bound on started_at (inclusive), in the stored form (store/time.ts). */
  since?: string;
  /** Upper bound on started_at (exclusive), in the stored form: the next page after a run (the API's `before`). */
  before?: string;
}

export interface WorkflowStats {
  workflow_name: string;
  /** Runs that started in the period (skipped triggers not included). */
  runs: number;
  success: number;
  failed: number;
  running: number;
  skipped: number;
  /** Percent of finished runs (success + failed) that succeeded; null with none finished. */
  success_rate: number | null;
  avg_duration: number | null;
  min_duration: number | null;
  max_duration: number | null;
}

export interface TaskStats {
  workflow_name: string;
  task_name: string;
  /** Runs in which the task started at least once. */
  runs: number;
  /** Runs in which it (finally) succeeded. */
  success: number;
  /**
   * Runs of it in a run still going, in which it has not succeeded (yet). A task waiting for its
   * next retry looks the same in the database as one that failed for good while the run goes
   * on, so both wait for the run to end before they count.
   */
  running: number;
  /** success / (runs - running): nothing counts as a failure before its run has ended. */
  success_rate: number | null;
  attempts: number;
  /** Attempts beyond the first of each run. */
  retries: number;
  timeouts: number;
  /** Per finished attempt, like the spec's "Average task duration" query. */
  avg_duration: number | null;
  min_duration: number | null;
  max_duration: number | null;
}

export interface WorkflowSummary {
  name: string;
  file: string | null;
  description: string | null;
  schedule: string | null;
  task_count: number | null;
  first_seen_at: string | null;
  last_seen_at: string | null;
  /** Loaded by a running daemon now. */
  loaded: boolean;
  runs: number;
  success: number;
  failed: number;
  success_rate: number | null;
  last_execution_id: string | null;
  last_run_at: string | null;
  last_status: string | null;
  /** When its schedule was paused (`workflow pause`), or null. */
  paused_at: string | null;
}

/** One run in a workflow's strip of recent runs (the dashboard's overview). */
export interface RecentRun {
  id: string;
  status: string;
  trigger: string;
  started_at: string;
  duration_seconds: number | null;
}

/** What per-day figures need of a run. */
export interface RunTiming {
  workflow_name: string;
  started_at: string;
  status: string;
  duration_seconds: number | null;
}

export interface AttemptOutput {
  /** The attempt's row as of this read. */
  row: AttemptRow;
  /** Final output once the attempt ended; null while it runs. */
  stdout: string | null;
  stderr: string | null;
  /** Live output written so far (only while running), after the chunk id asked for. */
  chunks: { id: number; stream: "stdout" | "stderr"; data: string }[];
}

const EXECUTION_COLUMNS = `id, workflow_name, started_at, finished_at, status, duration_seconds, total_tasks,
  successful_tasks, failed_tasks, created_at, trigger, owner_pid, error_message, workflow_file, retry_of`;
const ATTEMPT_COLUMNS = `id, workflow_execution_id, task_name, status, started_at, finished_at, exit_code, attempt,
  error_message, duration_seconds, http_status, created_at, retry_at, tolerated, handler, reused_from`;

/** `part` of `whole` as a percentage rounded to two decimals, like the spec's success-rate query; null for none. */
export function rate(part: number, whole: number): number | null {
  return whole > 0 ? Math.round((10000 * part) / whole) / 100 : null;
}

/** Open the history at `path` for reading. Missing, empty, corrupt or foreign files: DatabaseError (exit 6). */
export function openHistory(path: string): History {
  let size: number | undefined;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new DatabaseError(`${path}: is a directory, not a database file`);
    size = st.size;
  } catch (err) {
    if (err instanceof DatabaseError) throw err;
  }
  if (size === 0) throw new NothingRecordedError(`${path}: the database is empty (nothing has been recorded yet)`);
  return new History(openDatabase(path, { readonly: true }), path);
}

export class History {
  constructor(
    private readonly db: Database,
    readonly path: string,
  ) {}

  close(): void {
    this.db.close();
  }

  /** Run `fn` in one read transaction (one snapshot); SQLite errors become DatabaseError. */
  private read<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).deferred();
    } catch (err) {
      if (err instanceof DatabaseError) throw err;
      throw databaseError(this.path, err);
    }
  }

  /** Run `fn`, and the reads it makes, in one snapshot: answers built from several reads agree. */
  snapshot<T>(fn: () => T): T {
    return this.read(fn);
  }

  /** True if the database knows the workflow (from a run or the workflows table). */
  hasWorkflow(name: string): boolean {
    return this.read(
      () =>
        this.db
          .query(`SELECT 1 FROM workflows WHERE name = ?1 UNION ALL SELECT 1 FROM workflow_executions WHERE workflow_name = ?1 LIMIT 1`)
          .get(name) !== null,
    );
  }

  /** When `name`'s schedule was paused (`workflow pause`), or null. */
  pausedAt(name: string): string | null {
    return this.read(() => pausedWorkflows(this.db).get(name) ?? null);
  }

  /** Every workflow name the database knows (from runs or the workflows table), sorted. */
  workflowNames(): string[] {
    return this.read(() =>
      (
        this.db
          .query(`SELECT name FROM workflows UNION SELECT DISTINCT workflow_name FROM workflow_executions ORDER BY 1`)
          .all() as { name: string }[]
      ).map((r) => r.name),
    );
  }

  /** The latest run (skipped triggers aside) of each workflow, or every running run. */
  latestRuns(opts: { workflow?: string; runningOnly?: boolean }): RunDetail[] {
    return this.read(() => {
      const where: string[] = [];
      const params: string[] = [];
      if (opts.workflow !== undefined) {
        where.push("workflow_name = ?");
        params.push(opts.workflow);
      }
      if (opts.runningOnly) {
        where.push("status IN ('pending', 'running')");
      } else {
        // One indexed lookup (workflow_name, started_at) per workflow, not a scan of all runs.
        where.push(`id IN (SELECT (SELECT e.id FROM workflow_executions e
            WHERE e.workflow_name = n.workflow_name AND e.status != 'skipped'
            ORDER BY e.started_at DESC, e.rowid DESC LIMIT 1)
          FROM (SELECT DISTINCT workflow_name FROM workflow_executions) n)`);
      }
      const runs = this.db
        .query(
          `SELECT ${EXECUTION_COLUMNS}, owner_identity, task_names FROM workflow_executions
           WHERE ${where.join(" AND ")} ORDER BY workflow_name, started_at DESC`,
        )
        .all(...params) as (ExecutionRow & { owner_identity: string | null; task_names: string | null })[];
      return runs.map((r) => this.detail(r));
    });
  }

  /** One run with its tasks, by id. */
  runDetail(id: string): RunDetail | null {
    return this.read(() => {
      const r = this.db
        .query(`SELECT ${EXECUTION_COLUMNS}, owner_identity, task_names FROM workflow_executions WHERE id = ?`)
        .get(id) as (ExecutionRow & { owner_identity: string | null; task_names: string | null }) | null;
      return r ? this.detail(r) : null;
    });
  }

  private detail(r: ExecutionRow & { owner_identity: string | null; task_names: string | null }): RunDetail {
    const attempts = this.db
      .query(`SELECT ${ATTEMPT_COLUMNS} FROM task_executions WHERE workflow_execution_id = ? ORDER BY started_at, rowid`)
      .all(r.id) as AttemptRow[];
    const skipped = this.db
      .query(`SELECT task_name, reason FROM skipped_tasks WHERE workflow_execution_id = ?`)
      .all(r.id) as { task_name: string; reason: string }[];
    const skippedTriggers = (
      this.db
        .query(`SELECT count(*) AS n FROM workflow_executions WHERE workflow_name = ? AND status = 'skipped' AND started_at >= ? AND id != ?`)
        .get(r.workflow_name, r.started_at, r.id) as { n: number }
    ).n;
    const { task_names, ...row } = r;
    const dag = attempts.filter((a) => a.handler === null);
    return {
      ...row,
      tasks: taskStates(row, parseNames(task_names), dag, skipped),
      handlers: handlerStates(row, attempts),
      skipped_triggers: skippedTriggers,
    };
  }

  /** The notifications and healthcheck pings of a run, oldest first ([] before schema version 3). */
  deliveries(runId: string): DeliveryRow[] {
    return this.read(() => readDeliveries(this.db, runId));
  }

  /** Runs newest first, filtered. */
  history(f: HistoryFilter): ExecutionRow[] {
    return this.read(() => {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (f.workflow !== undefined) {
        where.push("workflow_name = ?");
        params.push(f.workflow);
      }
      if (f.status !== undefined) {
        where.push("status = ?");
        params.push(f.status);
      }
      if (f.since !== undefined) {
        where.push("started_at >= ?");
        params.push(f.since);
      }
      if (f.before !== undefined) {
        where.push("started_at < ?");
        params.push(f.before);
      }
      const sql =
        `SELECT ${EXECUTION_COLUMNS} FROM workflow_executions` +
        (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
        ` ORDER BY started_at DESC, rowid DESC` +
        (f.limit > 0 ? ` LIMIT ${Math.floor(f.limit)}` : "");
      return this.db.query(sql).all(...params) as ExecutionRow[];
    });
  }

  /** Owner pid and identity of each of the runs `ids`, to tell a live owner from a dead one. */
  owners(ids: string[]): Map<string, { pid: number | null; identity: string | null }> {
    return this.read(() => {
      const q = this.db.query(`SELECT owner_pid, owner_identity FROM workflow_executions WHERE id = ?`);
      const out = new Map<string, { pid: number | null; identity: string | null }>();
      for (const id of ids) {
        const r = q.get(id) as { owner_pid: number | null; owner_identity: string | null } | null;
        if (r) out.set(id, { pid: r.owner_pid, identity: r.owner_identity });
      }
      return out;
    });
  }

  /** Per-workflow and per-task figures for runs started at or after `since` (a stored time, store/time.ts). */
  stats(opts: { since: string; workflow?: string }): { workflows: WorkflowStats[]; tasks: TaskStats[] } {
    return this.read(() => {
      const filter = opts.workflow !== undefined ? "AND we.workflow_name = ?2" : "";
      const params = opts.workflow !== undefined ? [opts.since, opts.workflow] : [opts.since];
      const finished = "we.status IN ('success', 'failed') AND we.duration_seconds IS NOT NULL";
      const wf = this.db
        .query(
          `SELECT we.workflow_name,
             SUM(we.status != 'skipped') AS runs,
             SUM(we.status = 'success') AS success,
             SUM(we.status = 'failed') AS failed,
             SUM(we.status IN ('pending', 'running')) AS running,
             SUM(we.status = 'skipped') AS skipped,
             AVG(CASE WHEN ${finished} THEN we.duration_seconds END) AS avg_duration,
             MIN(CASE WHEN ${finished} THEN we.duration_seconds END) AS min_duration,
             MAX(CASE WHEN ${finished} THEN we.duration_seconds END) AS max_duration
           FROM workflow_executions we
           WHERE we.started_at >= ?1 ${filter}
           -- "+": group in a temporary b-tree, so SQLite walks the started_at index for the
           -- period instead of every run in workflow_name order (5x faster on 200k runs).
           GROUP BY +we.workflow_name ORDER BY 1`,
        )
        .all(...params) as Omit<WorkflowStats, "success_rate">[];
      const tasks = this.db
        .query(
          `SELECT we.workflow_name, te.task_name,
             -- Each run of a task has exactly one attempt 1, and at most one success (a success
             -- ends its retries): plain sums, no COUNT(DISTINCT) sorts.
             SUM(te.attempt = 1) AS runs,
             SUM(te.status = 'success') AS success,
             SUM(te.attempt = 1 AND we.status IN ('pending', 'running'))
               - SUM(te.status = 'success' AND we.status IN ('pending', 'running')) AS running,
             COUNT(*) AS attempts,
             SUM(te.status = 'timeout') AS timeouts,
             AVG(CASE WHEN te.finished_at IS NOT NULL THEN te.duration_seconds END) AS avg_duration,
             MIN(CASE WHEN te.finished_at IS NOT NULL THEN te.duration_seconds END) AS min_duration,
             MAX(CASE WHEN te.finished_at IS NOT NULL THEN te.duration_seconds END) AS max_duration
           FROM task_executions te JOIN workflow_executions we ON we.id = te.workflow_execution_id
           -- An attempt starts after its run, so te.started_at >= ?1 changes no result; it lets
           -- SQLite use the attempts' started_at index instead of a join over every run.
           -- A retry's reused task ran in the execution it reuses: not a run or attempt here.
           WHERE we.started_at >= ?1 AND te.started_at >= ?1 AND te.status != 'reused' ${filter}
           GROUP BY we.workflow_name, te.task_name
           ORDER BY we.workflow_name, MIN(te.rowid)`,
        )
        .all(...params) as Omit<TaskStats, "success_rate" | "retries">[];
      this.declarationOrder(tasks);
      return {
        workflows: wf.map((w) => ({
          workflow_name: w.workflow_name,
          runs: w.runs,
          success: w.success,
          failed: w.failed,
          running: w.running,
          skipped: w.skipped,
          success_rate: rate(w.success, w.success + w.failed),
          avg_duration: w.avg_duration,
          min_duration: w.min_duration,
          max_duration: w.max_duration,
        })),
        tasks: tasks.map((t) => ({
          workflow_name: t.workflow_name,
          task_name: t.task_name,
          runs: t.runs,
          success: t.success,
          running: t.running,
          success_rate: rate(t.success, t.runs - t.running),
          attempts: t.attempts,
          retries: t.attempts - t.runs,
          timeouts: t.timeouts,
          avg_duration: t.avg_duration,
          min_duration: t.min_duration,
          max_duration: t.max_duration,
        })),
      };
    });
  }

  /**
   * Sort per-task rows (grouped by workflow) in each workflow's declaration order, as its
   * latest run lists its tasks; tasks it no longer has follow, in the order they first ran.
   */
  private declarationOrder(tasks: { workflow_name: string; task_name: string }[]): void {
    const latest = this.db.query(
      `SELECT task_names FROM workflow_executions WHERE workflow_name = ? AND status != 'skipped'
       ORDER BY started_at DESC, rowid DESC LIMIT 1`,
    );
    const order = new Map<string, Map<string, number>>();
    const rank = (t: { workflow_name: string; task_name: string }) => {
      let names = order.get(t.workflow_name);
      if (!names) {
        const row = latest.get(t.workflow_name) as { task_names: string | null } | null;
        names = new Map(parseNames(row?.task_names ?? null).map((n, i) => [n, i]));
        order.set(t.workflow_name, names);
      }
      return names.get(t.task_name) ?? names.size;
    };
    const first = new Map(tasks.map((t, i) => [t, i]));
    // Stable within a workflow: rows of one workflow are contiguous and stay so.
    tasks.sort((a, b) =>
      a.workflow_name === b.workflow_name ? rank(a) - rank(b) || first.get(a)! - first.get(b)! : first.get(a)! - first.get(b)!,
    );
  }

  /**
   * Known workflows with their run counts and latest run. Without `all`, only workflows loaded
   * by a live daemon, or seen (loaded or run) at or after `activeSince`. `isAlive` tells a live
   * daemon from a stale state row (pid + identity, as sys/proc.ts checks them).
   */
  workflows(opts: { all: boolean; activeSince: string; isAlive: (pid: number, identity: string | null) => boolean }): WorkflowSummary[] {
    return this.read(() => {
      const loaded = this.loadedByDaemons(opts.isAlive);
      const paused = pausedWorkflows(this.db);
      const list = this.db
        .query(
          `WITH names AS (SELECT name FROM workflows UNION SELECT DISTINCT workflow_name FROM workflow_executions),
           counts AS (SELECT workflow_name, SUM(status != 'skipped') AS runs, SUM(status = 'success') AS success,
                        SUM(status = 'failed') AS failed, MAX(started_at) AS last_started
                      FROM workflow_executions GROUP BY +workflow_name)
           SELECT n.name, w.file, w.description, w.schedule, w.task_count, w.first_seen_at, w.last_seen_at,
             COALESCE(c.runs, 0) AS runs, COALESCE(c.success, 0) AS success, COALESCE(c.failed, 0) AS failed,
             c.last_started,
             (SELECT id FROM workflow_executions e WHERE e.workflow_name = n.name AND e.status != 'skipped'
                ORDER BY e.started_at DESC, e.rowid DESC LIMIT 1) AS last_execution_id
           FROM names n LEFT JOIN workflows w ON w.name = n.name LEFT JOIN counts c ON c.workflow_name = n.name
           ORDER BY n.name`,
        )
        .all() as (Omit<WorkflowSummary, "loaded" | "success_rate" | "last_run_at" | "last_status" | "paused_at"> & { last_started: string | null })[];
      const last = this.db.query(`SELECT started_at, status FROM workflow_executions WHERE id = ?`);
      const out: WorkflowSummary[] = [];
      for (const { last_started, ...w } of list) {
        // A paused schedule is listed however long ago it last ran: the pause is news.
        const active =
          loaded.has(w.name) ||
          paused.has(w.name) ||
          (w.last_seen_at !== null && w.last_seen_at >= opts.activeSince) ||
          (last_started !== null && last_started >= opts.activeSince);
        if (!opts.all && !active) continue;
        const l = w.last_execution_id ? (last.get(w.last_execution_id) as { started_at: string; status: string } | null) : null;
        out.push({
          ...w,
          loaded: loaded.has(w.name),
          success_rate: rate(w.success, w.success + w.failed),
          last_run_at: l?.started_at ?? null,
          last_status: l?.status ?? null,
          paused_at: paused.get(w.name) ?? null,
        });
      }
      return out;
    });
  }

  /** Names of the workflows that running daemons have loaded (from their daemon_state rows). */
  private loadedByDaemons(isAlive: (pid: number, identity: string | null) => boolean): Set<string> {
    const names = new Set<string>();
    if (!this.db.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'daemon_state'`).get()) return names;
    const states = this.db.query(`SELECT pid, identity, workflows FROM daemon_state`).all() as { pid: number; identity: string; workflows: string }[];
    for (const st of states) {
      if (!isAlive(st.pid, st.identity)) continue;
      // A state row we cannot read says nothing about what is loaded (decodeWorkflows: none).
      for (const w of decodeWorkflows(st.workflows).workflows) if (typeof w?.name === "string") names.add(w.name);
    }
    return names;
  }

  /** Latest run of a workflow that really ran (skipped triggers aside), or null. */
  latestExecutionId(workflow: string): string | null {
    return this.read(
      () =>
        (
          this.db
            .query(
              `SELECT id FROM workflow_executions WHERE workflow_name = ? AND status != 'skipped'
               ORDER BY started_at DESC, rowid DESC LIMIT 1`,
            )
            .get(workflow) as { id: string } | null
        )?.id ?? null,
    );
  }

  /** Executions whose id is `idOrPrefix` or starts with it (at most a few, for a clear "ambiguous" message). */
  findExecutions(idOrPrefix: string): { id: string; workflow_name: string }[] {
    // Ids are UUIDs: anything else matches nothing (and cannot smuggle LIKE wildcards).
    if (!/^[0-9a-f-]{1,36}$/i.test(idOrPrefix)) return [];
    const p = idOrPrefix.toLowerCase();
    return this.read(() => {
      const exact = this.db.query(`SELECT id, workflow_name FROM workflow_executions WHERE id = ?`).get(p) as { id: string; workflow_name: string } | null;
      if (exact) return [exact];
      return this.db
        .query(`SELECT id, workflow_name FROM workflow_executions WHERE substr(id, 1, ?) = ? ORDER BY started_at DESC LIMIT 5`)
        .all(p.length, p) as { id: string; workflow_name: string }[];
    });
  }

  /** A workflow's last `limit` runs, skipped triggers included, oldest first (one walk of idx_workflow_started). */
  recentRuns(workflow: string, limit: number): RecentRun[] {
    return this.read(() =>
      (
        this.db
          .query(
            `SELECT id, status, trigger, started_at, duration_seconds FROM workflow_executions
             WHERE workflow_name = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`,
          )
          .all(workflow, limit) as RecentRun[]
      ).reverse(),
    );
  }

  /**
   * The runs (skipped triggers aside) that started at or after `since` (a stored time), for
   * per-day figures: what each needs, ordered by workflow and start.
   */
  runsSince(since: string, workflow?: string): RunTiming[] {
    return this.read(() => {
      const filter = workflow !== undefined ? "AND workflow_name = ?2" : "";
      const params = workflow !== undefined ? [since, workflow] : [since];
      return this.db
        .query(
          `SELECT workflow_name, started_at, status, duration_seconds FROM workflow_executions
           WHERE started_at >= ?1 AND status != 'skipped' ${filter} ORDER BY workflow_name, started_at`,
        )
        .all(...params) as RunTiming[];
    });
  }

  /**
   * The dependencies a run recorded (task_needs: task -> the tasks of the run it depends on),
   * or null for a run recorded before they were kept (or an unreadable value).
   */
  taskNeeds(runId: string): Record<string, string[]> | null {
    return this.read(() => {
      const r = this.db.query(`SELECT task_needs FROM workflow_executions WHERE id = ?`).get(runId) as { task_needs: string | null } | null;
      if (!r?.task_needs) return null;
      try {
        const v = JSON.parse(r.task_needs);
        if (!v || typeof v !== "object" || Array.isArray(v)) return null;
        const out: Record<string, string[]> = {};
        for (const [k, deps] of Object.entries(v)) if (Array.isArray(deps)) out[k] = deps.filter((d): d is string => typeof d === "string");
        return out;
      } catch {
        return null;
      }
    });
  }

  /** The per-task fingerprints stored with a run (plan.ts taskHash), or null (older runs). */
  taskHashes(runId: string): Record<string, string> | null {
    return this.read(() => {
      const r = this.db.query(`SELECT task_hashes FROM workflow_executions WHERE id = ?`).get(runId) as { task_hashes: string | null } | null;
      if (!r?.task_hashes) return null;
      try {
        const v = JSON.parse(r.task_hashes);
        return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, string>) : null;
      } catch {
        return null;
      }
    });
  }

  /** A run's row plus its attempts (no output), in one snapshot. */
  runAttempts(runId: string): { run: ExecutionRow & { owner_identity: string | null; task_names: string[] }; attempts: AttemptRow[]; skipped: Map<string, string> } | null {
    return this.read(() => {
      const r = this.db
        .query(`SELECT ${EXECUTION_COLUMNS}, owner_identity, task_names FROM workflow_executions WHERE id = ?`)
        .get(runId) as (ExecutionRow & { owner_identity: string | null; task_names: string | null }) | null;
      if (!r) return null;
      const attempts = this.db
        .query(`SELECT ${ATTEMPT_COLUMNS} FROM task_executions WHERE workflow_execution_id = ? ORDER BY started_at, rowid`)
        .all(runId) as AttemptRow[];
      const skipped = this.db
        .query(`SELECT task_name, reason FROM skipped_tasks WHERE workflow_execution_id = ?`)
        .all(runId) as { task_name: string; reason: string }[];
      return { run: { ...r, task_names: parseNames(r.task_names) }, attempts, skipped: new Map(skipped.map((s) => [s.task_name, s.reason])) };
    });
  }

  /**
   * Output of one attempt: the stored stdout/stderr once it ended, else the live chunks after
   * `afterChunk`. Row and chunks come from one snapshot: the runner writes the final output and
   * deletes the chunks in one transaction, so nothing is lost or seen twice across that switch.
   */
  attemptOutput(attemptId: string, afterChunk = 0): AttemptOutput | null {
    return this.read(() => {
      const row = this.db.query(`SELECT ${ATTEMPT_COLUMNS}, stdout, stderr FROM task_executions WHERE id = ?`).get(attemptId) as
        | (AttemptRow & { stdout: string | null; stderr: string | null })
        | null;
      if (!row) return null;
      const { stdout, stderr, ...meta } = row;
      if (row.finished_at !== null || (row.status !== "running" && row.status !== "pending")) {
        return { row: meta, stdout: stdout ?? "", stderr: stderr ?? "", chunks: [] };
      }
      const chunks = this.db
        .query(`SELECT id, stream, data FROM task_output_chunks WHERE task_execution_id = ? AND id > ? ORDER BY id`)
        .all(attemptId, afterChunk) as AttemptOutput["chunks"];
      return { row: meta, stdout: null, stderr: null, chunks };
    });
  }
}

function parseNames(json: string | null): string[] {
  if (!json) return [];
  try {
    const v = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

/**
 * Fold a run's attempts into one state per task, in the workflow's declaration order (tasks the
 * run does not list come after, in the order they started). Tasks without an attempt are
 * "pending" while the run goes on, else "skipped" with the recorded reason.
 */
export function taskStates(
  run: { status: string; error_message: string | null },
  names: string[],
  attempts: AttemptRow[],
  skipped: { task_name: string; reason: string }[],
): TaskState[] {
  const byTask = new Map<string, AttemptRow[]>();
  for (const a of attempts) {
    let list = byTask.get(a.task_name);
    if (!list) byTask.set(a.task_name, (list = []));
    list.push(a);
  }
  const order = [...names];
  for (const t of byTask.keys()) if (!order.includes(t)) order.push(t);
  for (const s of skipped) if (!order.includes(s.task_name)) order.push(s.task_name);
  const reasons = new Map(skipped.map((s) => [s.task_name, s.reason]));
  const live = run.status === "running" || run.status === "pending";
  return order.map((name) => {
    const list = byTask.get(name);
    if (!list) {
      const reason = reasons.get(name) ?? (live ? null : notStarted(run));
      return {
        task_name: name,
        status: reasons.has(name) || !live ? "skipped" : "pending",
        attempts: 0,
        next_attempt: null,
        retry_at: null,
        tolerated: false,
        duration_seconds: null,
        exit_code: null,
        http_status: null,
        started_at: null,
        finished_at: null,
        error_message: null,
        reason,
        reused_from: null,
      };
    }
    list.sort((a, b) => a.attempt - b.attempt);
    const last = list[list.length - 1]!;
    const done = list.filter((a) => a.duration_seconds !== null);
    const retrying = last.status === "retrying";
    // A reused task has one row and no attempt of its own.
    const reused = last.status === "reused";
    return {
      task_name: name,
      status: last.status,
      attempts: reused ? 0 : list.length,
      next_attempt: retrying ? last.attempt + 1 : null,
      retry_at: retrying ? last.retry_at : null,
      tolerated: Boolean(last.tolerated),
      duration_seconds: done.length ? done.reduce((s, a) => s + a.duration_seconds!, 0) : null,
      exit_code: last.exit_code,
      http_status: last.http_status,
      started_at: list[0]!.started_at,
      finished_at: last.finished_at,
      error_message: last.error_message,
      reason: null,
      reused_from: last.reused_from,
    };
  });
}

/** The handlers' attempts folded like tasks', in the order the handlers started. */
export function handlerStates(run: { status: string; error_message: string | null }, attempts: AttemptRow[]): HandlerState[] {
  const list = attempts.filter((a) => a.handler !== null);
  if (!list.length) return [];
  const kinds = new Map(list.map((a) => [a.task_name, a.handler!]));
  return taskStates(run, [...kinds.keys()], list, []).map((t) => ({ ...t, handler: kinds.get(t.task_name)! }));
}

/**
 * Why a task of a finished run has no attempt, when the run recorded no reason for it: the
 * run's own error. A skipped trigger's reason is the run's, shown once, in its status.
 */
function notStarted(run: { status: string; error_message: string | null }): string {
  if (run.status === "skipped") return "not started: the trigger was skipped";
  return run.error_message ? `not started: ${run.error_message}` : "not started";
}
