// The daemon's control socket: `picoflow trigger`, `daemon reload` and `daemon status` talk to
// the running daemon through a Unix socket beside its PID file (mode 0600: file permissions
// decide who may control it). Protocol v1, documented in docs/daemon.md: one JSON request line
// per connection, JSON answer lines back. Requests are bounded and parsed defensively; a bad
// one gets an error answer, never a crash, and nothing here blocks the schedule loop.

import { basename, dirname, join } from "node:path";
import type { RunEvents } from "../engine/events.ts";
import type { RunPlan } from "../engine/plan.ts";
import { messageOf, nearest, PicoflowError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { listenUnix, removeStaleSocket, requestUnix, SocketUnavailable, type Connection, type UnixServer } from "../sys/unix-socket.ts";
import type { Workflow } from "../workflow/types.ts";
import type { ReloadReport } from "./reload.ts";

export const PROTOCOL_VERSION = 1;
/** Longest request line: requests are a few names, never near this. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** A connection that sends no request within this is closed. */
const IDLE_SECONDS = 10;
/** Output queued for a `--wait` client that stopped reading, before it is dropped. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/**
 * The control socket of the daemon whose PID file is `pidFile`: beside it, named after it
 * (picoflow.pid -> picoflow.sock; other.pid -> other.sock), so two daemons with their own
 * PID files in one directory get their own sockets.
 */
export function socketPathFor(pidFile: string): string {
  const name = basename(pidFile);
  return join(dirname(pidFile), `${name.endsWith(".pid") ? name.slice(0, -4) : name}.sock`);
}

/** What starting a run through the socket gave. */
export type LaunchOutcome =
  | { started: true }
  | { started: false; running: { runId?: string; startedAt: Date } }
  | { started: false; refused: string; code: number };

export interface ControlOptions {
  log: Logger;
  stopping: () => boolean;
  /** The loaded workflows (their last good versions), by name. */
  workflows: () => Workflow[];
  /**
   * Start a run of `wf` now (trigger "trigger"), under the overlap rule and the shared slots.
   * `attach` gets the run's events before it starts, so the caller sees run:start.
   */
  launch: (wf: Workflow, attach: (events: RunEvents) => void, retry?: RunPlan) => LaunchOutcome;
  /**
   * `trigger --retry ID`: the plan of a retry of execution ID of `wf` (engine/retry.ts), and
   * what to tell the user (the file changed since). Throws a PicoflowError that refuses it.
   */
  planRetry: (wf: Workflow, executionId: string) => { plan: RunPlan; notes: string[] };
  reload: () => ReloadReport;
  status: () => Record<string, unknown>;
}

/** An error answer: `code` is the exit code a CLI client exits with. */
class Failure {
  constructor(
    readonly error: string,
    readonly code: number,
  ) {}
}

type Request = Record<string, unknown>;

/** Listen on `path`; a stale socket file there is removed first (the caller holds the PID file beside it). */
export function startControl(path: string, o: ControlOptions): UnixServer {
  if (removeStaleSocket(path)) o.log.warn("replaced a stale control socket", { socket: path });
  const server = listenUnix(path, {
    maxLineBytes: MAX_REQUEST_BYTES,
    idleSeconds: IDLE_SECONDS,
    maxQueuedBytes: MAX_QUEUED_BYTES,
    tooLarge: (conn) => reply(conn, fail(`request longer than ${MAX_REQUEST_BYTES} bytes`, 4)),
    onLine: (line, conn) => {
      try {
        handle(line, conn, o);
      } catch (err) {
        // A bug in a handler costs this request, never the daemon.
        o.log.error("control request failed", { error: messageOf(err) });
        reply(conn, fail(`internal error: ${messageOf(err)}`, 1));
      }
    },
  });
  o.log.info("control socket listening", { socket: path });
  return server;
}

function fail(error: string, code: number): Failure {
  return new Failure(error, code);
}

/** Send one answer and close. */
function reply(conn: Connection, answer: Failure | Record<string, unknown>): void {
  conn.send(answerLine(answer));
  conn.end();
}

function answerLine(answer: Failure | Record<string, unknown>): string {
  if (answer instanceof Failure) {
    return JSON.stringify({ v: PROTOCOL_VERSION, ok: false, error: answer.error, code: answer.code });
  }
  return JSON.stringify({ v: PROTOCOL_VERSION, ok: true, ...answer });
}

function parse(line: string): Request | Failure {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return fail("request is not JSON", 4);
  }
  if (req === null || typeof req !== "object" || Array.isArray(req)) return fail("request is not a JSON object", 4);
  const r = req as Request;
  if (r.v !== PROTOCOL_VERSION) return fail(`unsupported protocol version ${JSON.stringify(r.v ?? null)} (this daemon speaks v${PROTOCOL_VERSION})`, 4);
  if (typeof r.op !== "string") return fail("request has no 'op'", 4);
  return r;
}

function handle(line: string, conn: Connection, o: ControlOptions): void {
  const req = parse(line);
  if (req instanceof Failure) return reply(conn, req);
  switch (req.op) {
    case "ping":
      return reply(conn, { pid: process.pid });
    case "status":
      return reply(conn, o.status());
    case "reload":
      if (o.stopping()) return reply(conn, fail("the daemon is stopping", 1));
      return reply(conn, o.reload() as unknown as Record<string, unknown>);
    case "trigger":
      return trigger(req, conn, o);
    default: {
      const near = nearest(String(req.op), ["trigger", "reload", "status", "ping"]);
      return reply(conn, fail(`unknown op '${String(req.op).slice(0, 100)}'${near ? ` (did you mean '${near}'?)` : ""}`, 4));
    }
  }
}

/**
 * {"op":"trigger","workflow":NAME,"wait":bool}: start a run now. The first answer carries its
 * execution id; with wait, the run's events follow, one line each, the last one "run:finish".
 */
function trigger(req: Request, conn: Connection, o: ControlOptions): void {
  if (typeof req.workflow !== "string" || req.workflow === "") return reply(conn, fail("trigger needs 'workflow'", 4));
  if (req.wait !== undefined && typeof req.wait !== "boolean") return reply(conn, fail("'wait' must be true or false", 4));
  if (req.retry !== undefined && (typeof req.retry !== "string" || req.retry === "")) return reply(conn, fail("'retry' must be an execution id", 4));
  if (o.stopping()) return reply(conn, fail("the daemon is stopping; no new runs start", 1));
  const name = req.workflow;
  const wfs = o.workflows();
  const wf = wfs.find((w) => w.name === name);
  if (!wf) {
    const near = nearest(name, wfs.map((w) => w.name));
    const shown = JSON.stringify(name.slice(0, 200));
    return reply(conn, fail(`no workflow named ${shown} is loaded by the daemon${near ? ` (did you mean '${near}'?)` : ""}`, 5));
  }
  const wait = req.wait === true;
  let retry: { plan: RunPlan; notes: string[] } | undefined;
  if (typeof req.retry === "string") {
    try {
      retry = o.planRetry(wf, req.retry);
    } catch (err) {
      return reply(conn, fail(messageOf(err), err instanceof PicoflowError ? err.exitCode : 1));
    }
  }
  const extra = retry ? { retry_of: retry.plan.retryOf, tasks_to_run: retry.plan.run.size, tasks_reused: retry.plan.reused.size, notes: retry.notes } : {};
  let runId: string | undefined;
  const outcome = o.launch(wf, (events) => {
    events.on("run:start", (e) => {
      runId = e.runId;
      conn.send(answerLine({ execution_id: e.runId, workflow: wf.name, trigger: e.trigger, total_tasks: e.totalTasks, ...extra }));
      if (!wait) conn.end();
      else conn.keepOpen();
    });
    if (wait) follow(events, conn);
  }, retry?.plan);
  if (outcome.started) {
    // No run:start: its recording failed (a full disk, say); the launcher has logged why.
    if (runId === undefined) reply(conn, fail(`the run of '${wf.name}' could not be recorded (see the daemon's log)`, 6));
    return;
  }
  if ("refused" in outcome) return reply(conn, fail(outcome.refused, outcome.code));
  const r = outcome.running;
  reply(conn, fail(`workflow '${wf.name}' is already running: execution ${r.runId ?? "(starting)"} started ${r.startedAt.toISOString()}`, 1));
}

/** Forward a run's events to a `--wait` client: no output, only what progress shows. */
function follow(events: RunEvents, conn: Connection): void {
  const send = (event: string, data: object) => conn.send(JSON.stringify({ v: PROTOCOL_VERSION, event, ...data }));
  const offs = [
    events.on("task:start", (e) => send("task:start", e)),
    events.on("task:retry", (e) => send("task:retry", e)),
    events.on("task:finish", (e) => {
      const { stdout: _o, stderr: _e, ...result } = e.result;
      send("task:finish", { ...e, result });
    }),
    events.on("run:finish", (s) => {
      send("run:finish", s);
      conn.end();
    }),
  ];
  // A client that went away stops being fed; the run goes on.
  conn.onClose(() => offs.forEach((off) => off()));
}

// ---- The client side: `picoflow trigger`, `daemon reload`, `daemon status`. ----

/** How a client explains "no daemon answers": errno code in words. */
function unreachable(err: SocketUnavailable): string {
  if (err.code === "ENOENT") return "no such socket";
  if (err.code === "ECONNREFUSED") return "nothing listens on it (a daemon that stopped without cleaning up)";
  if (err.code === "EACCES" || err.code === "EPERM") return "permission denied (run as the daemon's user)";
  return err.message;
}

/** No daemon answers on the socket: exit 1, naming the socket and what to do instead. */
export class DaemonUnreachable extends PicoflowError {
  constructor(
    readonly socket: string,
    why: string,
    hint: string,
  ) {
    super(`no daemon answers on the control socket ${socket} (${why}); ${hint}`, 1);
  }
}

/**
 * Send one request to the daemon at `socket`; each answer line goes to `onAnswer` (return true
 * to stop reading). An error answer is thrown as a PicoflowError carrying its exit code. Throws
 * DaemonUnreachable (with `hint`) when no daemon answers.
 */
export async function askDaemon(
  socket: string,
  request: Record<string, unknown>,
  onAnswer: (answer: Record<string, unknown>) => boolean | void,
  hint: string,
  firstAnswerMs = 10_000,
): Promise<void> {
  const line = JSON.stringify({ v: PROTOCOL_VERSION, ...request });
  try {
    await requestUnix(
      socket,
      line,
      (text) => {
        let a: unknown;
        try {
          a = JSON.parse(text);
        } catch {
          throw new PicoflowError(`the daemon's answer on ${socket} is not JSON`, 1);
        }
        const answer = (a ?? {}) as Record<string, unknown>;
        if (answer.v !== PROTOCOL_VERSION) throw new PicoflowError(`the daemon on ${socket} speaks protocol v${String(answer.v)}, not v${PROTOCOL_VERSION} (restart it with this version)`, 1);
        if (answer.ok === false) throw new PicoflowError(String(answer.error), typeof answer.code === "number" ? answer.code : 1);
        return onAnswer(answer);
      },
      firstAnswerMs,
    );
  } catch (err) {
    if (err instanceof SocketUnavailable) throw new DaemonUnreachable(socket, unreachable(err), hint);
    throw err;
  }
}
