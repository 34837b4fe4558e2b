// `picoflow logs`: the stored stdout/stderr of each attempt of a run (the latest by default), and
// with --follow the live output of tasks that are still running in another process.

import { ConfigError, IoError } from "../errors.ts";
import type { AttemptRow, History } from "../store/queries.ts";
import { isProcessAlive } from "../sys/proc.ts";
import { createContext, type GlobalOptions } from "./context.ts";
import { formatDuration, localTime, paint, statusColour } from "./format.ts";
import { answeredBeforeFirstRun, intOption, requireWorkflow, resolveExecution, textOption, withHistory, workflowOption } from "./read.ts";

/** How often --follow looks for new output. The runner writes live output every ~500 ms. */
export const FOLLOW_POLL_MS = 250;

export interface LogsOptions extends GlobalOptions {
  workflow?: unknown;
  task?: unknown;
  executionId?: unknown;
  tail?: unknown;
  follow?: boolean;
}

type Stream = "stdout" | "stderr";

export async function logsCommand(positional: unknown, opts: LogsOptions): Promise<void> {
  const workflow = workflowOption(positional, opts.workflow);
  const task = textOption(opts.task, "--task");
  const executionId = textOption(opts.executionId, "--execution-id");
  const tail = intOption(opts.tail, "--tail", 100, 0, 1_000_000_000);
  if (workflow === undefined && executionId === undefined) {
    throw new ConfigError("logs needs --workflow NAME (or --execution-id ID)");
  }
  const ctx = createContext(opts);
  // No database yet: whatever was named is not found (exit 5), as the spec has it for logs.
  answeredBeforeFirstRun(ctx, "table", { workflow, executionId });
  await withHistory(ctx, async (h) => {
    const runId = pickRun(h, workflow, executionId);
    const view = new LogView(h, runId, task, tail, ctx.out, paint(ctx.tty));
    let state = view.poll(true);
    if (opts.follow) {
      while (state === "live") {
        await Bun.sleep(FOLLOW_POLL_MS);
        state = view.poll(false);
      }
      if (state === "abandoned") {
        ctx.log.warn("stopped following: the process running this execution is gone", { execution_id: runId });
      }
    }
    view.finish(state);
    if (opts.follow) process.exitCode = view.runExitCode(state);
  });
}

function pickRun(h: History, workflow: string | undefined, executionId: string | undefined): string {
  if (executionId !== undefined) {
    const e = resolveExecution(h, executionId);
    if (workflow !== undefined && e.workflow_name !== workflow) {
      requireWorkflow(h, workflow);
      throw new IoError(`execution ${e.id} is a run of '${e.workflow_name}', not of '${workflow}'`);
    }
    return e.id;
  }
  requireWorkflow(h, workflow!);
  const id = h.latestExecutionId(workflow!);
  if (id === null) throw new IoError(`no runs of '${workflow}' recorded yet`);
  return id;
}

interface LiveAttempt {
  row: AttemptRow;
  /** Seen running: its output is printed as it comes, its outcome last. */
  live: boolean;
  done: boolean;
  lastChunk: number;
  /** Characters of each stream already accounted for (printed, or cut by --tail). */
  seen: Record<Stream, number>;
}

/** Prints one run's attempts; call poll() repeatedly to follow it. */
class LogView {
  private readonly attempts = new Map<string, LiveAttempt>();
  private headerDone = false;
  /** The attempt and stream the last printed output belongs to, for "==> ... <==" headers. */
  private current = "";
  /** Whether the last text printed ended a line. */
  private atLineStart = true;
  private names: string[] = [];
  private skipped = new Map<string, string>();
  private runStatus = "";
  private runError: string | null = null;

  constructor(
    private readonly h: History,
    private readonly runId: string,
    private readonly task: string | undefined,
    private readonly tail: number,
    private readonly write: (s: string) => void,
    private readonly c: ReturnType<typeof paint>,
  ) {}

  /**
   * Print what is new. Returns "live" while the run goes on, "ended" once it has ended and every
   * attempt's final output is printed, "abandoned" if its owning process is gone.
   */
  poll(first: boolean): "live" | "ended" | "abandoned" {
    const snap = this.h.runAttempts(this.runId);
    if (!snap) throw new IoError(`execution ${this.runId} is no longer in ${this.h.path} (deleted by retention?)`);
    const { run, attempts, skipped } = snap;
    this.names = run.task_names;
    this.skipped = skipped;
    this.runStatus = run.status;
    this.runError = run.error_message;
    if (this.task !== undefined && !run.task_names.includes(this.task) && !attempts.some((a) => a.task_name === this.task)) {
      const known = run.task_names.length ? ` (tasks: ${run.task_names.join(", ")})` : "";
      throw new IoError(`no task '${this.task}' in execution ${run.id} of '${run.workflow_name}'${known}`);
    }
    if (!this.headerDone) {
      this.headerDone = true;
      this.line(
        `${this.c("bold", `Execution ${run.id}`)} of ${run.workflow_name}: ${this.c(statusColour(run.status), run.status)}, started ${localTime(run.started_at)}`,
      );
    }
    const live = run.status === "running" || run.status === "pending";
    for (const a of attempts) {
      if (this.task !== undefined && a.task_name !== this.task) continue;
      let s = this.attempts.get(a.id);
      if (!s) {
        s = { row: a, live: a.finished_at === null, done: false, lastChunk: 0, seen: { stdout: 0, stderr: 0 } };
        this.attempts.set(a.id, s);
        if (s.live) this.line(this.c("dim", `--- ${label(a)} #${a.attempt}: running, started ${localTime(a.started_at)}`));
      }
      if (!s.done) this.printAttempt(s, first);
    }
    if (!live) return "ended";
    if (run.owner_pid !== null && !isProcessAlive(run.owner_pid, run.owner_identity)) return "abandoned";
    return "live";
  }

  /**
   * The code `picoflow run` exits with for this run, as far as the record tells: 0 success (or a
   * trigger skipped for overlap: nothing ran, nothing failed), 9 interrupted (by a signal, or
   * its process is gone: recovery records that as interrupted too), else 3. The record does
   * not say whether failures were all connection failures or timeouts (run's 7 and 8).
   */
  runExitCode(state: "live" | "ended" | "abandoned"): number {
    if (state === "abandoned" || (this.runStatus === "failed" && /^interrupted\b/.test(this.runError ?? ""))) return 9;
    return this.runStatus === "failed" ? 3 : 0;
  }

  /** After the last poll: say which tasks never started (or wait), and how the run ended. */
  finish(state: "live" | "ended" | "abandoned"): void {
    const ended = state === "ended";
    const started = new Set([...this.attempts.values()].map((a) => a.row.task_name));
    const waiting = this.names.filter((n) => !started.has(n) && (this.task === undefined || n === this.task));
    for (const n of waiting) {
      const why = this.skipped.get(n) ?? (!ended ? "pending" : this.runError ? `not started: ${this.runError}` : "not started");
      this.line(this.c("dim", `--- ${n}: ${why}`));
    }
    const status = this.c(statusColour(this.runStatus), this.runStatus);
    if (ended) this.line(`Execution ${this.runId}: ${status}`);
    else if (state === "abandoned") {
      // Recorded as running, but nobody runs it: the next run or daemon start closes it.
      this.line(`Execution ${this.runId} is recorded as ${status}, but the process running it is gone; the next 'picoflow run' or 'daemon start' marks it failed`);
    } else this.line(`Execution ${this.runId} is still ${status} (--follow keeps watching)`);
  }

  private printAttempt(s: LiveAttempt, first: boolean): void {
    const out = this.h.attemptOutput(s.row.id, s.lastChunk);
    if (!out) return;
    const a = out.row;
    const header = (stream: Stream) => {
      const key = `${a.id}:${stream}`;
      if (this.current === key) return;
      this.current = key;
      this.line(this.c("dim", `==> ${label(a)} #${a.attempt} ${stream} <==`));
    };
    if (out.stdout === null) {
      // Still running: live chunks. On the first look the backlog is cut to --tail per stream.
      if (first && this.tail > 0) {
        for (const stream of ["stdout", "stderr"] as const) {
          const text = out.chunks.filter((c) => c.stream === stream).map((c) => c.data).join("");
          if (!text) continue;
          header(stream);
          this.text(tailLines(text, this.tail));
          s.seen[stream] += text.length;
        }
      } else {
        for (const c of out.chunks) {
          header(c.stream);
          this.text(c.data);
          s.seen[c.stream] += c.data.length;
        }
      }
      if (out.chunks.length) s.lastChunk = out.chunks[out.chunks.length - 1]!.id;
      return;
    }
    // Ended: the stored output is complete. An attempt we watched live gets what its chunks did
    // not show yet, then its outcome; one that ended before we looked gets outcome, then output.
    if (!s.live) this.line(this.c("bold", `--- ${attemptLine(a, this.c)}`));
    let any = false;
    for (const stream of ["stdout", "stderr"] as const) {
      let text = out[stream]!.slice(s.seen[stream]);
      if (!text) continue;
      any = true;
      if (!s.live && this.tail > 0) text = tailLines(text, this.tail);
      header(stream);
      this.text(text);
    }
    if (!s.live && !any) this.line(this.c("dim", "(no output)"));
    if (s.live) this.line(this.c("bold", `--- ${attemptLine(a, this.c)}`));
    this.current = "";
    s.done = true;
  }

  private text(t: string): void {
    if (!t) return;
    this.write(t);
    this.atLineStart = t.endsWith("\n");
  }

  private line(t: string): void {
    this.write((this.atLineStart ? "" : "\n") + t + "\n");
    this.atLineStart = true;
  }
}

/** "fetch #2: failed, exit 1, 0.51s, started 2026-11-26 09:17:42 (exited with code 1)" */
function attemptLine(a: AttemptRow, c: ReturnType<typeof paint>): string {
  // A retry's reused task did not run here: its output is in the execution it reuses.
  if (a.reused_from) return `${label(a)}: ${c(statusColour(a.status), a.status)}, the success of execution ${a.reused_from} (its output is there)`;
  const parts = [c(statusColour(a.status), a.status)];
  if (a.exit_code !== null) parts.push(`exit ${a.exit_code}`);
  if (a.http_status !== null) parts.push(`HTTP ${a.http_status}`);
  if (a.duration_seconds !== null) parts.push(formatDuration(a.duration_seconds));
  parts.push(`started ${localTime(a.started_at)}`);
  return `${label(a)} #${a.attempt}: ${parts.join(", ")}${a.error_message ? ` (${a.error_message})` : ""}`;
}

/** A task's name; a handler's marked: "tell_me (on_failure handler)". */
function label(a: AttemptRow): string {
  return a.handler ? `${a.task_name} (${a.handler} handler)` : a.task_name;
}

/** The last `n` lines of `text`, with a note of how many were left out. */
export function tailLines(text: string, n: number): string {
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  const lines = body.split("\n");
  if (lines.length <= n) return text;
  const cut = lines.length - n;
  return `[... ${cut} earlier line${cut === 1 ? "" : "s"}; --tail 0 shows all]\n` + lines.slice(cut).join("\n") + (text.endsWith("\n") ? "\n" : "");
}
