// What the engine needs from storage, as an interface: the runner never sees SQLite.

import type { ExecResult, OutputStream } from "../executors/types.ts";
import type { HandlerKind, Workflow } from "../workflow/types.ts";

export type Trigger = "manual" | "schedule";
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

/** Records one run as it happens. Every call is durable when it returns. */
export interface RunRecorder {
  startRun(wf: Workflow, trigger: Trigger): string;
  /** `handler`: the handler list of a handler's attempt (marked in the record); absent for a task of the DAG. */
  startAttempt(runId: string, task: string, attempt: number, handler?: HandlerKind): string;
  /** Output of a still-running attempt, so other processes can follow it. */
  appendOutput(attemptId: string, stream: OutputStream, text: string): void;
  /** The attempt's local process group, so a crash can be cleaned up by the next start. */
  attemptSpawned(attemptId: string, pid: number): void;
  finishAttempt(attemptId: string, result: ExecResult, durationSeconds: number, end?: AttemptEnd): void;
  finishRun(runId: string, finish: RunFinish): void;
}
