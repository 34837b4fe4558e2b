// The JSON API under /api/v1/ (docs/api.md): a real daemon on port 0, real HTTP through fetch.
// The GETs give what the CLI's --format json gives for the same database; POSTs need the token
// and a same-origin request; a non-loopback bind without a token is refused; [web] enabled =
// false leaves /metrics alone and /api out.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
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
    expect(await one.json().then(anyJson)).toEqual(status);
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
