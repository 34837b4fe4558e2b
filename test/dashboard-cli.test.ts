// `picoflow dashboard`: the dashboard and the API served read-only from a database, without a
// daemon. Real processes of the CLI (the compiled binary in CI), real HTTP on port 0: the page
// with its security headers, the API, actions refused, the token rules shared with the daemon,
// a clean exit on SIGTERM/SIGINT, and one clear line for each way it cannot start.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { alive, cli, sandboxMaker, spawnCli, waitFor, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

const TOKEN = "dashboard-token-0123456789abcdef0123";
const sb = sandboxMaker();

const HELLO = `
name: hello
tasks:
  - name: greet
    type: shell
    config: { command: /bin/echo, args: ["hi"] }
`;

/** A sandbox whose database holds one run of `hello`. */
async function seeded(config?: string): Promise<Sandbox> {
  const s = sb(config);
  expect((await cli(s, ["run", s.workflow(HELLO, "hello.yaml")])).code).toBe(0);
  return s;
}

interface Dashboard {
  proc: ReturnType<typeof spawnCli>;
  /** The start line, as printed. */
  line: string;
  /** http://127.0.0.1:PORT (no trailing slash), whatever address it is bound to. */
  base: string;
  stderr: () => string;
  exited: Promise<number>;
}

/** Start `picoflow dashboard ARGS --port 0` and wait for its start line on stdout. */
async function startDashboard(s: Sandbox, args: string[] = [], env: Record<string, string> = {}): Promise<Dashboard> {
  const proc = spawnCli(s, ["dashboard", "--port", "0", ...args], env);
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true });
  })();
  void (async () => {
    for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
  })();
  const exited = proc.exited.then(async (c) => (await reading, c));
  const started = await Promise.race([waitFor(() => out.includes("\n"), 30_000, "the start line").then(() => true), exited.then(() => false)]);
  if (!started) throw new Error(`dashboard did not start:\n${out}\n${err}`);
  const line = out.split("\n")[0]!;
  const port = /:(\d+)\//.exec(line)![1];
  return { proc, line, base: `http://127.0.0.1:${port}`, stderr: () => err, exited };
}

describe("picoflow dashboard on a seeded database", () => {
  let s: Sandbox;
  let d: Dashboard;
  beforeAll(async () => {
    s = await seeded();
    d = await startDashboard(s);
  });
  afterAll(async () => {
    d.proc.kill("SIGTERM");
    expect(await d.exited).toBe(0);
  });

  test("prints one start line: the URL, read-only, the database", () => {
    expect(d.line).toMatch(/^Dashboard at http:\/\/127\.0\.0\.1:\d+\/ \(read-only, database (.+); Ctrl-C to stop\)$/);
    expect(d.line).toContain(`database ${join(realpathSync(s.dir), "picoflow.db")};`);
  });

  test("serves the page with the security headers, and its assets", async () => {
    const res = await fetch(`${d.base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await res.text();
    const assets = [...html.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(0);
    for (const a of assets) {
      const r = await fetch(`${d.base}/${a}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });

  test("answers the API from the database", async () => {
    const res = await fetch(`${d.base}/api/v1/workflows`);
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body.map((w: any) => w.name)).toEqual(["hello"]);
    const runs: any = await (await fetch(`${d.base}/api/v1/executions`)).json();
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe("success");
  });

  test("refuses actions: read-only (403), even with a same-origin request", async () => {
    const res = await fetch(`${d.base}/api/v1/workflows/hello/trigger`, { method: "POST", headers: { origin: d.base } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error).toContain("read-only");
  });

  test("serves no /metrics (no daemon, no metrics)", async () => {
    expect((await fetch(`${d.base}/metrics`)).status).toBe(404);
  });
});

describe("starting and stopping", () => {
  test("--format json: one JSON line with url, read_only and database", async () => {
    const s = await seeded();
    const d = await startDashboard(s, ["--format", "json"]);
    try {
      const start = JSON.parse(d.line);
      expect(start).toEqual({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/), read_only: true, database: join(realpathSync(s.dir), "picoflow.db") });
      expect((await fetch(start.url)).status).toBe(200);
    } finally {
      d.proc.kill("SIGINT");
      expect(await d.exited).toBe(0);
    }
  });

  test("SIGTERM: exit 0, the port closed, no process left", async () => {
    const s = await seeded();
    const d = await startDashboard(s);
    expect((await fetch(`${d.base}/api/v1/workflows`)).status).toBe(200);
    d.proc.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    expect(alive(d.proc.pid)).toBe(false);
    expect(await fetch(`${d.base}/`).then(() => "answered", () => "refused")).toBe("refused");
  });

  test("--bind 0.0.0.0 without a token: exit 4, one line saying why and what to do", async () => {
    const s = await seeded();
    const r = await cli(s, ["dashboard", "--port", "0", "--bind", "0.0.0.0"]);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("--bind 0.0.0.0 is reachable from other machines");
    expect(r.stderr).toContain("PICOFLOW_WEB_TOKEN");
  });

  test("--bind 0.0.0.0 with PICOFLOW_WEB_TOKEN: starts, and every request needs the token", async () => {
    const s = await seeded();
    const d = await startDashboard(s, ["--bind", "0.0.0.0"], { PICOFLOW_WEB_TOKEN: TOKEN });
    try {
      expect(d.line).toContain("Dashboard at http://0.0.0.0:");
      expect((await fetch(`${d.base}/api/v1/workflows`)).status).toBe(401);
      const ok = await fetch(`${d.base}/api/v1/workflows`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as any)[0].name).toBe("hello");
      const post = await fetch(`${d.base}/api/v1/workflows/hello/trigger`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
      expect(post.status).toBe(403);
    } finally {
      d.proc.kill("SIGTERM");
      expect(await d.exited).toBe(0);
    }
  });

  test("[web] enabled = false does not stop it: the user asked for the dashboard", async () => {
    const s = await seeded("[web]\nenabled = false\n");
    const d = await startDashboard(s);
    try {
      expect((await fetch(`${d.base}/api/v1/workflows`)).status).toBe(200);
    } finally {
      d.proc.kill("SIGTERM");
      expect(await d.exited).toBe(0);
    }
  });

  test("a [web] token in a config file others can read: a warning naming the file and the fix; none at 0640", async () => {
    const s = await seeded(`[web]\ntoken = "${TOKEN}"\n`);
    const config = join(s.dir, "picoflow.toml");
    for (const [mode, warned] of [[0o644, true], [0o640, false]] as const) {
      chmodSync(config, mode);
      const d = await startDashboard(s);
      try {
        expect((await fetch(`${d.base}/api/v1/workflows`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      } finally {
        d.proc.kill("SIGTERM");
        expect(await d.exited).toBe(0);
      }
      const warning = d.stderr().split("\n").find((l) => l.includes("readable by every local user"));
      if (warned) {
        expect(warning).toContain(realpathSync(config).replace(realpathSync(s.dir), ""));
        expect(warning).toContain("chmod 0640");
        expect(warning).not.toContain(TOKEN);
      } else {
        expect(warning).toBeUndefined();
      }
    }
  });

  test("no database at --db-path: exit 5, one line naming it", async () => {
    const s = sb();
    const r = await cli(s, ["--db-path", join(s.dir, "missing.db"), "dashboard", "--port", "0"]);
    expect(r.code).toBe(5);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("missing.db");
    expect(r.stderr).toContain("no database here");
  });

  test("a port already taken: exit 7, one line naming the address", async () => {
    const s = await seeded();
    const taken = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("other") });
    try {
      const r = await cli(s, ["dashboard", "--port", String(taken.port)]);
      expect(r.code).toBe(7);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(`cannot serve the dashboard on 127.0.0.1:${taken.port}: address already in use`);
    } finally {
      taken.stop(true);
    }
  });

  test("bad flags: exit 4", async () => {
    const s = await seeded();
    for (const args of [["--port", "http"], ["--port", "70000"], ["--format", "yaml"], ["--bnid", "0.0.0.0"]]) {
      const r = await cli(s, ["dashboard", ...args]);
      expect(r.code).toBe(4);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(args[0]!);
    }
  });

  test("listed in --help", async () => {
    const r = await cli(sb(), ["--help"]);
    expect(r.stdout).toMatch(/\n\s+dashboard\s+Serve the web dashboard/);
  });
});
