// Workflow-level handlers (on_failure, on_success, on_exit), run-time placeholders and
// config.fail_fast, end to end: the real CLI, real shell commands, a real sshd and a real HTTP
// server on 127.0.0.1:0.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { alive, cli, FAST_CONFIG, rows, sandbox, spawnCli, startDaemon, waitFor, type Sandbox } from "./helpers.ts";
import { startSshd, type Sshd } from "./sshd.ts";

setDefaultTimeout(60_000);

let sb: Sandbox;
let sshd: Sshd;
let server: ReturnType<typeof Bun.serve>;
/** Requests the server got: path, headers, body. */
const received: { path: string; auth: string | null; body: any }[] = [];

const TOKEN = "s3cr3t-handler-token";

beforeAll(async () => {
  sb = sandbox();
  sshd = await startSshd();
  mkdirSync(join(sb.dir, ".ssh"), { mode: 0o700 });
  writeFileSync(join(sb.dir, ".ssh", "known_hosts"), Object.values(sshd.knownHosts).join("\n") + "\n");
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = await req.json().catch(() => null);
      received.push({ path: new URL(req.url).pathname, auth: req.headers.get("authorization"), body });
      // Echoes the body: what a handler sent comes back as its stdout (masking is checked there).
      return Response.json(body, { status: new URL(req.url).pathname === "/fail" ? 500 : 200 });
    },
  });
});

afterAll(async () => {
  server?.stop(true);
  await sshd?.stop();
  sb?.cleanup();
});

const base = () => `http://127.0.0.1:${server.port}`;

/** One handler of each type in `list`, named with `prefix`. */
function handlers(list: string, prefix: string): string {
  return `
${list}:
  - name: ${prefix}_shell
    type: shell
    retry: 0
    config:
      command: /bin/sh
      args: ["-c", 'echo "$PICOFLOW_WORKFLOW|$PICOFLOW_EXECUTION_ID|$PICOFLOW_STATUS|$PICOFLOW_FAILED_TASKS|{{ run.status }}"']
  - name: ${prefix}_http
    type: http
    retry: 0
    config:
      url: "${base()}/${prefix}/{{ run.id }}"
      method: POST
      headers: { Authorization: "Bearer \${TOKEN}" }
      body:
        text: "{{ workflow.name }} {{run.status}} on {{ run.host }}: {{ run.failed_tasks }}"
        workflow: "{{ workflow.name }}"
        id: "{{ run.id }}"
        status: "{{ run.status }}"
        trigger: "{{ run.trigger }}"
        started_at: "{{ run.started_at }}"
        duration: "{{ run.duration_seconds }}"
        failed: "{{ run.failed_tasks }}"
        host: "{{ run.host }}"
        literal: '{{ "{{" }} not a placeholder }} {{.State.Running}}'
        token: "\${TOKEN}"
  - name: ${prefix}_ssh
    type: ssh
    retry: 0
    config:
      host: 127.0.0.1
      port: ${sshd.port}
      user: ${sshd.user}
      key_path: "${sshd.userKeys.ed25519}"
      command: 'echo "$PICOFLOW_WORKFLOW|$PICOFLOW_EXECUTION_ID|$PICOFLOW_STATUS|$PICOFLOW_FAILED_TASKS|{{ run.id }}"'
`;
}

/** A workflow whose one task runs ${MODE}, with handlers of every type in every list. */
function fullWorkflow(name: string): string {
  return sb.workflow(`name: ${name}
tasks:
  - name: main
    type: shell
    retry: 0
    config: { command: /bin/sh, args: ["-c", "\${MODE}"] }
${handlers("on_failure", "f")}${handlers("on_success", "s")}
on_exit:
  - name: cleanup
    type: shell
    config: { command: /bin/echo, args: ["exit {{ run.status }} {{ workflow.name }}"] }
`);
}

const runOf = (name: string) => rows(sb.db, "SELECT * FROM workflow_executions WHERE workflow_name = ? ORDER BY started_at DESC LIMIT 1", name)[0]!;
const attemptsOf = (id: string) => rows(sb.db, "SELECT * FROM task_executions WHERE workflow_execution_id = ? ORDER BY started_at, rowid", id);
const env = (mode: string) => ({ MODE: mode, TOKEN });

describe("handlers", () => {
  test("after success: on_success then on_exit run, recorded as handlers; the run's counts are the DAG's", async () => {
    const r = await cli(sb, ["run", fullWorkflow("ok_run")], env("true"));
    expect(r.code).toBe(0);
    const run = runOf("ok_run");
    expect(run).toMatchObject({ status: "success", total_tasks: 1, successful_tasks: 1, failed_tasks: 0 });
    const a = attemptsOf(run.id);
    expect(a.map((x) => [x.task_name, x.handler, x.status])).toEqual([
      ["main", null, "success"],
      ["s_shell", "on_success", "success"],
      ["s_http", "on_success", "success"],
      ["s_ssh", "on_success", "success"],
      ["cleanup", "on_exit", "success"],
    ]);
    expect(a[1]!.stdout).toBe(`ok_run|${run.id}|success||success\n`);
    expect(a[3]!.stdout).toBe(`ok_run|${run.id}|success||${run.id}\n`);
    expect(a[4]!.stdout).toBe("exit success ok_run\n");
    const post = received.find((p) => p.path === `/s/${run.id}`)!;
    expect(post.body.status).toBe("success");
    expect(post.body.failed).toBe("");
    // The summary shows them apart from the tasks.
    expect(r.stdout).toMatch(/HANDLER\s+LIST\s+STATUS/);
    expect(r.stdout).toMatch(/s_http\s+on_success\s+success/);
  });

  test("after failure: on_failure then on_exit, placeholders filled in field by field, secrets masked", async () => {
    const file = fullWorkflow("bad_run");
    const r = await cli(sb, ["run", file], env("echo to-fail; exit 4"));
    expect(r.code).toBe(3);
    const run = runOf("bad_run");
    expect(run).toMatchObject({ status: "failed", total_tasks: 1, successful_tasks: 0, failed_tasks: 1 });
    const a = attemptsOf(run.id);
    expect(a.map((x) => [x.task_name, x.handler, x.status])).toEqual([
      ["main", null, "failed"],
      ["f_shell", "on_failure", "success"],
      ["f_http", "on_failure", "success"],
      ["f_ssh", "on_failure", "success"],
      ["cleanup", "on_exit", "success"],
    ]);
    expect(a[1]!.stdout).toBe(`bad_run|${run.id}|failed|main|failed\n`);
    expect(a[3]!.stdout).toBe(`bad_run|${run.id}|failed|main|${run.id}\n`);

    const post = received.find((p) => p.path === `/f/${run.id}`)!;
    expect(post.auth).toBe(`Bearer ${TOKEN}`);
    const b = post.body;
    expect(b.text).toBe(`bad_run failed on ${hostname()}: main`);
    expect(b.workflow).toBe("bad_run");
    expect(b.id).toBe(run.id);
    expect(b.status).toBe("failed");
    expect(b.trigger).toBe("manual");
    expect(new Date(b.started_at).getTime()).toBeGreaterThan(0);
    expect(b.started_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Number(b.duration)).toBeGreaterThanOrEqual(0);
    expect(b.duration).toMatch(/^\d+(\.\d+)?$/);
    expect(b.failed).toBe("main");
    expect(b.host).toBe(hostname());
    expect(b.literal).toBe("{{ not a placeholder }} {{.State.Running}}");
    expect(b.token).toBe(TOKEN);

    // The echoed body holds the token: masked in the database, in status and in logs.
    const http = a[2]!;
    expect(http.stdout).toContain('"token":"***"');
    expect(JSON.stringify(rows(sb.db, "SELECT * FROM task_executions"))).not.toContain(TOKEN);
    const status = await cli(sb, ["status", "--execution-id", run.id, "--format", "json"]);
    const detail = JSON.parse(status.stdout)[0];
    expect(detail.tasks.map((t: any) => t.task_name)).toEqual(["main"]);
    expect(detail.handlers.map((t: any) => [t.task_name, t.handler, t.status])).toEqual([
      ["f_shell", "on_failure", "success"],
      ["f_http", "on_failure", "success"],
      ["f_ssh", "on_failure", "success"],
      ["cleanup", "on_exit", "success"],
    ]);
    const logs = await cli(sb, ["logs", "--execution-id", run.id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("--- f_http (on_failure handler) #1: success");
    expect(logs.stdout).toContain('"token":"***"');
    expect(logs.stdout + logs.stderr + status.stdout + r.stdout + r.stderr).not.toContain(TOKEN);
  });

  test("after Ctrl-C: on_failure and on_exit still run, and the run exits 9", async () => {
    const pidFile = join(sb.dir, "ctrl-c.pid");
    const p = spawnCli(sb, ["run", fullWorkflow("int_run")], env(`echo $$ > ${pidFile}; sleep 30`));
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim(), 10_000, "task start");
    p.kill("SIGINT");
    expect(await p.exited).toBe(9);
    const run = runOf("int_run");
    expect(run).toMatchObject({ status: "failed", error_message: "interrupted by SIGINT" });
    const a = attemptsOf(run.id);
    expect(a.map((x) => [x.task_name, x.handler, x.status])).toEqual([
      ["main", null, "failed"],
      ["f_shell", "on_failure", "success"],
      ["f_http", "on_failure", "success"],
      ["f_ssh", "on_failure", "success"],
      ["cleanup", "on_exit", "success"],
    ]);
    expect(a[1]!.stdout).toBe(`int_run|${run.id}|failed|main|failed\n`);
    expect(received.find((r) => r.path === `/f/${run.id}`)!.body.status).toBe("failed");
  });

  test("a second signal stops the handlers; a failed handler changes neither status nor exit code", async () => {
    const mark = join(sb.dir, "handler-started");
    const file = sb.workflow(`name: second_signal
tasks:
  - name: long
    type: shell
    config: { command: /bin/sleep, args: ["30"] }
on_exit:
  - name: slow
    type: shell
    config: { command: /bin/sh, args: ["-c", "touch ${mark}; sleep 30"] }
  - name: never
    type: shell
    config: { command: /bin/true }
`);
    const p = spawnCli(sb, ["run", file]);
    await waitFor(() => rows(sb.db, "SELECT 1 FROM task_executions WHERE task_name = 'long'").length, 10_000, "task start");
    p.kill("SIGINT");
    await waitFor(() => existsSync(mark), 10_000, "handler start");
    p.kill("SIGINT");
    expect(await p.exited).toBe(9);
    const run = runOf("second_signal");
    const a = attemptsOf(run.id);
    expect(a.map((x) => [x.task_name, x.handler, x.status, x.error_message])).toEqual([
      ["long", null, "failed", "interrupted by SIGINT"],
      ["slow", "on_exit", "failed", "interrupted by SIGINT (second signal)"],
    ]);

    const failing = sb.workflow(`name: failing_handler
tasks:
  - name: fine
    type: shell
    config: { command: /bin/true }
on_success:
  - name: broken
    type: http
    retry: 1
    config: { url: "${base()}/fail", method: POST, body: { x: 1 } }
`);
    const r = await cli(sb, ["run", failing]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('"msg":"handler failed"');
    const ok = runOf("failing_handler");
    expect(ok.status).toBe("success");
    expect(attemptsOf(ok.id).map((x) => [x.task_name, x.handler, x.status, x.http_status])).toEqual([
      ["fine", null, "success", null],
      ["broken", "on_success", "failed", 500],
      ["broken", "on_success", "failed", 500],
    ]);
    const status = await cli(sb, ["status", "failing_handler"]);
    expect(status.stdout).toMatch(/broken\s+on_success\s+failed\s+2/);
  });

  test("Ctrl-C while the handlers of a run that ended on its own run: they stop; the run keeps its status and exit code", async () => {
    const pidFile = join(sb.dir, "own-end-handler.pid");
    const never = join(sb.dir, "own-end-never");
    const file = sb.workflow(`name: own_end
tasks:
  - name: fine
    type: shell
    config: { command: /bin/true }
on_success:
  - name: slow
    type: shell
    retry: 2
    config: { command: /bin/sh, args: ["-c", "echo $$ > ${pidFile}; exec sleep 30"] }
on_exit:
  - name: never
    type: shell
    config: { command: /bin/touch, args: ["${never}"] }
`);
    const p = spawnCli(sb, ["run", file]);
    let pid = 0;
    try {
      pid = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim(), 10_000, "handler start"));
      p.kill("SIGINT");
      await waitFor(() => p.exitCode !== null, 20_000, "the run to exit after Ctrl-C");
      // The DAG succeeded before the signal: a handler's outcome never changes the exit code.
      expect(p.exitCode).toBe(0);
    } finally {
      p.kill("SIGKILL");
      await p.exited;
    }
    const run = runOf("own_end");
    expect(run).toMatchObject({ status: "success", error_message: null });
    // The running handler stopped (not retried), the next one not started (so not recorded).
    expect(attemptsOf(run.id).map((x) => [x.task_name, x.handler, x.status, x.error_message])).toEqual([
      ["fine", null, "success", null],
      ["slow", "on_success", "failed", "interrupted by SIGINT"],
    ]);
    expect(existsSync(never)).toBe(false);
    expect(alive(pid)).toBe(false);
    const stdout = await new Response(p.stdout).text();
    expect(stdout).toContain("Workflow  own_end: success");
    expect(stdout).toMatch(/never +on_exit +skipped +0 .* not started: handlers stopped/);
  });

  test("a failed handler is counted in metrics (run --metrics-port)", async () => {
    const file = sb.workflow(`name: metered_handlers
tasks:
  - name: fine
    type: shell
    config: { command: /bin/true }
on_success:
  - name: broken
    type: http
    retry: 0
    config: { url: "${base()}/fail", method: POST, body: { x: 1 } }
on_exit:
  - name: gate
    type: shell
    config: { command: /bin/sh, args: ["-c", "while [ ! -f go ]; do sleep 0.05; done"] }
`);
    const p = spawnCli(sb, ["run", "--metrics-port", "0", file]);
    let stderr = "";
    const reading = (async () => {
      const d = new TextDecoder();
      for await (const c of p.stderr) stderr += d.decode(c, { stream: true });
    })();
    try {
      const url = await waitFor(() => /"msg":"serving metrics","url":"([^"]+)"/.exec(stderr)?.[1], 20_000, "the metrics URL");
      const text = await waitFor(async () => {
        const t = await (await fetch(url)).text();
        return t.includes('picoflow_handler_runs_total{workflow="metered_handlers",handler="broken",list="on_success",status="failed"} 1') ? t : undefined;
      }, 20_000, "the handler to be counted");
      expect(text).toContain("# TYPE picoflow_handler_runs_total counter");
    } finally {
      writeFileSync(join(sb.dir, "go"), "");
      expect(await p.exited).toBe(0);
      await reading;
    }
  });

  test("validate lists the handlers", async () => {
    const r = await cli(sb, ["validate", fullWorkflow("validated")], env("true"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Handlers:     7 (run after the DAG");
    expect(r.stdout).toContain("  on_failure: f_shell (shell), f_http (http), f_ssh (ssh)\n");
    expect(r.stdout).toContain("  on_success: s_shell (shell), s_http (http), s_ssh (ssh)\n");
    expect(r.stdout).toContain("  on_exit:    cleanup (shell)\n");
    expect(r.stdout).not.toContain(TOKEN);
  });
});

describe("handlers in the daemon", () => {
  test("a second stop signal stops the DAG and lets on_failure run within the grace", async () => {
    const d0 = sandbox(`${FAST_CONFIG}\n[metrics]\nenabled = false\n[daemon]\nshutdown_grace_seconds = 600\n`);
    try {
      const f = d0.workflow(`name: nightly
schedule: "* * * * * *"
tasks:
  - name: work
    type: shell
    config: { command: /bin/sleep, args: ["30"] }
on_failure:
  - name: tell
    type: shell
    config: { command: /bin/echo, args: ["{{ run.trigger }} {{ run.status }} {{ run.failed_tasks }}"] }
`);
      const d = await startDaemon(d0, [f]);
      await waitFor(() => rows(d0.db, "SELECT 1 FROM task_executions WHERE status = 'running'").length, 20_000, "a running task");
      d.proc.kill("SIGTERM");
      await waitFor(() => d.log().includes("stopping: waiting for running workflows"), 10_000, "grace starts");
      d.proc.kill("SIGTERM");
      expect(await d.exited).toBe(9);
      const run = rows(d0.db, "SELECT * FROM workflow_executions WHERE workflow_name = 'nightly' AND status != 'skipped'")[0]!;
      expect(run.error_message).toBe("interrupted by SIGTERM (second stop signal)");
      const a = rows(d0.db, "SELECT task_name, handler, status, stdout FROM task_executions WHERE workflow_execution_id = ? ORDER BY started_at, rowid", run.id);
      expect(a.map((x) => [x.task_name, x.handler, x.status])).toEqual([
        ["work", null, "failed"],
        ["tell", "on_failure", "success"],
      ]);
      expect(a[1]!.stdout).toBe("schedule failed work\n");
    } finally {
      d0.cleanup();
    }
  });
  test("at the end of the stop grace, running handlers are stopped, later ones and those of stopped runs do not run", async () => {
    const d0 = sandbox(`${FAST_CONFIG}\n[metrics]\nenabled = false\n[daemon]\nshutdown_grace_seconds = 0.5\n`);
    const at = (name: string) => join(d0.dir, name);
    try {
      // tidy: its DAG ends at once, its first on_exit handler runs past the grace.
      const tidy = d0.workflow(`name: tidy
schedule: "* * * * * *"
tasks:
  - name: work
    type: shell
    config: { command: /bin/true }
on_exit:
  - name: slow
    type: shell
    config: { command: /bin/sh, args: ["-c", "echo $$ > ${at("slow.pid")}; exec sleep 30"] }
  - name: later
    type: shell
    config: { command: /bin/touch, args: ["${at("later-ran")}"] }
`);
      // busy: its DAG runs past the grace; its on_failure handler must not start after it.
      const busy = d0.workflow(`name: busy
schedule: "* * * * * *"
tasks:
  - name: work
    type: shell
    config: { command: /bin/sh, args: ["-c", "echo $$ > ${at("work.pid")}; exec sleep 30"] }
on_failure:
  - name: tell
    type: shell
    config: { command: /bin/touch, args: ["${at("tell-ran")}"] }
`);
      const d = await startDaemon(d0, [tidy, busy]);
      const pids: number[] = [];
      try {
        for (const f of ["slow.pid", "work.pid"]) {
          pids.push(Number(await waitFor(() => existsSync(at(f)) && readFileSync(at(f), "utf8").trim(), 20_000, f)));
        }
        d.proc.kill("SIGTERM");
        await waitFor(() => d.code() !== undefined, 20_000, "the daemon to exit at the end of the grace");
      } finally {
        d.proc.kill("SIGKILL");
        await d.exited;
      }
      expect(d.code()).toBe(9); // runs had to be stopped
      const why = "interrupted by SIGTERM (daemon stopping, 0.5s grace expired)";
      const runs = rows(d0.db, "SELECT * FROM workflow_executions WHERE status != 'skipped' ORDER BY workflow_name");
      // Both recorded finished; tidy's DAG had succeeded, and a handler never changes that.
      expect(runs.map((r) => [r.workflow_name, r.status, r.error_message, r.finished_at !== null])).toEqual([
        ["busy", "failed", why, true],
        ["tidy", "success", null, true],
      ]);
      const attempts = (id: string) => rows(d0.db, "SELECT task_name, handler, status, error_message, finished_at IS NOT NULL AS done FROM task_executions WHERE workflow_execution_id = ? ORDER BY started_at, rowid", id).map((x) => [x.task_name, x.handler, x.status, x.error_message, x.done]);
      expect(attempts(runs[0]!.id)).toEqual([["work", null, "failed", why, 1]]);
      expect(attempts(runs[1]!.id)).toEqual([
        ["work", null, "success", null, 1],
        ["slow", "on_exit", "failed", why, 1],
      ]);
      expect(existsSync(at("later-ran")) || existsSync(at("tell-ran"))).toBe(false);
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      d0.cleanup();
    }
  });
});

describe("placeholders", () => {
  test("run.id and workflow.name fill in in any task; a ${VAR} value with {{ stays literal", async () => {
    const file = sb.workflow(`name: ph_tasks
tasks:
  - name: show
    type: shell
    config: { command: /bin/echo, args: ["{{workflow.name}} {{ run.id }} {{ run.trigger }}", "\${BRACES}"] }
`);
    const r = await cli(sb, ["run", file], { BRACES: "{{ run.status }} {{ nope }}" });
    expect(r.code).toBe(0);
    const run = runOf("ph_tasks");
    expect(attemptsOf(run.id)[0]!.stdout).toBe(`ph_tasks ${run.id} manual {{ run.status }} {{ nope }}\n`);
  });

  test("unknown placeholders, and run-end ones in a task of the DAG, are errors at FILE:LINE:COL", async () => {
    const file = sb.workflow(`name: ph_bad
tasks:
  - name: a
    type: shell
    config: { command: /bin/echo, args: ["{{ run.status }}", "{{ nope }}"] }
on_failure:
  - name: b
    type: http
    config:
      url: "${base()}/x"
      method: POST
      body: { text: "{{ workflow.nam }}" }
  - name: a
    type: shell
    depends_on: [a]
    config: { command: /bin/true }
`);
    const r = await cli(sb, ["validate", file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([
      `${file}:5:42: tasks[0].config.args[0]: {{ run.status }} has a value only in a handler (on_failure, on_success, on_exit), once the run has ended`,
      `${file}:5:62: tasks[0].config.args[1]: unknown placeholder {{ nope }} (known: workflow.name, run.id, run.trigger, run.started_at, run.host, run.status, run.duration_seconds, run.failed_tasks); write {{ "{{" }} for a literal {{`,
      `${file}:12:21: on_failure[0].config.body.text: unknown placeholder {{ workflow.nam }} (did you mean {{ workflow.name }}?); write {{ "{{" }} for a literal {{`,
      `${file}:13:11: on_failure[1].name: duplicate name 'a' (also tasks[0]); names are unique across tasks and handlers`,
      `${file}:15:5: on_failure[1].depends_on: a handler has no depends_on (it runs after the whole DAG)`,
    ]);
  });
});

describe("config.fail_fast", () => {
  const file = (failFast: string) =>
    sb.workflow(`name: branches_${failFast}
config: { max_parallel: 1, retry_default: 0${failFast === "default" ? "" : `, fail_fast: ${failFast}`} }
tasks:
  - name: a
    type: shell
    config: { command: /bin/false }
  - name: b
    type: shell
    config: { command: /bin/echo, args: [independent] }
  - name: c
    type: shell
    depends_on: [a]
    config: { command: /bin/true }
  - name: d
    type: shell
    depends_on: [c, b]
    config: { command: /bin/true }
`);
  const outcome = (id: string) =>
    rows(sb.db, "SELECT task_name, reason FROM skipped_tasks WHERE workflow_execution_id = ? ORDER BY task_name", id).map((s) => [s.task_name, s.reason]);

  test("false: a failure skips only its dependants; independent tasks still run; the run fails", async () => {
    const r = await cli(sb, ["run", file("false")]);
    expect(r.code).toBe(3);
    const run = runOf("branches_false");
    expect(run.status).toBe("failed");
    expect(attemptsOf(run.id).map((x) => [x.task_name, x.status])).toEqual([
      ["a", "failed"],
      ["b", "success"],
    ]);
    expect(outcome(run.id)).toEqual([
      ["c", "skipped: upstream 'a' failed"],
      ["d", "skipped: upstream 'a' failed"],
    ]);
  });

  test("default (true): the first failure stops new starts, as before", async () => {
    const r = await cli(sb, ["run", file("default")]);
    expect(r.code).toBe(3);
    const run = runOf("branches_default");
    expect(attemptsOf(run.id).map((x) => [x.task_name, x.status])).toEqual([["a", "failed"]]);
    expect(outcome(run.id)).toEqual([
      ["b", "skipped: run stopped after 'a' failed"],
      ["c", "skipped: upstream 'a' failed"],
      ["d", "skipped: upstream 'a' failed"],
    ]);
  });
});
