// Live progress of `run` on stdout: a line per task start, retry and finish, then a summary.

import type { RunEvents } from "../engine/events.ts";
import type { RunSummary } from "../engine/runner.ts";
import { formatDuration, paint, statusColour, table } from "./format.ts";

/** `capNote`: a line saying the config lowers the workflow's max_parallel (see capNote in format.ts). */
export function attachProgress(events: RunEvents, print: (s: string) => void, colour: boolean, capNote?: string | null): void {
  const c = paint(colour);
  // The lines of one turn of the event loop go out in one write: a chain ends a task and
  // starts the next in the same turn (a write per line was two per task). The run's end
  // flushes them, before the summary.
  let pending = "";
  const flush = () => {
    const text = pending;
    pending = "";
    if (text) print(text);
  };
  const out = (s: string) => {
    if (!pending) setImmediate(flush);
    pending += s;
  };
  // HH:MM:SS, formatted once a second: a fast chain prints two lines per task.
  let second = -1;
  let shown = "";
  const clock = () => {
    const now = Date.now();
    if (Math.floor(now / 1000) !== second) {
      second = Math.floor(now / 1000);
      shown = new Date(now).toTimeString().slice(0, 8);
    }
    return shown;
  };
  events.on("run:start", (e) => {
    out(`${c("bold", `Running ${e.workflow}`)} (${e.totalTasks} task${e.totalTasks === 1 ? "" : "s"}), execution ${e.runId}\n`);
    if (capNote) out(`${c("dim", capNote)}\n`);
  });
  events.on("task:start", (e) => {
    const of = e.maxAttempts > 1 ? ` (attempt ${e.attempt}/${e.maxAttempts})` : "";
    out(`${clock()} ${c("dim", "start")}    ${e.task}${mark(e.handler)}${of}\n`);
  });
  events.on("task:finish", (e) => {
    const ok = e.result.status === "success";
    const word = ok ? "success" : e.result.status;
    const label = c(statusColour(word), word.padEnd(8));
    const why = ok ? "" : ` ${e.result.error ?? ""}`;
    const of = e.maxAttempts > 1 ? ` attempt ${e.attempt}/${e.maxAttempts}` : "";
    out(`${clock()} ${label} ${e.task}${mark(e.handler)} in ${formatDuration(e.durationSeconds)}${of}${why}\n`);
  });
  events.on("task:retry", (e) => {
    out(`${clock()} ${c("yellow", "retry   ")} ${e.task}${mark(e.handler)} attempt ${e.nextAttempt}/${e.maxAttempts} in ${formatDuration(e.delaySeconds)}\n`);
  });
  events.on("run:finish", flush);
}

export function formatSummary(s: RunSummary, colour: boolean): string {
  const c = paint(colour);
  const ok = s.tasks.filter((t) => t.status === "success").length;
  const head =
    `\nExecution ${s.runId}\n` +
    `Workflow  ${s.workflow}: ${c(statusColour(s.status), s.status)} in ${formatDuration(s.durationSeconds)}` +
    ` (${ok}/${s.tasks.length} tasks succeeded${s.interrupted ? `, interrupted by ${s.interrupted}` : ""})\n\n`;
  const rows = s.tasks.map((t) => {
    // A retry's reused task: as `status` shows it, with the execution whose success it reuses.
    if (t.reusedFrom) return [t.name, c(statusColour("reused"), "reused"), 0, formatDuration(null), null, `success of execution ${t.reusedFrom.slice(0, 8)}`];
    const note = t.reason ?? (t.status === "success" ? "" : (t.error ?? ""));
    // As `status` shows it: the failure happened, and continue_on_failure let the run go on.
    const status = t.tolerated ? c("yellow", `${t.status} (tolerated)`) : c(statusColour(t.status), t.status);
    return [t.name, status, t.attempts, formatDuration(t.attempts ? t.durationSeconds : null), t.exitCode, note];
  });
  let text = head + table(["TASK", "STATUS", { header: "ATTEMPTS", right: true }, { header: "DURATION", right: true }, { header: "EXIT", right: true }, "NOTE"], rows);
  // Handlers apart: their outcome is not the run's.
  if (s.handlers?.length) {
    const hrows = s.handlers.map((h) => {
      const note = h.reason ?? (h.status === "success" ? "" : (h.error ?? ""));
      return [h.name, h.handler, c(statusColour(h.status), h.status), h.attempts, formatDuration(h.attempts ? h.durationSeconds : null), h.exitCode, note];
    });
    text += "\n" + table(["HANDLER", "LIST", "STATUS", { header: "ATTEMPTS", right: true }, { header: "DURATION", right: true }, { header: "EXIT", right: true }, "NOTE"], hrows);
  }
  return text;
}

/** " (on_failure handler)" after a handler's name in the progress lines. */
function mark(handler: string | undefined): string {
  return handler ? ` (${handler} handler)` : "";
}
