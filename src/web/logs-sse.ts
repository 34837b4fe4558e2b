// GET /api/v1/executions/ID/logs?task=&follow=1 (docs/api.md): a run's output as Server-Sent
// Events. The stored output of every attempt first; with follow=1, the live output of running
// attempts as `picoflow logs --follow` reads it (the runner's task_output_chunks, polled), until
// the run ends. Output is sent as data, never interpreted: the client shows it as text.

import { IoError } from "../errors.ts";
import { FOLLOW_POLL_MS } from "../cli/logs.ts";
import type { AttemptRow, History } from "../store/queries.ts";
import { isProcessAlive } from "../sys/proc.ts";
import { isoUtc } from "../cli/read.ts";

/** A comment line this often keeps an idle stream (a task printing nothing) from timing out. */
const KEEPALIVE_MS = 5000;

interface Seen {
  lastChunk: number;
  sent: { stdout: number; stderr: number };
  done: boolean;
}

/** The attempt as the events show it: the row's fields, times in ISO 8601 UTC. */
function attemptJson(a: AttemptRow) {
  return { ...a, started_at: isoUtc(a.started_at), finished_at: isoUtc(a.finished_at), created_at: isoUtc(a.created_at), retry_at: isoUtc(a.retry_at) };
}

/**
 * The event stream of run `runId`. `open` gives a History for the stream's life (closed at its
 * end); a task name no attempt or plan of the run has is an IoError (404) before streaming.
 */
export function logStream(open: () => History, runId: string, task: string | undefined, follow: boolean, signal: AbortSignal): Response {
  const h = open();
  let first;
  try {
    first = h.runAttempts(runId);
    if (!first) throw new IoError(`no execution with id '${runId}'`);
    if (task !== undefined && !first.run.task_names.includes(task) && !first.attempts.some((a) => a.task_name === task)) {
      throw new IoError(`no task '${task.slice(0, 100)}' in execution ${runId}`);
    }
  } catch (err) {
    h.close();
    throw err;
  }
  const seen = new Map<string, Seen>();
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(ctl) {
      let last = Date.now();
      const send = (event: string, data: unknown) => {
        ctl.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
        last = Date.now();
      };
      try {
        for (;;) {
          const state = poll(h, runId, task, seen, send);
          if (state !== "live" || !follow || signal.aborted) {
            // status: how the run ended; "running" when not following a live run; "abandoned" when its process is gone.
            send("end", { execution_id: runId, status: typeof state === "object" ? state.status : state === "live" ? "running" : "abandoned" });
            break;
          }
          if (Date.now() - last >= KEEPALIVE_MS) {
            ctl.enqueue(enc.encode(": keep-alive\n\n"));
            last = Date.now();
          }
          await Bun.sleep(FOLLOW_POLL_MS);
          if (signal.aborted) break;
        }
      } catch (err) {
        send("error", { error: (err as Error).message ?? String(err) });
      } finally {
        h.close();
        try {
          ctl.close();
        } catch {}
      }
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" } });
}

/** Send what is new; "live" while the run goes on. */
function poll(
  h: History,
  runId: string,
  task: string | undefined,
  seen: Map<string, Seen>,
  send: (event: string, data: unknown) => void,
): "live" | "abandoned" | { status: string } {
  const snap = h.runAttempts(runId);
  if (!snap) throw new IoError(`execution ${runId} is no longer in the database (deleted by retention?)`);
  const { run, attempts } = snap;
  for (const a of attempts) {
    if (task !== undefined && a.task_name !== task) continue;
    let s = seen.get(a.id);
    if (!s) {
      s = { lastChunk: 0, sent: { stdout: 0, stderr: 0 }, done: false };
      seen.set(a.id, s);
      send("attempt", attemptJson(a));
    }
    if (!s.done) sendOutput(h, a, s, send);
  }
  if (run.status !== "running" && run.status !== "pending") return { status: run.status };
  if (run.owner_pid !== null && !isProcessAlive(run.owner_pid, run.owner_identity)) return "abandoned";
  return "live";
}

/** An attempt's new output: live chunks while it runs; once it ended, the rest of its stored output and its outcome. */
function sendOutput(h: History, a: AttemptRow, s: Seen, send: (event: string, data: unknown) => void): void {
  const out = h.attemptOutput(a.id, s.lastChunk);
  if (!out) return;
  const ids = { attempt_id: a.id, task: a.task_name, attempt: a.attempt };
  if (out.stdout === null) {
    for (const c of out.chunks) {
      send("output", { ...ids, stream: c.stream, data: c.data });
      s.sent[c.stream] += c.data.length;
    }
    if (out.chunks.length) s.lastChunk = out.chunks[out.chunks.length - 1]!.id;
    return;
  }
  // The stored output is complete: what the live chunks did not carry yet.
  for (const stream of ["stdout", "stderr"] as const) {
    const text = out[stream]!.slice(s.sent[stream]);
    if (text) send("output", { ...ids, stream, data: text });
  }
  send("attempt", attemptJson(out.row));
  s.done = true;
}
