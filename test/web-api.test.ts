// The JSON API under /api/v1/ (docs/api.md): a real daemon on port 0, real HTTP through fetch.
// The GETs give what the CLI's --format json gives for the same database; POSTs need the token
// and a same-origin request; a non-loopback bind without a token is refused; [web] enabled =
// false leaves /metrics alone and /api out.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { defaultPidFile } from "../src/daemon/pidfile.ts";
import { silentLogger } from "../src/log.ts";
import { createApi } from "../src/web/api.ts";
import { cli, FAST_CONFIG, rows, sandboxMaker, startDaemon, waitFor, type Daemon, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

const CONFIG = `${FAST_CONFIG}
[daemon]
shutdown_grace_seconds = 5
`;
const TOKEN = "t0ken-for-tests-0123456789abcdef0123";
const sb = sandboxMaker(CONFIG);

// Fails until the file `fixed` exists in its directory: a failed run to retry, then a success.
const flaky = (dir: string) => `
name: flaky
tasks:
  - name: check
    type: shell
    retry: 0
    config: { command: /bin/sh, args: ["-c", "echo checking; test -f ${dir}/fixed"] }
`;
const HELLO = `
name: hello
tasks:
  - name: greet
    type: shell
    config: { command: /bin/echo, args: ["hi"] }
  - name: after
    type: shell
    depends_on: [greet]
    config: { command: /bin/echo, args: ["bye"] }
`;

/** A sandbox with two workflows and three recorded runs (one failed). */
async function seeded(config?: string): Promise<{ s: Sandbox; files: string[] }> {
  const s = sb(config);
  const files = [s.workflow(HELLO, "hello.yaml"), s.workflow(flaky(s.dir), "flaky.yaml")];
  expect((await cli(s, ["run", files[0]!])).code).toBe(0);
  expect((await cli(s, ["run", files[0]!])).code).toBe(0);
  expect((await cli(s, ["run", files[1]!])).code).not.toBe(0);
  return { s, files };
}

/** http://127.0.0.1:PORT of the daemon's HTTP server (from its "serving metrics" line). */
function base(d: Daemon): string {
  const url: string = d.lines().find((l) => l.msg === "serving metrics")!.url;
  return url.replace(/\/metrics$/, "");
}

/** Response bodies are read as `any`: the tests look into them. */
const anyJson = (v: unknown): any => v;

const cliJson = async (s: Sandbox, args: string[]) => {
  const r = await cli(s, [...args, "--format", "json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};

describe("GET /api/v1 without a token on loopback", () => {
  let s: Sandbox;
  let d: Daemon;
  let url: string;
  beforeAll(async () => {
    ({ s } = await seeded());
    d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0" });
    url = base(d);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  test("workflows, executions, one execution: the CLI's --format json shapes", async () => {
    const wfs = await fetch(`${url}/api/v1/workflows`);
    expect(wfs.status).toBe(200);
    expect(wfs.headers.get("content-type")).toContain("application/json");
    expect(await wfs.json().then(anyJson)).toEqual(await cliJson(s, ["workflow", "list"]));

    const all = await (await fetch(`${url}/api/v1/executions`)).json().then(anyJson);
    expect(all).toHaveLength(3);
    expect(all).toEqual(await cliJson(s, ["history", "--limit", "50"]));
    const failed = await (await fetch(`${url}/api/v1/executions?workflow=flaky&status=failed`)).json().then(anyJson);
    expect(failed).toEqual(await cliJson(s, ["history", "flaky", "--status", "failed"]));
    expect(failed).toHaveLength(1);

    // Paging: the page after the newest run is the two older ones.
    const next = await (await fetch(`${url}/api/v1/executions?limit=1&before=${encodeURIComponent(all[0].started_at)}`)).json().then(anyJson);
    expect(next.map((r: any) => r.id)).toEqual([all[1].id]);

    const one = await fetch(`${url}/api/v1/executions/${failed[0].id}`);
    expect(one.status).toBe(200);
    const [status] = await cliJson(s, ["status", "--execution-id", failed[0].id]);
    // The CLI's shape, plus the run's DAG for the dashboard (see "the run's graph" below).
    const { graph, ...rest } = await one.json().then(anyJson);
    expect(rest).toEqual(status);
    expect(graph).toEqual({ levels: [["check"]], edges: [], known: true });
    // A unique prefix works as in the CLI.
    expect((await (await fetch(`${url}/api/v1/executions/${failed[0].id.slice(0, 8)}`)).json().then(anyJson)).id).toBe(failed[0].id);
  });

  test("daemon: daemon status --format json, live", async () => {
    const api = await (await fetch(`${url}/api/v1/daemon`)).json().then(anyJson);
    const cliStatus = await cli(s, ["daemon", "status", "--format", "json"]);
    const status = JSON.parse(cliStatus.stdout);
    expect(api.status).toBe("running");
    expect(api.pid).toBe(d.pid);
    expect(Object.keys(api).sort()).toEqual(Object.keys(status).sort());
    expect(api.workflows.map((w: any) => w.name).sort()).toEqual(["flaky", "hello"]);
    expect(api.workflows).toEqual(status.workflows);
  });

  test("bad query values are 400, unknown ids and paths 404, all as JSON", async () => {
    for (const q of ["status=bogus", "limit=0", "limit=abc", "before=yesterday", "workflow="]) {
      const r = await fetch(`${url}/api/v1/executions?${q}`);
      expect(r.status, q).toBe(400);
      expect(typeof (await r.json().then(anyJson)).error).toBe("string");
    }
    for (const p of ["executions/00000000-0000-0000-0000-000000000000", "executions?workflow=nope", "nothing", "../metrics"]) {
      const r = await fetch(`${url}/api/v1/${p}`);
      expect(r.status, p).toBe(404);
    }
  });

  test("security headers on every response, /api and /metrics", async () => {
    for (const p of ["/api/v1/workflows", "/api/v1/nothing", "/metrics", "/healthz", "/"]) {
      const r = await fetch(`${url}${p}`);
      expect(r.headers.get("content-security-policy"), p).toBe("default-src 'self'; frame-ancestors 'none'");
      expect(r.headers.get("x-content-type-options"), p).toBe("nosniff");
      await r.arrayBuffer();
    }
  });

  test("every POST needs the token even on loopback: 401 when none is configured", async () => {
    const r = await fetch(`${url}/api/v1/workflows/hello/trigger`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(401);
    expect((await r.json().then(anyJson)).error).toContain("[web] token");
    expect(rows(s.db, "SELECT id FROM workflow_executions")).toHaveLength(3);
  });
});

describe("with a token", () => {
  let s: Sandbox;
  let d: Daemon;
  let url: string;
  const bearer = { authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    ({ s } = await seeded());
    d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0", PICOFLOW_WEB_TOKEN: TOKEN });
    url = base(d);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  test("reading needs it too; a wrong one is 401; /metrics stays open", async () => {
    expect((await fetch(`${url}/api/v1/workflows`)).status).toBe(401);
    expect((await fetch(`${url}/api/v1/workflows`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await fetch(`${url}/api/v1/workflows`, { headers: bearer })).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });

  test("login sets an HttpOnly SameSite=Strict cookie that then works", async () => {
    const wrong = await fetch(`${url}/api/v1/login`, { method: "POST", body: JSON.stringify({ token: "nope" }), headers: { "content-type": "application/json" } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const ok = await fetch(`${url}/api/v1/login`, { method: "POST", body: new URLSearchParams({ token: TOKEN }) });
    expect(ok.status).toBe(204);
    const cookie = ok.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    const r = await fetch(`${url}/api/v1/workflows`, { headers: { cookie: cookie.split(";")[0]! } });
    expect(r.status).toBe(200);
  });

  test("trigger: 401 without the token, 202 with it, and the run is recorded", async () => {
    const no = await fetch(`${url}/api/v1/workflows/hello/trigger`, { method: "POST" });
    expect(no.status).toBe(401);
    const r = await fetch(`${url}/api/v1/workflows/hello/trigger`, { method: "POST", headers: bearer });
    expect(r.status).toBe(202);
    const body = await r.json().then(anyJson);
    expect(body.workflow).toBe("hello");
    const id = body.execution_id as string;
    await waitFor(() => rows(s.db, "SELECT status FROM workflow_executions WHERE id = ? AND status = 'success'", id).length === 1, 20_000, "the triggered run");
    expect(rows(s.db, "SELECT trigger FROM workflow_executions WHERE id = ?", id)[0]!.trigger).toBe("trigger");
    const unknown = await fetch(`${url}/api/v1/workflows/nope/trigger`, { method: "POST", headers: bearer });
    expect(unknown.status).toBe(404);
  });

  test("a cross-origin POST is refused even with the token", async () => {
    const before = rows(s.db, "SELECT id FROM workflow_executions").length;
    for (const headers of [{ origin: "http://evil.example" }, { "sec-fetch-site": "cross-site" }] as Record<string, string>[]) {
      const r = await fetch(`${url}/api/v1/workflows/hello/trigger`, { method: "POST", headers: { ...bearer, ...headers } });
      expect(r.status).toBe(403);
    }
    expect(rows(s.db, "SELECT id FROM workflow_executions").length).toBe(before);
    // The browser's own page: same origin.
    const same = await fetch(`${url}/api/v1/workflows/flaky/pause`, { method: "POST", headers: { ...bearer, origin: url, "sec-fetch-site": "same-origin" } });
    expect(same.status).toBe(200);
    expect((await fetch(`${url}/api/v1/workflows/flaky/resume`, { method: "POST", headers: bearer })).status).toBe(200);
  });

  test("pause and resume: 401 without the token; with it, the database holds the pause", async () => {
    expect((await fetch(`${url}/api/v1/workflows/hello/pause`, { method: "POST" })).status).toBe(401);
    expect(rows(s.db, "SELECT * FROM workflow_pauses WHERE workflow_name = 'hello' AND resumed_at IS NULL")).toHaveLength(0);
    const p = await fetch(`${url}/api/v1/workflows/hello/pause`, { method: "POST", headers: bearer });
    expect(p.status).toBe(200);
    expect(await p.json().then(anyJson)).toMatchObject({ workflow: "hello", paused: true, changed: true });
    expect(rows(s.db, "SELECT * FROM workflow_pauses WHERE workflow_name = 'hello' AND resumed_at IS NULL")).toHaveLength(1);
    const listed = await (await fetch(`${url}/api/v1/workflows`, { headers: bearer })).json().then(anyJson);
    expect(listed.find((w: any) => w.name === "hello").paused).toBe(true);
    const r = await fetch(`${url}/api/v1/workflows/hello/resume`, { method: "POST", headers: bearer });
    expect(await r.json().then(anyJson)).toMatchObject({ workflow: "hello", paused: false, changed: true });
    expect(rows(s.db, "SELECT * FROM workflow_pauses WHERE workflow_name = 'hello' AND resumed_at IS NULL")).toHaveLength(0);
    expect((await fetch(`${url}/api/v1/workflows/nope/pause`, { method: "POST", headers: bearer })).status).toBe(404);
  });

  test("retry: 401 without the token; with it, a run that retries the failed one", async () => {
    const [failed] = rows(s.db, "SELECT id FROM workflow_executions WHERE workflow_name = 'flaky' AND status = 'failed'");
    expect((await fetch(`${url}/api/v1/executions/${failed!.id}/retry`, { method: "POST" })).status).toBe(401);
    await Bun.write(`${s.dir}/fixed`, "");
    const r = await fetch(`${url}/api/v1/executions/${failed!.id}/retry`, { method: "POST", headers: bearer });
    expect(r.status).toBe(202);
    const body = await r.json().then(anyJson);
    expect(body.retry_of).toBe(failed!.id);
    await waitFor(() => rows(s.db, "SELECT 1 FROM workflow_executions WHERE id = ? AND status = 'success'", body.execution_id).length === 1, 20_000, "the retry");
    expect(rows(s.db, "SELECT retry_of FROM workflow_executions WHERE id = ?", body.execution_id)[0]!.retry_of).toBe(failed!.id);
  });
});

/** Read Server-Sent Events from `res` until `until` returns true for the events so far (or the stream ends). */
async function readEvents(res: Response, until: (events: { event: string; data: any }[]) => boolean = () => false) {
  const events: { event: string; data: any }[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
    if (until(events)) {
      await reader.cancel();
      break;
    }
  }
  return events;
}

const output = (events: { event: string; data: any }[], stream = "stdout") =>
  events.filter((e) => e.event === "output" && e.data.stream === stream).map((e) => e.data.data).join("");

describe("GET /api/v1/executions/ID/logs (Server-Sent Events)", () => {
  const GATED = (dir: string) => `
name: gated
tasks:
  - name: talk
    type: shell
    config: { command: /bin/sh, args: ["-c", "echo first; echo oops >&2; while [ ! -f ${dir}/go ]; do sleep 0.05; done; echo second"] }
`;

  test("stored output of an ended run, then an end event; task filter; bad values", async () => {
    const { s } = await seeded();
    const d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0" });
    try {
      const url = base(d);
      const [run] = rows(s.db, "SELECT id FROM workflow_executions WHERE workflow_name = 'hello' LIMIT 1");
      const r = await fetch(`${url}/api/v1/executions/${run!.id}/logs`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("text/event-stream");
      const events = await readEvents(r);
      expect(output(events)).toBe("hi\nbye\n");
      expect(events.at(-1)).toEqual({ event: "end", data: { execution_id: run!.id, status: "success" } });
      const only = await readEvents(await fetch(`${url}/api/v1/executions/${run!.id}/logs?task=after`));
      expect(output(only)).toBe("bye\n");
      expect((await fetch(`${url}/api/v1/executions/${run!.id}/logs?task=nope`)).status).toBe(404);
      expect((await fetch(`${url}/api/v1/executions/${run!.id}/logs?follow=yes`)).status).toBe(400);
      expect((await fetch(`${url}/api/v1/executions/00000000-dead/logs`)).status).toBe(404);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("follow=1: live output while the task runs, the rest when it ends", async () => {
    const s = sb();
    s.workflow(GATED(s.dir), "gated.yaml");
    const d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0", PICOFLOW_WEB_TOKEN: TOKEN });
    try {
      const url = base(d);
      const auth = { authorization: `Bearer ${TOKEN}` };
      const t = await (await fetch(`${url}/api/v1/workflows/gated/trigger`, { method: "POST", headers: auth })).json().then(anyJson);
      const res = await fetch(`${url}/api/v1/executions/${t.execution_id}/logs?follow=1`, { headers: auth });
      expect(res.status).toBe(200);
      const events: { event: string; data: any }[] = [];
      let released = false;
      const all = await readEvents(res, (ev) => {
        events.splice(0, events.length, ...ev);
        // "first" arrived while the task still waits: only now may it go on.
        if (!released && output(ev).includes("first")) {
          expect(rows(s.db, "SELECT finished_at FROM task_executions WHERE workflow_execution_id = ?", t.execution_id)[0]!.finished_at).toBeNull();
          Bun.write(`${s.dir}/go`, "");
          released = true;
        }
        return false;
      });
      expect(released).toBe(true);
      expect(output(all)).toBe("first\nsecond\n");
      expect(output(all, "stderr")).toBe("oops\n");
      expect(all.at(-1)).toEqual({ event: "end", data: { execution_id: t.execution_id, status: "success" } });
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe("refusals and [web] enabled = false", () => {
  test("a non-loopback bind without a token: exit 4, one line saying why and what to do", async () => {
    const s = sb(`${CONFIG}\n[metrics]\nbind_address = "0.0.0.0"\nport = 0\n`);
    s.workflow(HELLO, "hello.yaml");
    const r = await cli(s, ["daemon", "start", s.dir]);
    expect(r.code).toBe(4);
    const line = r.stderr.trim().split("\n").filter((l) => l.includes("0.0.0.0"));
    expect(line).toHaveLength(1);
    expect(line[0]).toContain("[web] token");
    expect(line[0]).toContain("PICOFLOW_WEB_TOKEN");
    expect(line[0]).toContain("enabled = false");
  });

  test("a token shorter than 32 characters is a config error (exit 4), the token not echoed", async () => {
    const s = sb(`${CONFIG}\n[web]\ntoken = "short-secret-value"\n`);
    const r = await cli(s, ["daemon", "start", s.dir]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("web.token");
    expect(r.stderr).not.toContain("short-secret-value");
    const e = await cli(sb(), ["daemon", "start", s.dir], { PICOFLOW_WEB_TOKEN: "tiny-secret" });
    expect(e.code).toBe(4);
    expect(e.stderr).toContain("PICOFLOW_WEB_TOKEN");
    expect(e.stderr).not.toContain("tiny-secret");
  });

  test("a non-loopback bind with a token starts", async () => {
    const s = sb(`${CONFIG}\n[metrics]\nbind_address = "0.0.0.0"\nport = 0\n`);
    s.workflow(HELLO, "hello.yaml");
    const d = await startDaemon(s, [s.dir], { PICOFLOW_WEB_TOKEN: TOKEN });
    try {
      const port = new URL(d.lines().find((l) => l.msg === "serving metrics")!.url).port;
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/daemon`)).status).toBe(401);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("a changed [web] token or enabled needs a restart: reported on reload without the token, the old one still in use", async () => {
    const other = "another-token-0123456789abcdef01234";
    const s = sb(`${CONFIG}\n[metrics]\nport = 0\n[web]\ntoken = "${TOKEN}"\n`);
    s.workflow(HELLO, "hello.yaml");
    const d = await startDaemon(s, [s.dir]);
    try {
      await Bun.write(`${s.dir}/picoflow.toml`, `${CONFIG}\n[metrics]\nport = 0\n[web]\nenabled = false\ntoken = "${other}"\n`);
      d.proc.kill("SIGHUP");
      await waitFor(() => d.lines().filter((l) => l.msg === "setting changed in the config file; restart the daemon to apply it").length === 2, 10_000, "restart notes");
      const notes = d.lines().filter((l) => l.msg === "setting changed in the config file; restart the daemon to apply it");
      expect(notes.map((l) => l.setting)).toEqual(["[web] enabled", "[web] token"]);
      expect(d.log()).not.toContain(TOKEN);
      expect(d.log()).not.toContain(other);
      const url = base(d);
      expect((await fetch(`${url}/api/v1/workflows`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect((await fetch(`${url}/api/v1/workflows`, { headers: { authorization: `Bearer ${other}` } })).status).toBe(401);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("enabled = false: /api is 404, /metrics and /healthz still served, even on 0.0.0.0 without a token", async () => {
    const s = sb(`${CONFIG}\n[web]\nenabled = false\n[metrics]\nbind_address = "0.0.0.0"\nport = 0\n`);
    s.workflow(HELLO, "hello.yaml");
    const d = await startDaemon(s, [s.dir]);
    try {
      const port = new URL(d.lines().find((l) => l.msg === "serving metrics")!.url).port;
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/api/v1/workflows`)).status).toBe(404);
      expect((await fetch(`${url}/metrics`)).status).toBe(200);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

// ---- For the dashboard: /session, /logout, /overview, /stats, the run's graph, read-only ----

const DIAMOND = `
name: diamond
tasks:
  - name: a
    type: shell
    config: { command: /bin/true }
  - name: b
    type: shell
    depends_on: [a]
    config: { command: /bin/true }
  - name: c
    type: shell
    depends_on: [a]
    config: { command: /bin/true }
  - name: d
    type: shell
    depends_on: [b, c]
    config: { command: /bin/true }
`;
const NIGHTLY = `
name: nightly
schedule: "0 0 3 * * *"
tasks:
  - name: work
    type: shell
    config: { command: /bin/true }
`;

/** Write to the sandbox database (to seed runs at chosen times, or make a run look old). */
function writeDb(path: string, fn: (db: Database) => void): void {
  const db = new Database(path);
  try {
    db.run("PRAGMA busy_timeout = 10000");
    fn(db);
  } finally {
    db.close();
  }
}

/** A run row as the recorder writes one, at `at`, with the given outcome and duration. */
function insertRun(db: Database, workflow: string, at: Date, status: string, duration: number | null): string {
  const id = crypto.randomUUID();
  const ts = at.toISOString().replace("T", " ");
  db.query(
    `INSERT INTO workflow_executions (id, workflow_name, started_at, finished_at, status, duration_seconds, total_tasks, created_at, trigger, task_names)
     VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'schedule', '["t"]')`,
  ).run(id, workflow, ts, ts, status, duration, ts);
  return id;
}

/** "YYYY-MM-DD" in this machine's time zone (the server's: same machine). */
const localDate = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

describe("GET /api/v1/session and POST /api/v1/logout", () => {
  test("without a token: nothing required, no actions", async () => {
    const s = sb();
    s.workflow(HELLO, "hello.yaml");
    const d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0" });
    try {
      const r = await fetch(`${base(d)}/api/v1/session`);
      expect(r.status).toBe(200);
      expect(await r.json().then(anyJson)).toEqual({ auth_required: false, authenticated: false, actions: false, read_only: false });
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("with a token: answered without it; authenticated with the Bearer header or the cookie; logout clears the cookie", async () => {
    const s = sb();
    s.workflow(HELLO, "hello.yaml");
    const d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0", PICOFLOW_WEB_TOKEN: TOKEN });
    try {
      const url = base(d);
      const anon = await fetch(`${url}/api/v1/session`);
      expect(anon.status).toBe(200);
      expect(await anon.json().then(anyJson)).toEqual({ auth_required: true, authenticated: false, actions: true, read_only: false });
      const bearer = await (await fetch(`${url}/api/v1/session`, { headers: { authorization: `Bearer ${TOKEN}` } })).json().then(anyJson);
      expect(bearer.authenticated).toBe(true);
      const wrong = await (await fetch(`${url}/api/v1/session`, { headers: { authorization: `Bearer ${TOKEN}x` } })).json().then(anyJson);
      expect(wrong.authenticated).toBe(false);
      const login = await fetch(`${url}/api/v1/login`, { method: "POST", body: new URLSearchParams({ token: TOKEN }) });
      const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
      expect((await (await fetch(`${url}/api/v1/session`, { headers: { cookie } })).json().then(anyJson)).authenticated).toBe(true);

      // Logout: same origin, no token needed; the same cookie, expired, with the same attributes.
      const cross = await fetch(`${url}/api/v1/logout`, { method: "POST", headers: { cookie, "sec-fetch-site": "cross-site" } });
      expect(cross.status).toBe(403);
      expect(cross.headers.get("set-cookie")).toBeNull();
      const out = await fetch(`${url}/api/v1/logout`, { method: "POST", headers: { origin: url, "sec-fetch-site": "same-origin" } });
      expect(out.status).toBe(204);
      const cleared = out.headers.get("set-cookie")!.split(";").map((p) => p.trim());
      expect(cleared[0]).toBe("picoflow_token=");
      expect(cleared.slice(1).sort()).toEqual(["HttpOnly", "Max-Age=0", "Path=/", "SameSite=Strict"]);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe("GET /api/v1/overview", () => {
  let s: Sandbox;
  let d: Daemon;
  let url: string;
  beforeAll(async () => {
    ({ s } = await seeded());
    // nightly has run once; weekly never has (the daemon has loaded it).
    expect((await cli(s, ["run", s.workflow(NIGHTLY, "nightly.yaml")])).code).toBe(0);
    s.workflow(NIGHTLY.replace("nightly", "weekly").replace("0 0 3 * * *", "0 0 4 * * 1"), "weekly.yaml");
    // 33 older runs of hello: 35 in all, more than the strip's 30.
    writeDb(s.db, (db) => {
      for (let i = 0; i < 33; i++) insertRun(db, "hello", new Date(Date.now() - (40 - i) * 60_000), i % 3 ? "success" : "failed", i);
    });
    d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0" });
    url = base(d);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  test("every workflow's row of /workflows, its next run from the daemon, and its last 30 runs oldest first", async () => {
    const r = await fetch(`${url}/api/v1/overview`);
    expect(r.status).toBe(200);
    const o = await r.json().then(anyJson);
    expect(Date.parse(o.generated_at)).not.toBeNaN();
    const list = await (await fetch(`${url}/api/v1/workflows`)).json().then(anyJson);
    expect(o.workflows.map((w: any) => w.name)).toEqual(["flaky", "hello", "nightly", "weekly"]);
    expect(o.workflows.map(({ next_run: _n, recent: _r, ...w }: any) => w)).toEqual(list);
    const by = Object.fromEntries(o.workflows.map((w: any) => [w.name, w]));
    // Loaded by the daemon, never run: no runs to show, its next run all the same.
    expect(by.weekly).toMatchObject({ loaded: true, runs: 0, recent: [] });
    expect(Date.parse(by.weekly.next_run)).toBeGreaterThan(Date.now());

    const newest30 = rows(s.db, "SELECT id FROM workflow_executions WHERE workflow_name = 'hello' ORDER BY started_at DESC LIMIT 30").map((x) => x.id);
    expect(by.hello.recent.map((x: any) => x.id)).toEqual(newest30.reverse());
    expect(Object.keys(by.hello.recent[0]).sort()).toEqual(["duration_seconds", "id", "started_at", "status", "trigger"]);
    expect(by.hello.recent.at(-1)).toMatchObject({ id: by.hello.last_execution_id, status: "success", trigger: "manual" });
    // 35 runs, the 5 oldest left out: the first shown is the 6th of the seeded ones.
    expect(by.hello.recent[0]).toMatchObject({ status: "success", trigger: "schedule", duration_seconds: 5 });
    expect(by.flaky.recent).toHaveLength(1);
    expect(by.flaky.recent[0].status).toBe("failed");
    expect(by.nightly.recent).toHaveLength(1);

    // The next run is the daemon's: what `daemon status` says; none for an unscheduled workflow.
    const status = await cliJson(s, ["daemon", "status"]);
    const nightly = status.workflows.find((w: any) => w.name === "nightly");
    expect(by.nightly.next_run).toBe(nightly.next_run);
    expect(Date.parse(by.nightly.next_run)).toBeGreaterThan(Date.now());
    expect(by.hello.next_run).toBeNull();
  });

  test("a paused workflow has no next run", async () => {
    expect((await cli(s, ["workflow", "pause", "nightly"])).code).toBe(0);
    try {
      const o = await (await fetch(`${url}/api/v1/overview`)).json().then(anyJson);
      const nightly = o.workflows.find((w: any) => w.name === "nightly");
      expect(nightly).toMatchObject({ paused: true, next_run: null });
    } finally {
      expect((await cli(s, ["workflow", "resume", "nightly"])).code).toBe(0);
    }
  });

  test("before the first run: no workflows", async () => {
    const empty = sb();
    const api = createApi({ dbPath: empty.db, pidFile: `${empty.dir}/picoflow.pid`, token: null, log: silentLogger });
    const o = await (await api(new Request("http://127.0.0.1/api/v1/overview"))).json().then(anyJson);
    expect(o.workflows).toEqual([]);
  });
});

describe("GET /api/v1/stats", () => {
  let s: Sandbox;
  let api: (req: Request) => Promise<Response>;
  // hello: day A (the latest) 4 successes (1-4 s), a failure (100 s) and a skipped trigger;
  // A-1 nothing; A-2 a success (10 s) and a failure (20 s); A-40 a success (7 s).
  let a: Date;
  const dayBefore = (n: number) => new Date(a.getFullYear(), a.getMonth(), a.getDate() - n, 12);
  beforeAll(async () => {
    ({ s } = await seeded());
    // The CLI's runs of hello are moved to, and given known durations.
    // Now: the server's period ends at its own now, a moment later, on the same day.
    a = new Date();
    writeDb(s.db, (db) => {
      const cliRuns = db.query("SELECT id FROM workflow_executions WHERE workflow_name = 'hello' ORDER BY started_at").all() as { id: string }[];
      const move = db.query("UPDATE workflow_executions SET started_at = ?, duration_seconds = ? WHERE id = ?");
      move.run(dayBefore(40).toISOString().replace("T", " "), 7, cliRuns[0]!.id);
      move.run(dayBefore(2).toISOString().replace("T", " "), 10, cliRuns[1]!.id);
      insertRun(db, "hello", dayBefore(2), "failed", 20);
      for (const dur of [3, 1, 4, 2]) insertRun(db, "hello", a, "success", dur);
      insertRun(db, "hello", a, "failed", 100);
      insertRun(db, "hello", a, "skipped", 0);
    });
    api = createApi({ dbPath: s.db, pidFile: `${s.dir}/picoflow.pid`, token: null, log: silentLogger });
  });
  const get = async (q: string) => {
    const r = await api(new Request(`http://127.0.0.1/api/v1/stats${q}`));
    return { status: r.status, body: await r.json().then(anyJson) };
  };

  test("per workflow and per local day: counts, rates, nearest-rank p50/p95, empty days included", async () => {
    const { status, body } = await get("");
    expect(status).toBe(200);
    expect(body.days).toBe(30);
    expect(body.daily).toBeUndefined();
    expect(body.workflows.map((w: any) => w.workflow_name)).toEqual(["flaky", "hello"]);
    const hello = body.workflows[1];
    // Durations 1 2 3 4 10 20 100: p50 is the 4th (ceil 3.5), p95 the 7th (ceil 6.65).
    expect(hello).toMatchObject({ runs: 7, success: 5, failed: 2, success_rate: 71.43, p50_duration: 4, p95_duration: 100 });
    expect(hello.daily).toHaveLength(30);
    const days = hello.daily.map((x: any) => x.day);
    expect(days.at(-1)).toBe(localDate(new Date(body.until)));
    expect(new Date(body.since).getHours()).toBe(0);
    expect(localDate(new Date(body.since))).toBe(days[0]);
    expect([...days].sort()).toEqual(days);
    const on = (n: number) => hello.daily.find((x: any) => x.day === localDate(dayBefore(n)));
    expect(on(0)).toEqual({ day: localDate(a), runs: 5, success: 4, failed: 1, success_rate: 80, p50_duration: 3, p95_duration: 100 });
    expect(on(1)).toEqual({ day: localDate(dayBefore(1)), runs: 0, success: 0, failed: 0, success_rate: null, p50_duration: null, p95_duration: null });
    expect(on(2)).toMatchObject({ runs: 2, success: 1, failed: 1, success_rate: 50, p50_duration: 10, p95_duration: 20 });
    expect(hello.daily.reduce((n: number, x: any) => n + x.runs, 0)).toBe(7);
    expect(body.workflows[0]).toMatchObject({ workflow_name: "flaky", runs: 1, success: 0, failed: 1, success_rate: 0 });
  });

  test("days and workflow choose the period and the workflow", async () => {
    const ninety = (await get("?days=90")).body;
    // Durations 1 2 3 4 7 10 20 100: p50 the 4th, p95 the 8th.
    expect(ninety.workflows[1]).toMatchObject({ workflow_name: "hello", runs: 8, success: 6, failed: 2, success_rate: 75, p50_duration: 4, p95_duration: 100 });
    expect(ninety.workflows[1].daily).toHaveLength(90);
    const week = (await get("?days=7&workflow=hello")).body;
    expect(week.workflows.map((w: any) => w.workflow_name)).toEqual(["hello"]);
    expect(week.workflows[0].runs).toBe(7);
    expect(week.workflows[0].daily).toHaveLength(7);
    // A day only: the latest day's runs.
    expect((await get("?days=1&workflow=hello")).body.workflows[0]).toMatchObject({ runs: 5, daily: [{ day: localDate(a), runs: 5 }] });
  });

  test("a bad days is 400 with one line, an unknown workflow 404", async () => {
    for (const q of ["days=0", "days=367", "days=abc", "days=1.5", "days=", "workflow="]) {
      const r = await get(`?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).not.toContain("\n");
    }
    expect((await get("?days=0")).body.error).toBe("days: '0' is not a whole number from 1 to 366");
    const unknown = await get("?workflow=nope");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe("no workflow named 'nope'");
  });
});

describe("the run's graph in GET /api/v1/executions/ID", () => {
  test("a diamond: its levels and edges as recorded; an older run (no task_needs): known false, one level", async () => {
    const s = sb();
    const file = s.workflow(DIAMOND, "diamond.yaml");
    expect((await cli(s, ["run", file])).code).toBe(0);
    const [run] = rows(s.db, "SELECT id, task_needs FROM workflow_executions");
    expect(JSON.parse(run!.task_needs)).toEqual({ b: ["a"], c: ["a"], d: ["b", "c"] });
    const api = createApi({ dbPath: s.db, pidFile: `${s.dir}/picoflow.pid`, token: null, log: silentLogger });
    const get = async () => (await api(new Request(`http://127.0.0.1/api/v1/executions/${run!.id}`))).json().then(anyJson);
    const graph = (await get()).graph;
    expect(graph).toEqual({
      levels: [["a"], ["b", "c"], ["d"]],
      edges: [["a", "b"], ["a", "c"], ["b", "d"], ["c", "d"]],
      known: true,
    });
    // The same levels as `picoflow graph` draws.
    const drawn = JSON.parse((await cli(s, ["graph", file, "--format", "json"])).stdout);
    expect(graph.levels).toEqual(drawn.levels);

    writeDb(s.db, (db) => db.run("UPDATE workflow_executions SET task_needs = NULL"));
    expect((await get()).graph).toEqual({ levels: [["a", "b", "c", "d"]], edges: [], known: false });
  });

  test("a trigger the daemon skipped (the previous run still going) has its graph too", async () => {
    const s = sb();
    s.workflow(
      `
name: slow
schedule: "* * * * * *"
tasks:
  - name: first
    type: shell
    config: { command: /bin/sh, args: ["-c", "while [ ! -f ${s.dir}/go ]; do sleep 0.05; done"] }
  - name: second
    type: shell
    depends_on: [first]
    config: { command: /bin/true }
`,
      "slow.yaml",
    );
    const d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0" });
    try {
      const [skipped] = await waitFor(() => {
        const r = rows(s.db, "SELECT id FROM workflow_executions WHERE status = 'skipped'");
        return r.length ? r : null;
      }, 20_000, "a skipped trigger");
      const one = await (await fetch(`${base(d)}/api/v1/executions/${skipped!.id}`)).json().then(anyJson);
      expect(one.graph).toEqual({ levels: [["first"], ["second"]], edges: [["first", "second"]], known: true });
    } finally {
      await Bun.write(`${s.dir}/go`, "");
      expect(await d.stop()).toBe(0);
    }
  });
});

describe("read-only (picoflow dashboard): createApi({ readOnly: true })", () => {
  let s: Sandbox;
  let api: (req: Request) => Promise<Response>;
  const bearer = { authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    ({ s } = await seeded());
    api = createApi({ dbPath: s.db, pidFile: defaultPidFile(s.db), token: TOKEN, readOnly: true, configFile: `${s.dir}/picoflow.toml`, log: silentLogger });
  });
  const call = (path: string, init?: RequestInit) => api(new Request(`http://127.0.0.1/api/v1/${path}`, init));

  test("every action is 403 read-only, with the token; nothing changes", async () => {
    const [failed] = rows(s.db, "SELECT id FROM workflow_executions WHERE status = 'failed'");
    for (const path of ["workflows/hello/trigger", "workflows/hello/pause", "workflows/hello/resume", `executions/${failed!.id}/retry`]) {
      const r = await call(path, { method: "POST", headers: bearer });
      expect(r.status, path).toBe(403);
      expect((await r.json().then(anyJson)).error, path).toStartWith("read-only: ");
    }
    expect(rows(s.db, "SELECT * FROM workflow_pauses")).toEqual([]);
    expect(rows(s.db, "SELECT id FROM workflow_executions")).toHaveLength(3);
  });

  test("login and logout still work; the session says read-only, no actions", async () => {
    expect((await call("login", { method: "POST", body: new URLSearchParams({ token: TOKEN }) })).status).toBe(204);
    expect((await call("logout", { method: "POST" })).status).toBe(204);
    expect(await (await call("session")).json().then(anyJson)).toEqual({ auth_required: true, authenticated: false, actions: false, read_only: true });
    expect((await (await call("session", { headers: bearer })).json().then(anyJson)).authenticated).toBe(true);
  });

  test("GET /daemon: what `daemon status --format json` prints without a daemon", async () => {
    const r = await call("daemon", { headers: bearer });
    expect(r.status).toBe(200);
    const status = await cli(s, ["daemon", "status", "--format", "json"]);
    expect(status.code).toBe(1);
    // The CLI's hint (shell advice naming other daemons and databases) stays out of the page.
    const api = await r.json().then(anyJson);
    const { hint: cliHint, ...printed } = JSON.parse(status.stdout);
    expect(api).toEqual(printed);
    expect(api).toMatchObject({ status: "stopped", source: "database", note: "no PID file" });
    expect(api.hint).toBeUndefined();
    expect(typeof cliHint).toBe("string");
  });

  test("reading works as with a daemon; the overview has no next run", async () => {
    const o = await (await call("overview", { headers: bearer })).json().then(anyJson);
    expect(o.workflows.map((w: any) => [w.name, w.next_run, w.recent.length])).toEqual([
      ["flaky", null, 1],
      ["hello", null, 2],
    ]);
  });
});
