// The JSON API under /api/v1/ (docs/api.md), served by the daemon's HTTP server
// (sys/http-server.ts) when [web] is enabled, and imported on the first /api request only.
//
// Reading goes through store/queries.ts (read-only) and the same builders as the CLI's
// `--format json`, so the shapes cannot drift apart. Actions go where the CLI's go: trigger and
// retry through the daemon's control socket (daemon/control.ts, as `picoflow trigger` does),
// pause and resume to the database (as `picoflow workflow pause|resume` does).
//
// The dashboard's own answers (/session, /overview, /stats, an execution's `graph`) are built in
// web/overview.ts, web/stats.ts and web/run-graph.ts; this module routes and checks.
//
// Security: with a token configured every request needs it (Bearer header, or the
// cookie set by POST /api/v1/login); without one, reading is open because the daemon refuses a
// non-loopback bind without a token. Every POST needs the token and a same-origin request.

import { RUN_STATUSES } from "../cli/commands.ts";
import { liveReport, pausedNow, storedStatus } from "../cli/daemon.ts";
import { publicShape } from "../cli/status.ts";
import { pauseJson, setPause, workflowList } from "../cli/workflow.ts";
import { resolveExecution, toJson } from "../cli/read.ts";
import { askDaemon, socketPathFor } from "../daemon/control.ts";
import { ConfigError, IoError, messageOf, NothingRecordedError, PicoflowError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { openHistory, type History } from "../store/queries.ts";
import { sqlTime } from "../store/time.ts";
import { sha256Hex } from "../sys/hash.ts";
import { overview } from "./overview.ts";
import { runGraph } from "./run-graph.ts";
import { dailyStats, DEFAULT_DAYS, MAX_DAYS, statsPeriod } from "./stats.ts";

export interface ApiOptions {
  dbPath: string;
  pidFile: string;
  /** [web] token or PICOFLOW_WEB_TOKEN; null: none (then no POST is allowed). */
  token: string | null;
  /** The daemon's live status (the control socket's `status` answer); undefined while it starts, absent without a daemon. */
  live?: () => Record<string, unknown> | undefined;
  /** `picoflow dashboard`: a database without a daemon. Actions are refused (403), /daemon reads the database. */
  readOnly?: boolean;
  /** The config file in use, named by GET /daemon's hint when no daemon runs (read-only). */
  configFile?: string | null;
  log: Logger;
}

export const COOKIE = "picoflow_token";
const PREFIX = "/api/v1";
/** Default and largest page of GET /api/v1/executions. */
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
/** Longest POST body read (a login form): anything bigger is refused unread. */
const MAX_BODY_BYTES = 4096;

/** An answer with a status other than 200: thrown by handlers, turned into a JSON error. */
class HttpError {
  constructor(
    readonly status: number,
    readonly error: string,
  ) {}
}

export function createApi(o: ApiOptions): (req: Request) => Promise<Response> {
  return async (req) => {
    try {
      return await route(req, o);
    } catch (err) {
      if (err instanceof HttpError) return Response.json({ error: err.error }, { status: err.status });
      if (err instanceof PicoflowError) return Response.json({ error: messageOf(err) }, { status: statusFor(err) });
      throw err;
    }
  };
}

/** An error of the CLI's kind as an HTTP status: not found 404, bad value 400, refused 409. */
function statusFor(err: PicoflowError): number {
  if (err instanceof IoError || err.exitCode === 5) return 404;
  if (err instanceof ConfigError || err.exitCode === 4) return 400;
  if (err.exitCode === 2) return 409;
  return 500;
}

async function route(req: Request, o: ApiOptions): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname.startsWith(`${PREFIX}/`) ? url.pathname.slice(PREFIX.length) : null;
  if (path === null) throw new HttpError(404, "not found (the API is under /api/v1/)");
  if (req.method === "POST") return post(req, path, o);
  if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "method not allowed (GET or POST)");
  // What the page needs to know before it has the token: answered to anyone.
  if (path === "/session") return json(session(req, o));
  if (o.token !== null && !authorized(req, o.token)) throw new HttpError(401, "this server needs the web token: send 'Authorization: Bearer TOKEN' or log in");
  if (path === "/workflows") return json(read(o, [], (h) => workflowList(h, url.searchParams.get("all") === "1")));
  if (path === "/executions") return json(read(o, [], (h) => executions(h, url.searchParams)));
  if (path === "/daemon") return daemon(o);
  if (path === "/overview") return json(read(o, { generated_at: new Date().toISOString(), workflows: [] }, (h) => overview(h, o.live?.())));
  if (path === "/stats") return stats(o, url.searchParams);
  const m = /^\/executions\/([^/]+)$/.exec(path);
  if (m) return json(read(o, null, (h) => execution(h, decodeURIComponent(m[1]!))));
  const logs = /^\/executions\/([^/]+)\/logs$/.exec(path);
  if (logs) return streamLogs(o, decodeURIComponent(logs[1]!), url.searchParams, req.signal);
  throw new HttpError(404, "not found");
}

/** Read the history; `empty` is the answer before the first run (null: 404). */
function read<T>(o: ApiOptions, empty: T | null, fn: (h: History) => T): T {
  let h: History;
  try {
    h = openHistory(o.dbPath);
  } catch (err) {
    if (!(err instanceof NothingRecordedError)) throw err;
    if (empty === null) throw new HttpError(404, "no runs recorded yet");
    return empty;
  }
  try {
    return fn(h);
  } finally {
    h.close();
  }
}

function json(body: unknown, status = 200): Response {
  return new Response(toJson(body), { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });
}

/** GET /executions?workflow=&status=&limit=&before=: `history --format json`, newest first. */
function executions(h: History, q: URLSearchParams) {
  const workflow = q.get("workflow") ?? undefined;
  if (workflow === "") throw new HttpError(400, "workflow: must not be empty");
  const status = q.get("status")?.toLowerCase() ?? undefined;
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new HttpError(400, `status: '${status.slice(0, 40)}' is not one of ${RUN_STATUSES.join(", ")}`);
  }
  let limit = DEFAULT_LIMIT;
  const l = q.get("limit");
  if (l !== null) {
    if (!/^\d+$/.test(l) || Number(l) < 1 || Number(l) > MAX_LIMIT) throw new HttpError(400, `limit: '${l.slice(0, 40)}' is not a whole number from 1 to ${MAX_LIMIT}`);
    limit = Number(l);
  }
  let before: string | undefined;
  const b = q.get("before");
  if (b !== null) {
    // A time, ISO 8601: the started_at of the last run of the previous page.
    const t = Date.parse(b);
    if (!/^\d{4}-\d{2}-\d{2}/.test(b) || Number.isNaN(t)) throw new HttpError(400, `before: '${b.slice(0, 40)}' is not a time (ISO 8601, e.g. 2026-12-01T08:00:00Z)`);
    before = sqlTime(new Date(t));
  }
  if (workflow !== undefined && !h.hasWorkflow(workflow)) throw new HttpError(404, `no workflow named '${workflow.slice(0, 200)}'`);
  return h.history({ workflow, status, limit, before });
}

/** GET /executions/ID (an id or unique prefix): one element of `status --execution-id ID --format json`. */
function execution(h: History, id: string) {
  const e = resolveExecution(h, id);
  const d = h.runDetail(e.id);
  if (!d) throw new HttpError(404, `no execution with id '${id.slice(0, 100)}'`);
  const graph = runGraph(d.tasks.map((t) => t.task_name), h.taskNeeds(d.id));
  return { ...publicShape(d), deliveries: h.deliveries(d.id), graph };
}

/** GET /stats?days=&workflow=: per workflow and per local calendar day (web/stats.ts). */
function stats(o: ApiOptions, q: URLSearchParams): Response {
  let days = DEFAULT_DAYS;
  const d = q.get("days");
  if (d !== null) {
    if (!/^\d+$/.test(d) || Number(d) < 1 || Number(d) > MAX_DAYS) throw new HttpError(400, `days: '${d.slice(0, 40)}' is not a whole number from 1 to ${MAX_DAYS}`);
    days = Number(d);
  }
  const workflow = q.get("workflow") ?? undefined;
  if (workflow === "") throw new HttpError(400, "workflow: must not be empty");
  const now = new Date();
  const empty = { ...statsPeriod(days, now), workflows: [] };
  return json(
    read(o, empty, (h) => {
      if (workflow !== undefined && !h.hasWorkflow(workflow)) throw new HttpError(404, `no workflow named '${workflow.slice(0, 200)}'`);
      return dailyStats(h, days, workflow, now);
    }),
  );
}

/** GET /session: what the page shows and offers (docs/api.md); needs no token. */
function session(req: Request, o: ApiOptions) {
  return {
    auth_required: o.token !== null,
    authenticated: o.token !== null && authorized(req, o.token),
    actions: !o.readOnly && o.token !== null,
    read_only: o.readOnly === true,
  };
}

/** GET /executions/ID/logs?task=&follow=1: Server-Sent Events (web/logs-sse.ts). */
async function streamLogs(o: ApiOptions, id: string, q: URLSearchParams, signal: AbortSignal): Promise<Response> {
  const task = q.get("task") ?? undefined;
  if (task === "") throw new HttpError(400, "task: must not be empty");
  const follow = q.get("follow");
  if (follow !== null && follow !== "0" && follow !== "1") throw new HttpError(400, `follow: '${follow.slice(0, 40)}' is not 0 or 1`);
  const runId = read(o, null, (h) => resolveExecution(h, id).id);
  const { logStream } = await import("./logs-sse.ts");
  return logStream(() => openHistory(o.dbPath), runId, task, follow === "1", signal);
}

/**
 * GET /daemon: `daemon status --format json` as the daemon itself knows it; read-only (no
 * daemon here), what that command prints when no daemon answers: the PID file and state row.
 */
function daemon(o: ApiOptions): Response {
  if (o.readOnly) {
    // The CLI's `hint` is advice for a shell on this machine (other daemons of the user, their
    // databases): not for a page that may be read from elsewhere.
    const { hint: _hint, ...stored } = storedStatus({ dbPath: o.dbPath, configFile: o.configFile ?? null }, o.pidFile);
    return json(stored);
  }
  const live = o.live?.();
  if (!live) throw new HttpError(503, "the daemon is starting");
  const paused = pausedNow(o.dbPath, (err) => o.log.warn("api: cannot read pauses", { error: messageOf(err) }));
  return json(liveReport(live, o.pidFile, paused));
}

// ---- Writing ----

async function post(req: Request, path: string, o: ApiOptions): Promise<Response> {
  // A form on another site may POST here from the user's browser: refused before anything else.
  if (!sameOrigin(req)) throw new HttpError(403, "cross-origin request refused");
  if (path === "/login") return login(req, o);
  if (path === "/logout") return logout(req);
  if (o.readOnly) throw new HttpError(403, "read-only: this dashboard reads a database without a daemon (picoflow dashboard); act through the daemon's own dashboard or the CLI");
  if (o.token === null) throw new HttpError(401, "actions need the web token: set [web] token or PICOFLOW_WEB_TOKEN (32+ characters) and restart the daemon");
  if (!authorized(req, o.token)) throw new HttpError(401, "this action needs the web token: send 'Authorization: Bearer TOKEN' or log in");
  const wf = /^\/workflows\/([^/]+)\/(trigger|pause|resume)$/.exec(path);
  if (wf) {
    const name = decodeURIComponent(wf[1]!);
    const action = wf[2] as "trigger" | "pause" | "resume";
    if (action === "trigger") return json(await ask(o, { op: "trigger", workflow: name }), 202);
    return json(pauseJson(name, setPause(o.dbPath, action, name)));
  }
  const retry = /^\/executions\/([^/]+)\/retry$/.exec(path);
  if (retry) {
    const e = read(o, null, (h) => resolveExecution(h, decodeURIComponent(retry[1]!)));
    return json(await ask(o, { op: "trigger", workflow: e.workflow_name, retry: e.id }), 202);
  }
  throw new HttpError(404, "not found");
}

/**
 * A request to the daemon's own control socket, as `picoflow trigger [--retry]` sends it: one
 * path for both, the same checks and refusals. The first answer (the execution id) is returned.
 */
async function ask(o: ApiOptions, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  let first: Record<string, unknown> = {};
  try {
    await askDaemon(socketPathFor(o.pidFile), request, (a) => {
      const { v: _v, ok: _ok, ...rest } = a;
      first = rest;
      return true;
    }, "see the daemon's log");
  } catch (err) {
    // The socket's exit codes: 5 not loaded, 1 already running/stopping, 4 bad request.
    if (err instanceof PicoflowError && err.exitCode === 1) throw new HttpError(409, messageOf(err));
    throw err;
  }
  return first;
}

/** POST /login with the token (JSON {"token":...} or a form field): sets the HttpOnly cookie. */
async function login(req: Request, o: ApiOptions): Promise<Response> {
  if (o.token === null) throw new HttpError(401, "no web token is configured: set [web] token or PICOFLOW_WEB_TOKEN");
  const length = Number(req.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) throw new HttpError(413, "request too large");
  const body = (await req.text()).slice(0, MAX_BODY_BYTES);
  let given: unknown;
  if ((req.headers.get("content-type") ?? "").includes("json")) {
    try {
      given = (JSON.parse(body) as { token?: unknown })?.token;
    } catch {
      throw new HttpError(400, "body is not JSON");
    }
  } else {
    given = new URLSearchParams(body).get("token");
  }
  if (typeof given !== "string" || !sameToken(given, o.token)) throw new HttpError(401, "wrong token");
  return new Response(null, { status: 204, headers: { "set-cookie": `${COOKIE}=${encodeURIComponent(o.token)}${cookieAttributes(req)}` } });
}

/** POST /logout: the login cookie cleared (same name and attributes, expired). Needs no token. */
function logout(req: Request): Response {
  return new Response(null, { status: 204, headers: { "set-cookie": `${COOKIE}=; Max-Age=0${cookieAttributes(req)}` } });
}

/** The login cookie's attributes: `Secure` behind https. */
function cookieAttributes(req: Request): string {
  const secure = new URL(req.url).protocol === "https:" ? "; Secure" : "";
  return `; Path=/; HttpOnly; SameSite=Strict${secure}`;
}

/** The token from `Authorization: Bearer` or the login cookie, compared in constant time. */
function authorized(req: Request, token: string): boolean {
  const auth = req.headers.get("authorization");
  if (auth !== null) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m !== null && sameToken(m[1]!, token);
  }
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === COOKIE) {
      let value: string;
      try {
        value = decodeURIComponent(v.join("="));
      } catch {
        return false;
      }
      return sameToken(value, token);
    }
  }
  return false;
}

/** Equal tokens? Compared as SHA-256 digests, byte by byte without an early exit: no timing leak of where they differ. */
export function sameToken(given: string, token: string): boolean {
  const a = sha256Hex(given);
  const b = sha256Hex(token);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Same origin? Browsers send Sec-Fetch-Site (and Origin on POST): anything but same-origin, or
 * an Origin whose host is not this Host, is refused. Scripts (curl) send neither: allowed, they
 * still need the token.
 */
function sameOrigin(req: Request): boolean {
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return false;
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  const host = req.headers.get("host");
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}
