// Notifications ([notify], a workflow's notify:), healthcheck pings and their delivery records,
// end to end: the real CLI and daemon posting to a real HTTP server on loopback (port 0).

import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { cli, FAST_CONFIG, rows, sandbox, spawnCli, startDaemon, waitFor, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

/** What the server received. */
interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A loopback HTTP server recording each request; `hang` holds requests open until release(). */
function server(opts: { hang?: boolean; status?: number } = {}) {
  const got: Received[] = [];
  const held: (() => void)[] = [];
  const s = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      got.push({ path: new URL(req.url).pathname, headers: Object.fromEntries(req.headers), body: await req.text() });
      if (opts.hang) await new Promise<void>((r) => held.push(r));
      return new Response("ok", { status: opts.status ?? 200 });
    },
  });
  return {
    url: `http://127.0.0.1:${s.port}`,
    got,
    release: () => held.splice(0).forEach((r) => r()),
    stop: () => {
      held.splice(0).forEach((r) => r());
      s.stop(true);
    },
  };
}

const servers: ReturnType<typeof server>[] = [];
function serve(opts: { hang?: boolean; status?: number } = {}) {
  const s = server(opts);
  servers.push(s);
  return s;
}
const sandboxes: Sandbox[] = [];
function sb(config: string): Sandbox {
  const s = sandbox(`${FAST_CONFIG}${config}`);
  sandboxes.push(s);
  return s;
}
afterEach(() => servers.splice(0).forEach((s) => s.stop()));
afterAll(() => sandboxes.forEach((s) => s.cleanup()));

/** Short limits: no test waits the 10 s x 3. */
const FAST_NOTIFY = `
[notify]
timeout_seconds = 5
attempts = 2
backoff_seconds = 0
`;

/** A workflow whose one task succeeds when the file `ok` exists in the sandbox, else exits 3. */
function flaky(s: Sandbox, name: string, extra = ""): string {
  return s.workflow(`name: ${name}
${extra}tasks:
  - name: check
    type: shell
    retry: 0
    config: { command: /bin/sh, args: ["-c", "test -f ${join(s.dir, "ok")} || exit 3"] }
`);
}

const setOk = (s: Sandbox, ok: boolean) => (ok ? writeFileSync(join(s.dir, "ok"), "") : Bun.spawnSync(["rm", "-f", join(s.dir, "ok")]));
const deliveries = (s: Sandbox) => rows(s.db, `SELECT * FROM deliveries ORDER BY id`);

describe("payloads", () => {
  test("json: one document with the summary in text and content, the run's fields, and the failed tasks", async () => {
    const srv = serve();
    const s = sb(`${FAST_NOTIFY}url = "${srv.url}/hook"\non = ["always"]\n`);
    const f = s.workflow(`name: payload
tasks:
  - name: fine
    type: shell
    config: { command: /bin/true }
  - name: broken
    type: shell
    retry: 0
    config: { command: /bin/sh, args: ["-c", "exit 4"] }
`);
    const r = await cli(s, ["run", f]);
    expect(r.code).toBe(3); // the run's exit code, not the notification's
    expect(srv.got.length).toBe(1);
    const m = srv.got[0]!;
    expect(m.path).toBe("/hook");
    expect(m.headers["content-type"]).toBe("application/json");
    const doc = JSON.parse(m.body);
    const run = rows(s.db, `SELECT * FROM workflow_executions`)[0]!;
    const text = `payload failed on ${hostname()} after ${doc.duration_seconds.toFixed(1)}s: broken (exit 4)`;
    expect(doc).toEqual({
      text,
      content: text,
      workflow: "payload",
      execution_id: run.id,
      status: "failed",
      trigger: "manual",
      started_at: run.started_at.replace(" ", "T"),
      finished_at: run.finished_at.replace(" ", "T"),
      duration_seconds: expect.any(Number),
      host: hostname(),
      failed_tasks: [{ name: "broken", status: "failed", exit_code: 4, error: "exited with code 4" }],
    });
    expect(doc.duration_seconds).toBeCloseTo(run.duration_seconds, 2);
    // Recorded, and shown by status (table and JSON).
    expect(deliveries(s)).toMatchObject([{ workflow_execution_id: run.id, kind: "notify", event: "always", target: `${srv.url}/***`, attempts: 1, result: "success", http_status: 200, error: null }]);
    const st = await cli(s, ["status", "--execution-id", run.id]);
    expect(st.stdout).toMatch(/DELIVERY +EVENT +TARGET/);
    expect(st.stdout).toMatch(new RegExp(`notify +always +${srv.url.replace(/\./g, "\\.")}/\\*\\*\\* +success +1 `));
    const js = JSON.parse((await cli(s, ["status", "--execution-id", run.id, "-o", "json"])).stdout);
    expect(js[0].deliveries).toMatchObject([{ kind: "notify", event: "always", target: `${srv.url}/***`, result: "success", attempts: 1, http_status: 200 }]);
  });

  test("ntfy: the summary as plain text with Title, Priority and Tags headers", async () => {
    const srv = serve();
    const s = sb(`${FAST_NOTIFY}url = "${srv.url}/alerts"\nformat = "ntfy"\non = ["always"]\n`);
    const f = flaky(s, "nt");
    expect((await cli(s, ["run", f])).code).toBe(3);
    setOk(s, true);
    expect((await cli(s, ["run", f])).code).toBe(0);
    expect(srv.got.length).toBe(2);
    const [fail, ok] = srv.got as [Received, Received];
    expect(fail.path).toBe("/alerts");
    expect(fail.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(fail.headers.title).toBe("nt failed");
    expect(fail.headers.priority).toBe("high");
    expect(fail.headers.tags).toBe("rotating_light,picoflow");
    expect(fail.body).toMatch(new RegExp(`^nt failed on ${hostname()} after \\d+\\.\\ds: check \\(exit 3\\)$`));
    expect(ok.headers.title).toBe("nt recovered");
    expect(ok.headers.priority).toBe("default");
    expect(ok.headers.tags).toBe("white_check_mark,picoflow");
    expect(ok.body).toMatch(new RegExp(`^nt succeeded on ${hostname()} in \\d+\\.\\ds \\(recovered: the previous run failed\\)$`));
  });
});

describe("policy", () => {
  const sequence = async (s: Sandbox, f: string) => {
    for (const ok of [false, false, true, true]) {
      setOk(s, ok);
      expect((await cli(s, ["run", f])).code).toBe(ok ? 0 : 3);
    }
  };

  test("the default [failure, recovery]: fail, fail, success, success sends the first failure and the recovery", async () => {
    const srv = serve();
    const s = sb(`${FAST_NOTIFY}url = "${srv.url}/t"\n`);
    const f = flaky(s, "seq");
    await sequence(s, f);
    expect(srv.got.map((m) => JSON.parse(m.body).status)).toEqual(["failed", "success"]);
    const runs = rows(s.db, `SELECT id FROM workflow_executions ORDER BY started_at`).map((r) => r.id);
    expect(deliveries(s).map((d) => [d.workflow_execution_id, d.event])).toEqual([
      [runs[0], "failure"],
      [runs[2], "recovery"],
    ]);
  });

  test("every_failure: fail, fail, success, success sends both failures", async () => {
    const srv = serve();
    const s = sb(FAST_NOTIFY);
    // The workflow's own notify: block, in place of the config's (which has no url here).
    const f = flaky(s, "seq2", `notify:\n  url: "${srv.url}/t"\n  on: [every_failure]\n`);
    await sequence(s, f);
    expect(srv.got.map((m) => JSON.parse(m.body).status)).toEqual(["failed", "failed"]);
    expect(deliveries(s).map((d) => d.event)).toEqual(["every_failure", "every_failure"]);
  });

  test("notify: false silences the config's [notify] for that workflow", async () => {
    const srv = serve();
    const s = sb(`${FAST_NOTIFY}url = "${srv.url}/t"\non = ["always"]\n`);
    const quiet = flaky(s, "quiet", "notify: false\n");
    const loud = flaky(s, "loud");
    expect((await cli(s, ["run", quiet])).code).toBe(3);
    expect((await cli(s, ["run", loud])).code).toBe(3);
    expect(srv.got.map((m) => JSON.parse(m.body).workflow)).toEqual(["loud"]);
    expect((await cli(s, ["validate", quiet])).stdout).toContain("Notify:       off (notify: false; [notify] in the config file is not used)\n");
  });
});

describe("healthcheck pings", () => {
  test("URL/start at the start, URL on success, URL/fail on failure, the summary as the body; recorded", async () => {
    const srv = serve();
    const s = sb(FAST_NOTIFY);
    const f = flaky(s, "hc", `healthcheck: "${srv.url}/ping/0f9a-uuid"\n`);
    expect((await cli(s, ["run", f])).code).toBe(3);
    setOk(s, true);
    expect((await cli(s, ["run", f])).code).toBe(0);
    expect(srv.got.map((m) => m.path)).toEqual(["/ping/0f9a-uuid/start", "/ping/0f9a-uuid/fail", "/ping/0f9a-uuid/start", "/ping/0f9a-uuid"]);
    const runs = rows(s.db, `SELECT id FROM workflow_executions ORDER BY started_at`).map((r) => r.id);
    expect(srv.got[0]!.body).toBe(`hc started on ${hostname()} (execution ${runs[0]}, manual)`);
    expect(srv.got[1]!.body).toMatch(/^hc failed on .* check \(exit 3\)$/);
    expect(srv.got[3]!.body).toMatch(/^hc succeeded on .* \(recovered: the previous run failed\)$/);
    expect(deliveries(s).map((d) => [d.workflow_execution_id, d.kind, d.event, d.target, d.result])).toEqual([
      [runs[0], "healthcheck", "start", `${srv.url}/***/start`, "success"],
      [runs[0], "healthcheck", "fail", `${srv.url}/***/fail`, "success"],
      [runs[1], "healthcheck", "start", `${srv.url}/***/start`, "success"],
      [runs[1], "healthcheck", "success", `${srv.url}/***`, "success"],
    ]);
  });

  test("an interrupted run pings URL/fail and says so", async () => {
    const srv = serve();
    const s = sb(FAST_NOTIFY);
    const f = s.workflow(`name: stopped
healthcheck: "${srv.url}/ping/i-uuid"
tasks:
  - name: long
    type: shell
    config: { command: /bin/sleep, args: ["37.5"] }
`);
    const p = spawnCli(s, ["run", f]);
    try {
      await waitFor(() => rows(s.db, `SELECT 1 FROM task_executions WHERE status = 'running'`).length && srv.got.length, 20_000, "the start ping and the task");
      p.kill("SIGTERM");
      expect(await p.exited).toBe(9);
    } finally {
      p.kill();
      await p.exited;
    }
    expect(srv.got.map((m) => m.path)).toEqual(["/ping/i-uuid/start", "/ping/i-uuid/fail"]);
    expect(srv.got[1]!.body).toMatch(new RegExp(`^stopped was interrupted by SIGTERM on ${hostname()} after \\d+\\.\\ds$`));
  });

  test("a target that answers 500 is tried [notify] attempts times, and the failure is recorded", async () => {
    const srv = serve({ status: 500 });
    const s = sb(FAST_NOTIFY);
    const f = flaky(s, "down", `healthcheck: "${srv.url}/ping/x-uuid"\nnotify: false\n`);
    setOk(s, true);
    const r = await cli(s, ["run", f]);
    expect(r.code).toBe(0); // a failed ping never changes the run's exit code
    expect(srv.got.length).toBe(4);
    expect(deliveries(s).map((d) => [d.event, d.attempts, d.result, d.http_status, d.error])).toEqual([
      ["start", 2, "failed", 500, "HTTP 500 Internal Server Error"],
      ["success", 2, "failed", 500, "HTTP 500 Internal Server Error"],
    ]);
    expect(r.stderr).toContain('"msg":"healthcheck ping failed"');
  });
});

describe("a target that hangs", () => {
  test("run: the run is recorded and its summary shown before the notification is answered", async () => {
    const srv = serve({ hang: true });
    const s = sb(`[notify]\nurl = "${srv.url}/slow"\ntimeout_seconds = 60\n`);
    const f = flaky(s, "slow");
    const p = spawnCli(s, ["run", f]);
    try {
      await waitFor(() => srv.got.length === 1, 20_000, "the notification");
      // While the notification hangs: the run is over and recorded, its delivery pending.
      expect(rows(s.db, `SELECT status, finished_at IS NOT NULL AS done FROM workflow_executions`)).toEqual([{ status: "failed", done: 1 }]);
      expect(deliveries(s).map((d) => d.result)).toEqual(["pending"]);
      srv.release();
      expect(await p.exited).toBe(3);
      expect(await new Response(p.stdout).text()).toContain("Workflow  slow: failed");
      expect(deliveries(s).map((d) => d.result)).toEqual(["success"]);
    } finally {
      p.kill();
      await p.exited;
    }
  });

  test("daemon: neither the run's next trigger nor another workflow waits for it", async () => {
    const srv = serve({ hang: true });
    const s = sb(`[metrics]\nenabled = false\n[daemon]\nshutdown_grace_seconds = 5\n[notify]\ntimeout_seconds = 60\n`);
    const slow = s.workflow(`name: slow
schedule: "* * * * * *"
notify: { url: "${srv.url}/slow", on: [always] }
tasks:
  - name: t
    type: shell
    config: { command: /bin/true }
`);
    const other = s.workflow(`name: other
schedule: "* * * * * *"
tasks:
  - name: t
    type: shell
    config: { command: /bin/true }
`);
    const d = await startDaemon(s, [slow, other]);
    try {
      await waitFor(() => srv.got.length >= 1, 20_000, "the first notification");
      const done = (wf: string) => rows(s.db, `SELECT count(*) AS n FROM workflow_executions WHERE workflow_name = ? AND status = 'success'`, wf)[0]!.n;
      const [slowBefore, otherBefore] = [done("slow"), done("other")];
      // Nothing has been answered: both workflows keep running on schedule all the same.
      await waitFor(() => done("slow") >= slowBefore + 2 && done("other") >= otherBefore + 2, 20_000, "later runs");
      expect(deliveries(s).every((r) => r.result === "pending")).toBe(true);
      expect(deliveries(s).length).toBeGreaterThanOrEqual(2);
      srv.release();
      await waitFor(() => deliveries(s).some((r) => r.result === "success"), 20_000, "an answered notification");
    } finally {
      srv.release();
      const stopping = d.stop();
      // Requests made while stopping are answered too, so the stop does not wait out the timeout.
      const releaser = setInterval(() => srv.release(), 20);
      expect(await stopping).toBe(0);
      clearInterval(releaser);
    }
    expect(deliveries(s).filter((r) => r.result === "pending")).toEqual([]);
  });
});

describe("a stop signal while deliveries are still going", () => {
  test("run: Ctrl-C while it waits for a hanging notification gives it up; the exit code stays the run's", async () => {
    const srv = serve({ hang: true });
    // Limits far beyond the test's patience: only the signal can end the wait.
    const s = sb(`[notify]\nurl = "${srv.url}/slow"\ntimeout_seconds = 300\nattempts = 3\n`);
    const f = flaky(s, "given_up"); // fails: exit 3
    const p = spawnCli(s, ["run", f]);
    try {
      await waitFor(() => srv.got.length === 1 && deliveries(s).length === 1, 20_000, "the notification");
      p.kill("SIGINT");
      await waitFor(() => p.exitCode !== null, 20_000, "the run to exit after Ctrl-C");
      expect(p.exitCode).toBe(3); // the run's code (failed), not 9: the run itself was not interrupted
    } finally {
      p.kill("SIGKILL");
      await p.exited;
    }
    const stderr = await new Response(p.stderr).text();
    expect(stderr).toContain('"msg":"signal received; giving up notifications still being sent","signal":"SIGINT"');
    expect(await new Response(p.stdout).text()).toContain("Workflow  given_up: failed");
    const run = rows(s.db, `SELECT * FROM workflow_executions`)[0]!;
    expect(run).toMatchObject({ status: "failed", error_message: null });
    // Recorded as given up: failed, after the one attempt that was going, nothing retried.
    expect(deliveries(s).map((d) => [d.event, d.attempts, d.result, d.http_status, d.error, d.finished_at !== null])).toEqual([
      ["failure", 1, "failed", null, "stopped before it was delivered", true],
    ]);
    expect(srv.got.length).toBe(1);
    const st = await cli(s, ["status", "--execution-id", run.id]);
    expect(st.stdout).toContain("stopped before it was delivered");
  });

  test("daemon: a second stop signal while it drains deliveries gives them up; nothing is left pending", async () => {
    const srv = serve({ hang: true });
    const s = sb(`[metrics]\nenabled = false\n[daemon]\nshutdown_grace_seconds = 60\n[notify]\ntimeout_seconds = 300\nattempts = 3\n`);
    const f = s.workflow(`name: drained
schedule: "* * * * * *"
notify: { url: "${srv.url}/slow", on: [always] }
healthcheck: "${srv.url}/ping/d-uuid"
tasks:
  - name: t
    type: shell
    config: { command: /bin/true }
`);
    const pidFile = join(s.dir, "drain.pid");
    const d = await startDaemon(s, ["--pid-file", pidFile, f]);
    try {
      await waitFor(() => srv.got.some((m) => m.path === "/slow"), 20_000, "a notification");
      d.proc.kill("SIGTERM");
      // The runs have ended (each takes no time); only the deliveries are left to wait for.
      await waitFor(() => d.log().includes('"msg":"stopping: waiting for notifications being sent"'), 20_000, "the drain of deliveries");
      d.proc.kill("SIGTERM");
      await waitFor(() => d.code() !== undefined, 20_000, "the daemon to exit after the second signal");
    } finally {
      d.proc.kill("SIGKILL");
      await d.exited;
    }
    expect(d.code()).toBe(0); // no run had to be stopped
    expect(d.lines().some((l) => l.msg === "daemon stopped")).toBe(true);
    // The database is consistent: every run finished, every delivery ended, no daemon state.
    expect(rows(s.db, `SELECT count(*) AS n FROM workflow_executions WHERE status = 'running' OR finished_at IS NULL`)[0]!.n).toBe(0);
    const all = deliveries(s);
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(all.filter((r) => r.result === "pending" || r.finished_at === null)).toEqual([]);
    // The target never answered: every one was given up, and says so.
    for (const r of all) expect([r.result, r.error]).toEqual(["failed", "stopped before it was delivered"]);
    expect(rows(s.db, `SELECT count(*) AS n FROM daemon_state`)[0]!.n).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
  });
});

describe("secrets", () => {
  test("a ${TOKEN} in a notify URL never shows in logs, the database, status or validate", async () => {
    const srv = serve();
    const token = "tok-9f8e7d6c5b4a";
    const s = sb(FAST_NOTIFY);
    const f = s.workflow(`name: masked
notify:
  url: "${srv.url}/\${TOPIC}"
  on: [always]
healthcheck: "${srv.url}/hc/\${TOPIC}"
tasks:
  - name: leak
    type: shell
    retry: 0
    config: { command: /bin/sh, args: ["-c", "echo topic=$T; echo $T >&2; exit 2"], env: { T: "\${TOPIC}" } }
`);
    const env = { TOPIC: token };
    const r = await cli(s, ["run", f], env);
    expect(r.code).toBe(3);
    // It was really used...
    expect(srv.got.map((m) => m.path)).toEqual([`/hc/${token}/start`, `/${token}`, `/hc/${token}/fail`]);
    // ...and is nowhere else: logs, output, payloads, the database, status, validate.
    expect(r.stderr + r.stdout).not.toContain(token);
    for (const m of srv.got) expect(m.body).not.toContain(token);
    const run = rows(s.db, `SELECT id FROM workflow_executions`)[0]!;
    const stored = JSON.stringify([rows(s.db, `SELECT * FROM deliveries`), rows(s.db, `SELECT stdout, stderr, error_message FROM task_executions`)]);
    expect(stored).not.toContain(token);
    expect(stored).toContain("topic=***");
    const st = await cli(s, ["status", "--execution-id", run.id], env);
    const js = await cli(s, ["status", "--execution-id", run.id, "-o", "json"], env);
    const logs = await cli(s, ["logs", run.id], env);
    const v = await cli(s, ["validate", f], env);
    for (const out of [st, js, logs, v]) expect(out.stdout + out.stderr).not.toContain(token);
    expect(v.stdout).toContain(`Notify:       json to ${srv.url}/*** on always (the workflow's notify:)\n`);
    expect(v.stdout).toContain(`Healthcheck:  ${srv.url}/*** (pinged at /start, then on success, or at /fail)\n`);
  });

  test("[notify] in the config file: keys checked, a bad url not echoed", async () => {
    const s = sb(`[notify]\nurl = "ftp://secret-topic"\nformat = "xml"\non = ["sometimes"]\n`);
    const r = await cli(s, ["validate", flaky(s, "x")]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("notify.url: must be an http:// or https:// URL\n");
    expect(r.stderr).toContain('notify.format: must be one of json, ntfy (got "xml")');
    expect(r.stderr).toContain("notify.on.0: must be one of failure, recovery, every_failure, success, always");
    expect(r.stderr).not.toContain("secret-topic");
  });
});

describe("metrics", () => {
  test("the daemon counts deliveries and shows each workflow's last success and failure, from before it started too", async () => {
    const srv = serve();
    const s = sb(`[metrics]\nenabled = true\nport = 0\n[daemon]\nshutdown_grace_seconds = 5\n${FAST_NOTIFY}`);
    const before = flaky(s, "before");
    expect((await cli(s, ["run", before])).code).toBe(3);
    const failedAt = Math.round(Date.parse(rows(s.db, `SELECT finished_at FROM workflow_executions`)[0]!.finished_at.replace(" ", "T")) / 1000);
    const ticker = s.workflow(`name: ticker
schedule: "* * * * * *"
notify: { url: "${srv.url}/t", on: [always] }
tasks:
  - name: t
    type: shell
    config: { command: /bin/true }
`);
    const d = await startDaemon(s, [before, ticker]);
    try {
      const url = await waitFor(() => /"msg":"serving metrics","url":"([^"]+)"/.exec(d.log())?.[1], 20_000, "the metrics URL");
      const text = await waitFor(async () => {
        const t = await (await fetch(url)).text();
        return /^picoflow_notifications_total\{result="success"\} [1-9]/m.test(t) ? t : null;
      }, 20_000, "a counted notification");
      expect(text).toContain(`picoflow_workflow_last_failure_timestamp_seconds{workflow="before"} ${failedAt}\n`);
      expect(text).toMatch(/^picoflow_workflow_last_success_timestamp_seconds\{workflow="ticker"\} \d{10}$/m);
      expect(text).not.toContain('picoflow_workflow_last_success_timestamp_seconds{workflow="before"}');
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
