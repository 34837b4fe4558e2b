// The one interface every executor implements. Executors know nothing about SQLite or the DAG.

import type { Logger } from "../log.ts";

/** Why an attempt was stopped; set as the AbortSignal's reason by the runner. */
export type StopReason = { kind: "timeout"; seconds: number } | { kind: "interrupt"; signal: string };

export type OutputStream = "stdout" | "stderr";

export interface ExecContext {
  /** Aborted on timeout or interrupt; `signal.reason` is a StopReason. */
  signal: AbortSignal;
  /** Environment a local process inherits (config.env goes on top). */
  env: Record<string, string | undefined>;
  /** The run and attempt this is; a local process carries them in its environment (crash recovery). */
  runId: string;
  attemptId: string;
  /** Time between SIGTERM and SIGKILL when a process is stopped. */
  killGraceMs: number;
  /** Bytes kept per stream; the rest is drained and counted, not stored. */
  outputLimit: number;
  /** Kept output as it arrives, for live `logs --follow`. */
  onOutput?: (stream: OutputStream, text: string) => void;
  /** A local process was started (leader of its own process group), for crash recovery. */
  onSpawn?: (pid: number, identity?: string) => void;
  log: Logger;
  /** The task's name and this attempt's number (1 = the first of the run): a note given once per run, not per retry. */
  task: string;
  attempt: number;
  /**
   * The task's secrets masked in `text`. The runner masks the result anyway; an executor that
   * quotes only the start of some output must mask first, or a cut could leave half a secret.
   */
  mask: (text: string) => string;
}

/** What one attempt produced. A failing task is a result, not an exception. */
export interface ExecResult {
  status: "success" | "failed" | "timeout";
  /** Exit code (shell/ssh), 0/1 for http; null when there was none. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** One line saying what went wrong, if anything did. */
  error?: string;
  /** HTTP status, when the executor is http. */
  httpStatus?: number;
  /**
   * Retrying cannot help: the command could not be started at all (not found, not
   * executable, no such workdir). The runner makes no further attempt.
   */
  permanent?: boolean;
  /**
   * The attempt failed to connect, or lost its connection (ssh exit 255; HTTP connect, DNS,
   * TLS or reset). `run` exits 7 when such failures alone failed the run.
   */
  network?: boolean;
}

export interface Executor<Config> {
  run(config: Config, ctx: ExecContext): Promise<ExecResult>;
}

export function stopReason(signal: AbortSignal): StopReason | undefined {
  return signal.aborted ? (signal.reason as StopReason) : undefined;
}

/** The result for an attempt stopped by the runner, in the words of its reason. */
export function stoppedResult(reason: StopReason, out: { stdout: string; stderr: string }, timeoutExit: number): ExecResult {
  if (reason.kind === "timeout") {
    return { status: "timeout", exitCode: timeoutExit, ...out, error: `timed out after ${reason.seconds}s` };
  }
  return { status: "failed", exitCode: null, ...out, error: `interrupted by ${reason.signal}` };
}
