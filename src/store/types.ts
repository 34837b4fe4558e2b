// What the engine needs from storage, as an interface: the runner never sees SQLite.

import type { ExecResult, OutputStream } from "../executors/types.ts";
import type { HandlerKind, Workflow } from "../workflow/types.ts";

/**
 * What started a run: `run` (manual), the schedule, `picoflow trigger` through the daemon,
 * `picoflow retry` of a failed execution, or the daemon catching up a missed fire time.
 */
export type Trigger = "manual" | "schedule" | "trigger" | "retry" | "catchup";
export type RunStatus = "pending" | "running" | "success" | "failed";

export interface RunFinish {
  status: "success" | "failed";
  /** The run's duration as its summary shows it (NULL when not given). */
  durationSeconds?: number;
  successfulTasks: number;
  failedTasks: number;
  /** Why the run failed as a whole (interrupted, store error), if not just a task failure. */
  error?: string;
  /** Tasks that never started, with the reason. */
  skipped: { task: string; reason: string }[];
}

/** How an attempt ended, beyond its result. */
export interface AttemptEnd {
  /**
   * Another attempt follows at this time: until it starts, the row reads `retrying` with this
   * `retry_at`; then (or when the run ends first) it gets the result's own status.
   */
  retryAt?: Date;
  /** The task's final failure, tolerated by continue_on_failure. */
  tolerated?: boolean;
}

/** More about a run's start: what part of the workflow it runs, what it retries. */
export interface RunStart {
  /** The tasks of the run, in declaration order (task_names, total_tasks); default: all of the workflow's. */
  tasks?: readonly string[];
  /** The execution a retry re-runs (retry_of). */
  retryOf?: string;
  /** Tasks a retry does not run again, each with the execution whose success it reuses: rows with status `reused`. */
  reused?: readonly { task: string; from: string }[];
  /** Per-task fingerprints of the definitions run (plan.ts taskHash), so a later retry can say what changed. */
  taskHashes?: Record<string, string>;
  /** The fire time a scheduled or catch-up run is for (scheduled_for): a missed time is caught up once. */
  scheduledFor?: Date;
  /**
   * Called when a deferred write of this run fails (a full disk): the run's store error, as
   * if the call that queued the write had thrown. See RunRecorder.
   */
  onError?: (err: unknown) => void;
}

/**
 * Records one run as it happens. startRun and finishRun are durable when they return; the
 * attempt calls in between may be committed a few milliseconds later, together with others
 * (group commit). A write that fails then is reported to the run's RunStart.onError.
 */
export interface RunRecorder {
  startRun(wf: Workflow, trigger: Trigger, start?: RunStart): string;
  /** `handler`: the handler list of a handler's attempt (marked in the record); absent for a task of the DAG. */
  startAttempt(runId: string, task: string, attempt: number, handler?: HandlerKind): string;
  /** Output of a still-running attempt, so other processes can follow it. */
  appendOutput(attemptId: string, stream: OutputStream, text: string): void;
  /**
   * The attempt's local process group, so a crash can be cleaned up by the next start.
   * `identity`: its "bootid:starttime" when the spawner knows it (sys/proc.ts spawnedIdentity).
   */
  attemptSpawned(attemptId: string, pid: number, identity?: string): void;
  finishAttempt(attemptId: string, result: ExecResult, durationSeconds: number, end?: AttemptEnd): void;
  finishRun(runId: string, finish: RunFinish): void;
}
