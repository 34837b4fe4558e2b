// status, history, stats, workflow list and logs (stored output) against a database filled by
// real runs: success, failure, retries, timeouts, tasks that never started; bad input; damaged
// databases; the spec's example SQL; reading while another process writes.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/store/db.ts";
import { recordSkippedRun, writeDaemonState } from "../src/store/daemon-state.ts";
import { selfIdentity } from "../src/sys/proc.ts";
import { loadWorkflow } from "../src/workflow/load.ts";
import { cli, FAST_CONFIG, picoflowCommand, rows, sandbox, spawnCli, SPEC_QUERIES, waitFor, type Sandbox } from "./helpers.ts";

// These spawn the real CLI (and wait for real runs): more than bun's 5 s default per test.
setDefaultTimeout(60_000);

const MIXED = `
name: mixed
description: a bit of everything
tasks:
  - name: ok
    type: shell
    config: { command: /bin/sh, args: ["-c", "echo hello; echo warn >&2; for i in 1 2 3 4 5; do echo line$i; done"] }
  - name: flaky
    type: shell
    retry: 2
    depends_on: [ok]
    config: { command: /bin/sh, args: ["-c", "echo try; exit 3"] }
  - name: slow
    type: shell
    retry: 1
    timeout: 1
    config: { command: /bin/sleep, args: ["30"] }
  - name: after
    type: shell
    depends_on: [flaky]
    config: { command: /bin/echo, args: ["never"] }
`;

const GOOD = `
name: good
tasks:
  - name: a
    type: shell
    config: { command: /bin/echo, args: ["A"] }
  - name: b
    type: shell
    depends_on: [a]
    continue_on_failure: true
    config: { command: /bin/sh, args: ["-c", "exit 1"] }
`;

let sb: Sandbox;
let mixedId: string;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

beforeAll(async () => {
  sb = sandbox();
  const good = sb.workflow(GOOD, "good.yaml");
  const mixed = sb.workflow(MIXED, "mixed.yaml");
  expect((await cli(sb, ["run", good])).code).toBe(0);
  expect((await cli(sb, ["run", mixed])).code).toBe(3);
  expect((await cli(sb, ["run", good])).code).toBe(0);
  mixedId = rows<{ id: string }>(sb.db, "SELECT id FROM workflow_executions WHERE workflow_name = 'mixed'")[0]!.id;
});

afterAll(() => sb.cleanup());

describe("status", () => {
  test("latest run of each workflow", async () => {
    const r = await cli(sb, ["status"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^WORKFLOW\s+STATUS\s+STARTED\s+DURATION\s+TASKS\s+EXECUTION$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^good\s+success\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\S+\s+1\/2\s+[0-9a-f]{8}$/);
    expect(lines[2]).toMatch(new RegExp(`^mixed\\s+failed\\s+.*1/4\\s+${mixedId.slice(0, 8)}$`));
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(r.stdout).not.toContain("\x1b[");
  });

  test("one workflow task by task, with tasks that never started and why", async () => {
    for (const args of [["status", "--workflow", "mixed"], ["status", "mixed"]]) {
      const r = await cli(sb, args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Execution  ${mixedId} (manual`);
      expect(r.stdout).toMatch(/Status\s+failed/);
      expect(r.stdout).toMatch(/^ok\s+success\s+1\s+\S+\s+0\s*$/m);
      expect(r.stdout).toMatch(/^flaky\s+failed\s+3\s+\S+\s+3\s+exited with code 3$/m);
      expect(r.stdout).toMatch(/^slow\s+timeout\s+2\s+\S+\s+124\s+timed out after 1s$/m);
      expect(r.stdout).toMatch(/^after\s+skipped\s+0\s+-\s+-\s+skipped: upstream 'flaky' failed$/m);
    }
  });

  test("JSON: the database's field names, ISO 8601 UTC times, tasks folded over attempts", async () => {
    const r = await cli(sb, ["status", "mixed", "--format", "json"]);
    expect(r.code).toBe(0);
    const [run] = JSON.parse(r.stdout);
    const db = rows(sb.db, "SELECT * FROM workflow_executions WHERE id = ?", mixedId)[0]!;
    for (const k of ["id", "workflow_name", "started_at", "finished_at", "status", "duration_seconds", "total_tasks", "successful_tasks", "failed_tasks", "trigger"]) {
      // The database stores "2026-11-26 08:17:42.123Z"; JSON shows it with the T of ISO 8601.
      expect(run[k]).toEqual(k.endsWith("_at") ? db[k].replace(" ", "T") : db[k]);
    }
    expect(run.started_at).toMatch(ISO);
    expect(run.owner_identity).toBeUndefined();
    expect(run.tasks.map((t: any) => [t.task_name, t.status, t.attempts, t.exit_code])).toEqual([
      ["ok", "success", 1, 0],
      ["flaky", "failed", 3, 3],
      ["slow", "timeout", 2, 124],
      ["after", "skipped", 0, null],
    ]);
    expect(run.tasks[3].reason).toBe("skipped: upstream 'flaky' failed");
    expect(run.tasks[0].finished_at).toMatch(ISO);
  });

  test("--execution-id takes a unique prefix; --running-only when nothing runs", async () => {
    const r = await cli(sb, ["status", "--execution-id", mixedId.slice(0, 6)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(mixedId);
    const idle = await cli(sb, ["status", "--running-only"]);
    expect(idle).toMatchObject({ code: 0, stdout: "No run is running.\n" });
    expect(JSON.parse((await cli(sb, ["status", "--running-only", "--format", "json"])).stdout)).toEqual([]);
  });

  test("unknown workflow and execution: exit 5 with one clear line", async () => {
    const r = await cli(sb, ["status", "--workflow", "mixd"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`picoflow: no workflow named 'mixd' in picoflow.db (did you mean 'mixed'?)\n`);
    const e = await cli(sb, ["status", "--execution-id", "00000000-dead"]);
    expect(e.code).toBe(5);
    expect(e.stderr).toBe("picoflow: no execution with id '00000000-dead' in picoflow.db\n");
    const other = await cli(sb, ["status", "good", "--execution-id", mixedId]);
    expect(other.code).toBe(5);
    expect(other.stderr).toContain("is a run of 'mixed', not of 'good'");
  });
});

describe("history", () => {
  test("table, newest first, default limit", async () => {
    const r = await cli(sb, ["history"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^STARTED\s+EXECUTION\s+STATUS\s+DURATION\s+TASKS\s+WORKFLOW$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).at(-1))).toEqual(["good", "mixed", "good"]);
    expect(lines[2]).toMatch(/failed\s+\S+\s+1\/4\s+mixed$/);
  });

  test("JSON equals the database rows", async () => {
    const r = await cli(sb, ["history", "--format", "json", "--limit", "0"]);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout);
    const want = rows(sb.db, "SELECT id, status, strftime('%Y-%m-%dT%H:%M:%fZ', started_at) AS started_at, total_tasks, successful_tasks, failed_tasks FROM workflow_executions ORDER BY started_at DESC");
    expect(got.map((g: any) => ({ id: g.id, status: g.status, started_at: g.started_at, total_tasks: g.total_tasks, successful_tasks: g.successful_tasks, failed_tasks: g.failed_tasks }))).toEqual(want);
    for (const g of got) {
      expect(g.started_at).toMatch(ISO);
      expect(g.finished_at).toMatch(ISO);
    }
  });

  test("filters: workflow (flag or positional), status, limit, since", async () => {
    const j = async (...args: string[]) => {
      const r = await cli(sb, ["history", "--format", "json", ...args]);
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as { workflow_name: string; status: string }[];
    };
    expect((await j("--workflow", "good")).map((r) => r.workflow_name)).toEqual(["good", "good"]);
    expect((await j("good")).length).toBe(2);
    expect((await j("--status", "failed")).map((r) => r.workflow_name)).toEqual(["mixed"]);
    expect((await j("--limit", "1")).length).toBe(1);
    const today = new Date();
    const d = (x: Date) => `${x.getFullYear()}-${String(x.getMonth() + 1).padStart(2, "0")}-${String(x.getDate()).padStart(2, "0")}`;
    expect((await j("--since", d(today))).length).toBe(3);
    expect(await j("--since", d(new Date(today.getTime() + 2 * 86400_000)))).toEqual([]);
    const none = await cli(sb, ["history", "--status", "running"]);
    expect(none).toMatchObject({ code: 0, stdout: "No runs match.\n" });
  });
});

describe("stats", () => {
  test("per workflow and per task, matching the database", async () => {
    const r = await cli(sb, ["stats", "--format", "json"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.map((w: any) => w.workflow_name)).toEqual(["good", "mixed"]);
    const good = s.find((w: any) => w.workflow_name === "good");
    const mixed = s.find((w: any) => w.workflow_name === "mixed");
    expect(good).toMatchObject({ runs: 2, success: 2, failed: 0, success_rate: 100 });
    expect(mixed).toMatchObject({ runs: 1, success: 0, failed: 1, success_rate: 0 });
    const dur = rows<{ d: number }>(sb.db, "SELECT duration_seconds AS d FROM workflow_executions WHERE workflow_name = 'good'").map((x) => x.d);
    expect(good.min_duration).toBeCloseTo(Math.min(...dur), 9);
    expect(good.max_duration).toBeCloseTo(Math.max(...dur), 9);
    expect(good.tasks.map((t: any) => t.task_name)).toEqual(["a", "b"]);
    const task = (n: string) => mixed.tasks.find((t: any) => t.task_name === n);
    expect(task("flaky")).toMatchObject({ runs: 1, success: 0, attempts: 3, retries: 2, timeouts: 0, success_rate: 0 });
    expect(task("slow")).toMatchObject({ attempts: 2, retries: 1, timeouts: 2 });
    expect(task("ok")).toMatchObject({ runs: 1, success: 1, success_rate: 100 });
    expect(task("after")).toBeUndefined();
  });

  test("a task still running in a run going on is not counted as a failure", async () => {
    const s = sandbox();
    try {
      const marker = `${s.dir}/go`;
      const file = s.workflow(
        `name: inflight\ntasks:\n  - name: wait\n    type: shell\n    config: { command: /bin/sh, args: ["-c", "while [ ! -e ${marker} ]; do sleep 0.05; done"] }\n`,
      );
      writeFileSync(marker, "");
      expect((await cli(s, ["run", file])).code).toBe(0);
      rmSync(marker);
      const p = spawnCli(s, ["run", file]);
      try {
        await waitFor(() => rows(s.db, "SELECT 1 FROM task_executions WHERE status = 'running'").length > 0, 20_000, "the second run's task");
        const r = await cli(s, ["stats", "--format", "json"]);
        const [w] = JSON.parse(r.stdout);
        expect(w).toMatchObject({ runs: 2, success: 1, running: 1, success_rate: 100 });
        expect(w.tasks[0]).toMatchObject({ task_name: "wait", runs: 2, success: 1, running: 1, success_rate: 100 });
      } finally {
        writeFileSync(marker, "");
        expect(await p.exited).toBe(0);
      }
    } finally {
      s.cleanup();
    }
  });

  test("table fits 80 columns; --period and the positional workflow", async () => {
    const r = await cli(sb, ["stats", "mixed", "--period", "7"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Runs started in the last 7 days");
    expect(r.stdout).toMatch(/^mixed\s+1\s+0\s+1\s+0%/m);
    expect(r.stdout).toMatch(/^ {2}flaky\s+1\s+0%\s+3\s+0\s/m);
    expect(r.stdout).not.toMatch(/^good/m);
    for (const l of r.stdout.split("\n")) expect(l.length).toBeLessThanOrEqual(80);
  });
});

describe("workflow list", () => {
  test("table and JSON", async () => {
    const r = await cli(sb, ["workflow", "list"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^WORKFLOW\s+RUNS\s+RATE\s+LAST RUN\s+STATUS\s+SCHEDULE\s+PAUSED$/m);
    expect(r.stdout).toMatch(/^good\s+2\s+100%\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+success\s+-\s+-$/m);
    expect(r.stdout).toMatch(/^mixed\s+1\s+0%\s+.*failed\s+-\s+-$/m);
    const j = JSON.parse((await cli(sb, ["workflow", "list", "--format", "json"])).stdout);
    const mixed = j.find((w: any) => w.name === "mixed");
    expect(mixed).toMatchObject({ description: "a bit of everything", task_count: 4, runs: 1, failed: 1, last_status: "failed", last_execution_id: mixedId });
    expect(mixed.file).toEndWith("mixed.yaml");
    expect(mixed.last_run_at).toMatch(ISO);
  });

  test("--all includes workflows not seen or run recently", async () => {
    const other = sandbox();
    try {
      expect((await cli(other, ["run", other.workflow(GOOD.replace("name: good", "name: old"))])).code).toBe(0);
      expect((await cli(other, ["run", other.workflow(GOOD)])).code).toBe(0);
      // Age one workflow by 90 days, as if its file had been removed from the daemon long ago.
      const db = new Database(other.db);
      const old = new Date(Date.now() - 90 * 86400_000).toISOString();
      db.run("UPDATE workflow_executions SET started_at = ?, created_at = ? WHERE workflow_name = 'old'", [old, old]);
      db.run("UPDATE workflows SET first_seen_at = ?, last_seen_at = ? WHERE name = 'old'", [old, old]);
      db.close();
      const names = async (...a: string[]) => JSON.parse((await cli(other, ["workflow", "list", "--format", "json", ...a])).stdout).map((w: any) => w.name);
      expect(await names()).toEqual(["good"]);
      expect(await names("--all")).toEqual(["good", "old"]);

      // A live daemon that has it loaded makes it current again; a dead daemon's state row does not.
      const state = (pid: number, identity: string) => ({
        pidFile: `${other.dir}/picoflow-${pid}.pid`, pid, identity, startedAt: old, heartbeatAt: old, rssBytes: null, version: "test",
        metricsUrl: null, workflows: [{ name: "old", file: "/x/old.yaml", schedule: "0 0 1 1 * *", timezone: null, nextRun: null, running: false, error: null }],
      });
      const w = openDatabase(other.db);
      writeDaemonState(w, other.db, state(process.pid, "not-this-process"));
      w.close();
      expect(await names()).toEqual(["good"]);
      const w2 = openDatabase(other.db);
      writeDaemonState(w2, other.db, state(process.pid, selfIdentity()));
      w2.close();
      const listed = JSON.parse((await cli(other, ["workflow", "list", "--format", "json"])).stdout);
      expect(listed.map((x: any) => [x.name, x.loaded])).toEqual([["good", false], ["old", true]]);
    } finally {
      other.cleanup();
    }
  });

  test("unknown action is exit 4", async () => {
    const r = await cli(sb, ["workflow", "show"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe("picoflow: unknown workflow action 'show' (known: list, pause, resume)\n");
  });
});

describe("logs (stored output)", () => {
  test("every attempt of the latest run, with outcome and never-started tasks", async () => {
    const r = await cli(sb, ["logs", "--workflow", "mixed"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`Execution ${mixedId} of mixed: failed`);
    expect(r.stdout).toMatch(/^--- ok #1: success, exit 0, .*\n==> ok #1 stdout <==\nhello\nline1\n/m);
    expect(r.stdout).toContain("==> ok #1 stderr <==\nwarn\n");
    for (const n of [1, 2, 3]) expect(r.stdout).toMatch(new RegExp(`^--- flaky #${n}: failed, exit 3, .*\\(exited with code 3\\)\\n==> flaky #${n} stdout <==\\ntry\\n`, "m"));
    expect(r.stdout).toMatch(/^--- slow #2: timeout, exit 124, .*\(timed out after 1s\)\n\(no output\)$/m);
    expect(r.stdout).toContain("--- after: skipped: upstream 'flaky' failed\n");
    expect(r.stdout).toEndWith(`Execution ${mixedId}: failed\n`);
  });

  test("--task, --tail, --execution-id", async () => {
    const r = await cli(sb, ["logs", "mixed", "--task", "ok", "--tail", "2", "--execution-id", mixedId.slice(0, 8)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("==> ok #1 stdout <==\n[... 4 earlier lines; --tail 0 shows all]\nline4\nline5\n");
    expect(r.stdout).not.toContain("flaky");
    const all = await cli(sb, ["logs", "--execution-id", mixedId, "--task", "ok", "--tail", "0"]);
    expect(all.stdout).toContain("hello\nline1\nline2\nline3\nline4\nline5\n");
    const never = await cli(sb, ["logs", "mixed", "--task", "after"]);
    expect(never.code).toBe(0);
    expect(never.stdout).toContain("--- after: skipped: upstream 'flaky' failed\n");
  });

  test("not found: exit 5", async () => {
    const t = await cli(sb, ["logs", "mixed", "--task", "nope"]);
    expect(t.code).toBe(5);
    expect(t.stderr).toBe(`picoflow: no task 'nope' in execution ${mixedId} of 'mixed' (tasks: ok, flaky, slow, after)\n`);
    const w = await cli(sb, ["logs", "--workflow", "zzz"]);
    expect(w.code).toBe(5);
    expect(w.stderr).toBe("picoflow: no workflow named 'zzz' in picoflow.db\n");
  });
});

describe("triggers the daemon skipped (overlap)", () => {
  test("shown in history and stats, never as a workflow's latest run", async () => {
    const s = sandbox();
    try {
      const file = s.workflow(GOOD);
      expect((await cli(s, ["run", file])).code).toBe(0);
      // Written the way the daemon writes it, by its own function.
      const db = openDatabase(s.db);
      const wf = loadWorkflow(file, { env: {}, home: s.dir, defaultRetry: 0, defaultTimeout: 300, maxTimeout: 0 });
      recordSkippedRun(db, s.db, wf, { pid: process.pid, identity: "test" }, "skipped: previous run still running");
      db.close();

      const status = await cli(s, ["status"]);
      expect(status.stdout).toMatch(/^good\s+success\s/m);
      const detail = await cli(s, ["status", "good"]);
      expect(detail.stdout).toContain("Skipped    1 scheduled trigger since this run started (overlap)");
      const history = await cli(s, ["history"]);
      expect(history.stdout).toMatch(/skipped\s+0ms\s+-\s+good$/m);
      const skipped = JSON.parse((await cli(s, ["history", "--status", "skipped", "--format", "json"])).stdout);
      expect(skipped).toHaveLength(1);
      expect(skipped[0]).toMatchObject({ status: "skipped", trigger: "schedule", error_message: "skipped: previous run still running" });
      const stats = await cli(s, ["stats"]);
      expect(stats.stdout).toMatch(/^WORKFLOW\s+RUNS\s+OK\s+FAILED\s+RATE\s+AVG\s+MIN\s+MAX\s+SKIPPED$/m);
      expect(stats.stdout).toMatch(/^good\s+1\s+1\s+0\s+100%\s+\S+\s+\S+\s+\S+\s+1$/m);
      const list = JSON.parse((await cli(s, ["workflow", "list", "--format", "json"])).stdout);
      expect(list[0]).toMatchObject({ name: "good", runs: 1, success: 1, last_status: "success" });
    } finally {
      s.cleanup();
    }
  });
});

describe("the detail of a skipped (overlap) trigger", () => {
  test("reads cleanly: the reason once, in local time; no count of itself; tasks not started because of the skip", async () => {
    const s = sandbox();
    try {
      const file = s.workflow(GOOD);
      expect((await cli(s, ["run", file])).code).toBe(0);
      const runId = rows<{ id: string }>(s.db, "SELECT id FROM workflow_executions")[0]!.id;
      // The reason as the daemon writes it (src/daemon/launch.ts), with its UTC time.
      const started = new Date(Date.UTC(2026, 10, 26, 8, 17, 42, 123));
      const db = openDatabase(s.db);
      const wf = loadWorkflow(file, { env: {}, home: s.dir, defaultRetry: 0, defaultTimeout: 300, maxTimeout: 0 });
      const id = recordSkippedRun(db, s.db, wf, { pid: process.pid, identity: "test" }, `skipped: previous run ${runId} started ${started.toISOString()} was still running`);
      db.close();

      // In a time zone that is not UTC (+05:30, no daylight saving): the table's times are local.
      const r = await cli(s, ["status", "--execution-id", id], { TZ: "Asia/Kolkata" });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Status     skipped: previous run ${runId} started 2026-11-26 13:47:42 was still running\n`);
      expect(r.stdout).not.toContain("skipped: skipped");
      expect(r.stdout).not.toContain(started.toISOString());
      // It is the skipped trigger: it does not count itself.
      expect(r.stdout).not.toContain("Skipped    ");
      expect(r.stdout).toMatch(/^a\s+skipped\s+0\s+-\s+-\s+not started: the trigger was skipped$/m);
      expect(r.stdout).not.toContain("not started: skipped");
      // The run it overlapped counts it once.
      expect((await cli(s, ["status", "good"])).stdout).toContain("Skipped    1 scheduled trigger since this run started (overlap)\n");
    } finally {
      s.cleanup();
    }
  });
});

describe("tolerated failures, notes, task order", () => {
  test("status shows a failure tolerated by continue_on_failure as tolerated, in the table and the JSON", async () => {
    const r = await cli(sb, ["status", "good"]);
    expect(r.stdout).toMatch(/^a\s+success\s+1\s/m);
    expect(r.stdout).toMatch(/^b\s+failed \(tolerated\)\s+4\s+\S+\s+1\s+exited with code 1$/m);
    const [run] = JSON.parse((await cli(sb, ["status", "good", "--format", "json"])).stdout);
    expect(run.tasks.map((t: any) => [t.task_name, t.status, t.tolerated])).toEqual([
      ["a", "success", false],
      ["b", "failed", true],
    ]);
    // A failure that failed the run is not tolerated.
    const [mixed] = JSON.parse((await cli(sb, ["status", "mixed", "--format", "json"])).stdout);
    expect(mixed.tasks.find((t: any) => t.task_name === "flaky").tolerated).toBe(false);
  });

  test("the NOTE column: whole when stdout is not a terminal, cut to the terminal's width when it is", async () => {
    const s = sandbox();
    try {
      const long = `/nonexistent/${"very-long-directory-name/".repeat(6)}tool`;
      const file = s.workflow(`name: notes\ntasks:\n  - name: t\n    type: shell\n    retry: 0\n    config: { command: ${long} }\n`);
      expect((await cli(s, ["run", file])).code).toBe(3);
      const piped = await cli(s, ["status", "notes"]);
      expect(piped.stdout).toContain(`command not found: ${long}\n`);
      for (const width of [100, 140]) {
        const p = Bun.spawn(["script", "-qec", `stty cols ${width}; ${picoflowCommand().join(" ")} status notes`, "/dev/null"], {
          cwd: s.dir,
          env: s.env,
          stdin: "ignore",
          stdout: "pipe",
        });
        const out = (await new Response(p.stdout).text()).replace(/\x1b\[[0-9;]*m/g, "");
        expect(await p.exited).toBe(0);
        const row = out.split(/\r?\n/).find((l) => l.startsWith("t "))!;
        expect(row.length).toBe(width);
        expect(row).toEndWith("…");
      }
    } finally {
      s.cleanup();
    }
  });

  test("stats lists tasks in the workflow's declaration order, not the order they ran", async () => {
    const s = sandbox();
    try {
      // Declared last, runs first.
      const file = s.workflow(`name: order
tasks:
  - name: zeta
    type: shell
    depends_on: [alpha]
    config: { command: /bin/true }
  - name: mid
    type: shell
    depends_on: [zeta]
    config: { command: /bin/true }
  - name: alpha
    type: shell
    config: { command: /bin/true }
`);
      expect((await cli(s, ["run", file])).code).toBe(0);
      const [w] = JSON.parse((await cli(s, ["stats", "--format", "json"])).stdout);
      expect(w.tasks.map((t: any) => t.task_name)).toEqual(["zeta", "mid", "alpha"]);
      const table = (await cli(s, ["stats"])).stdout;
      expect(table.split("\n").filter((l) => /^ {2}\w/.test(l) && !l.includes("TASK")).map((l) => l.trim().split(/\s+/)[0])).toEqual(["zeta", "mid", "alpha"]);
    } finally {
      s.cleanup();
    }
  });
});

describe("bad input: one line on stderr, exit 4", () => {
  const cases: [string[], string][] = [
    [["history", "--bogus"], "unknown option '--bogus' for 'history'"],
    [["status", "--colour"], "unknown option '--colour' for 'status'"],
    [["history", "--since", "2025-13-01"], "--since: '2025-13-01' is not a real date"],
    [["history", "--since", "2025-02-30"], "--since: '2025-02-30' is not a real date"],
    [["history", "--since", "yesterday"], "--since: 'yesterday' is not a date (YYYY-MM-DD)"],
    [["history", "--since", "20250101"], "--since: '20250101' is not a date (YYYY-MM-DD)"],
    [["history", "--limit=-5"], "--limit: -5 is out of range"],
    [["history", "--limit", "-5"], "--limit: -5 is out of range"],
    [["logs", "mixed", "--tail", "-1"], "--tail: -1 is out of range"],
    [["history", "--limit", "ten"], "--limit: 'ten' is not a whole number"],
    [["history", "--limit", "2.5"], "--limit: '2.5' is not a whole number"],
    [["history", "--limit"], "--limit: a value is required"],
    [["history", "--format", "xml"], "--format: 'xml' is not one of table, json"],
    [["workflow", "list", "--format", "yaml"], "--format: 'yaml' is not one of table, json"],
    [["history", "--status", "done"], "--status: 'done' is not one of success, failed, running, pending, skipped"],
    [["stats", "--period", "0"], "--period: 0 is out of range"],
    [["stats", "--period=-3"], "--period: -3 is out of range"],
    [["logs"], "logs needs --workflow NAME (or --execution-id ID)"],
    [["logs", "mixed", "--tail=-1"], "--tail: -1 is out of range"],
    [["status", "good", "--workflow", "mixed"], "workflow given twice"],
  ];
  for (const [args, message] of cases) {
    test(args.join(" "), async () => {
      const r = await cli(sb, args);
      expect(r.code).toBe(4);
      expect(r.stdout).toBe("");
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stderr).toStartWith("picoflow: ");
      expect(r.stderr).toContain(message);
    });
  }
});

describe("a database in a directory the reader cannot write", () => {
  test("is read as it is; with a writer's -wal file beside it, exit 6 says why", async () => {
    // A reader of a WAL database creates its -shm file beside it. Root may write anywhere,
    // so as root the reader runs as nobody (setpriv) over a root-owned 0755 directory.
    const dir = mkdtempSync(join(tmpdir(), "picoflow-readonly-"));
    try {
      chmodSync(dir, 0o755);
      const db = join(dir, "copy.db");
      const wf = join(dir, "good.yaml");
      writeFileSync(wf, GOOD);
      expect((await cli(sb, ["--db-path", db, "run", wf])).code).toBe(0);
      expect(existsSync(`${db}-shm`) || existsSync(`${db}-wal`)).toBe(false);
      chmodSync(db, 0o644);
      const asReader = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
      if (!asReader.length) chmodSync(dir, 0o555);
      const read = async () => {
        const p = Bun.spawn([...asReader, ...picoflowCommand(), "--db-path", db, "history", "--format", "json"], {
          cwd: tmpdir(),
          env: { ...sb.env, HOME: tmpdir() },
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
        });
        const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        return { stdout, stderr, code };
      };
      let r = await read();
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).map((x: any) => x.workflow_name)).toEqual(["good"]);
      expect(readdirSync(dir).sort()).toEqual(["copy.db", "good.yaml"]);

      chmodSync(dir, 0o755);
      writeFileSync(`${db}-wal`, "");
      if (!asReader.length) chmodSync(dir, 0o555);
      r = await read();
      expect(r.code).toBe(6);
      expect(r.stderr).toBe(`picoflow: ${db} (from --db-path): cannot read it: SQLite needs to create ${db}-shm beside it, and ${dir} is not writable by this user\n`);

      // As PicoFlow creates it (0600), another user cannot read the file at all: say that.
      if (asReader.length) {
        chmodSync(db, 0o600);
        r = await read();
        expect(r.code).toBe(6);
        expect(r.stderr).toBe(`picoflow: ${db} (from --db-path): cannot read it: permission denied (run as the user that owns it)\n`);
      }
    } finally {
      chmodSync(dir, 0o755);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("before the first run: no runs recorded yet, exit 0, nothing created", () => {
  const where = "picoflow.db (the default; set --db-path, PICOFLOW_DB_PATH or db_path in a config file)";
  const listings = [["status"], ["status", "--running-only"], ["history"], ["history", "--status", "failed"], ["stats"], ["workflow", "list"]];

  /** Each listing answers "no runs" (table: one line; JSON: []); a named workflow is not found (exit 5). */
  async function expectNothingRecorded(s: Sandbox, dbPath = "picoflow.db", label = where): Promise<void> {
    const flags = dbPath === "picoflow.db" ? [] : ["--db-path", dbPath];
    for (const c of listings) {
      const table = await cli(s, [...c, ...flags]);
      expect({ c, ...table }).toEqual({ c, code: 0, stdout: `No runs recorded yet in ${label}.\n`, stderr: "" });
      const json = await cli(s, [...c, ...flags, "--format", "json"]);
      expect({ c, ...json }).toEqual({ c, code: 0, stdout: "[]\n", stderr: "" });
    }
    for (const c of [["logs", "backup"], ["logs", "backup", "--follow"], ["status", "backup"], ["history", "-w", "backup"], ["stats", "backup"]]) {
      const r = await cli(s, [...c, ...flags]);
      expect({ c, ...r }).toEqual({ c, code: 5, stdout: "", stderr: `picoflow: no workflow named 'backup': no runs recorded yet in ${label}\n` });
    }
    const r = await cli(s, ["logs", "--execution-id", "0123", ...flags]);
    expect(r).toMatchObject({ code: 5, stderr: `picoflow: no execution with id '0123': no runs recorded yet in ${label}\n` });
  }

  test("no database file: said, not created", async () => {
    const s = sandbox();
    try {
      await expectNothingRecorded(s);
      expect(existsSync(s.db)).toBe(false);
      await expectNothingRecorded(s, "elsewhere.db", "elsewhere.db (from --db-path)");
      expect(existsSync(`${s.dir}/elsewhere.db`)).toBe(false);
    } finally {
      s.cleanup();
    }
  });

  test("an empty file, and an SQLite file without tables yet: the same, untouched", async () => {
    const s = sandbox();
    try {
      writeFileSync(s.db, "");
      await expectNothingRecorded(s);
      expect(readFileSync(s.db).length).toBe(0);
      // An SQLite file with no tables yet (a writer has created it and not yet migrated it).
      const fresh = new Database(s.db);
      fresh.run("PRAGMA journal_mode = WAL");
      fresh.close();
      const before = readFileSync(s.db);
      await expectNothingRecorded(s);
      expect(readFileSync(s.db).equals(before)).toBe(true);
    } finally {
      s.cleanup();
    }
  });
});

describe("damaged databases: exit 6, nothing written", () => {
  const where = "picoflow.db (the default; set --db-path, PICOFLOW_DB_PATH or db_path in a config file)";
  const commands = [["status"], ["history"], ["stats"], ["workflow", "list"], ["logs", "x"]];

  test("corrupt and foreign files", async () => {
    const s = sandbox();
    try {
      let r;
      writeFileSync(s.db, Buffer.alloc(8192, 0x5a));
      for (const c of commands) {
        r = await cli(s, c);
        expect(r.code).toBe(6);
        expect(r.stderr).toStartWith(`picoflow: ${where}: not a PicoFlow database, or the file is corrupt`);
        expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      }

      const foreign = new Database(s.db.replace(/db$/, "other.db"));
      foreign.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
      foreign.close();
      r = await cli(s, ["history", "--db-path", "picoflow.other.db"]);
      expect(r).toMatchObject({ code: 6, stderr: "picoflow: picoflow.other.db (from --db-path): not a PicoFlow database (no PicoFlow tables in it)\n" });
    } finally {
      s.cleanup();
    }
  });

  test("a database damaged after it was written", async () => {
    const s = sandbox();
    try {
      expect((await cli(s, ["run", s.workflow(GOOD)])).code).toBe(0);
      // Overwrite the pages after the header: the schema can no longer be read.
      const buf = Buffer.from(await Bun.file(s.db).arrayBuffer());
      buf.fill(0xff, 100);
      writeFileSync(s.db, buf);
      const r = await cli(s, ["history"]);
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/^picoflow: picoflow\.db \(the default; [^)]*\): (not a PicoFlow database|database error)/);
    } finally {
      s.cleanup();
    }
  });
});

describe("the spec's example queries run unchanged against PicoFlow's database", () => {
  test("each returns what happened", () => {
    const recent = rows(sb.db, SPEC_QUERIES.recent);
    expect(recent.map((r) => [r.workflow_name, r.status, r.tasks])).toEqual([
      ["good", "success", "1/2"],
      ["mixed", "failed", "1/4"],
      ["good", "success", "1/2"],
    ]);
    const failed = rows(sb.db, SPEC_QUERIES.failed24h);
    expect(failed.filter((r) => r.task_name === "flaky")).toHaveLength(3);
    expect(failed.every((r) => typeof r.error_message === "string")).toBe(true);
    const rate = rows(sb.db, SPEC_QUERIES.successRate);
    expect(rate).toEqual([
      { workflow_name: "good", total: 2, success: 2, success_rate: 100 },
      { workflow_name: "mixed", total: 1, success: 0, success_rate: 0 },
    ]);
    const durations = rows(sb.db, SPEC_QUERIES.taskDuration);
    expect(durations.find((r) => r.task_name === "flaky")?.executions).toBe(3);
    expect(durations.find((r) => r.task_name === "slow")?.executions).toBe(2);
    expect(durations[0]!.task_name).toBe("slow");
  });
});

describe("reading while the daemon writes", () => {
  test("runs, overlaps and live output every second: readers never fail", async () => {
    const s = sandbox(FAST_CONFIG + "[metrics]\nenabled = false\n");
    const wf = s.workflow(`name: tick\nschedule: "* * * * * *"\ntasks:\n  - name: work\n    type: shell\n    config: { command: /bin/sh, args: ["-c", "echo tick; sleep 1.5; echo tock"] }\n`);
    const daemon = spawnCli(s, ["daemon", "start", wf]);
    try {
      const seen = new Set<string>();
      const problems: string[] = [];
      let reads = 0;
      await waitFor(async () => {
        const results = await Promise.all([
          cli(s, ["status", "--format", "json"]),
          cli(s, ["history", "--format", "json", "--limit", "0"]),
          cli(s, ["logs", "tick", "--tail", "5"]),
          cli(s, ["stats", "--format", "json"]),
          cli(s, ["workflow", "list", "--format", "json"]),
        ]);
        for (const r of results) {
          // Before the daemon's first write there is no database yet (exit 6), or no run of
          // the workflow (exit 5); never "locked". (waitFor swallows throws: collect instead.)
          const expected = /no database here yet|the database is empty|no workflow named|no runs of/.test(r.stderr);
          if (/locked|busy:/i.test(r.stderr) || (r.code !== 0 && !expected)) problems.push(`exit ${r.code}: ${r.stderr}`);
        }
        if (results[1]!.code === 0) for (const run of JSON.parse(results[1]!.stdout)) seen.add(run.status);
        if (results[4]!.code === 0 && JSON.parse(results[4]!.stdout)[0]?.loaded === true) seen.add("loaded");
        reads++;
        return seen.has("success") && seen.has("running") && seen.has("skipped") && seen.has("loaded");
      }, 30_000, "the daemon to run, overlap and be seen loaded");
      expect(problems).toEqual([]);
      expect(reads).toBeGreaterThan(1);
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
    }
  });
});

describe("reading while another process writes", () => {
  test("a reader racing the first writer sees no database, an empty one, or the whole schema; never a half-made one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "picoflow-race-"));
    try {
      const wrong: string[] = [];
      for (let i = 0; i < 60 && wrong.length === 0; i++) {
        const path = join(dir, `db${i}`);
        const writer = Bun.spawn([process.execPath, "-e", `require(${JSON.stringify(join(import.meta.dir, "../src/store/db.ts"))}).openDatabase(${JSON.stringify(path)}).close()`], { stdout: "ignore", stderr: "inherit" });
        while (writer.exitCode === null) {
          try {
            openDatabase(path, { readonly: true }).close();
          } catch (err) {
            const msg = (err as Error).message;
            if (!/no database here yet|the database is empty/.test(msg)) wrong.push(msg);
          }
          await Bun.sleep(0);
        }
        expect(await writer.exited).toBe(0);
      }
      expect(wrong).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("no 'database is locked', no torn reads", async () => {
    const s = sandbox();
    try {
      const tasks = Array.from({ length: 300 }, (_, i) =>
        `  - name: t${i}\n    type: shell\n    config: { command: /bin/sh, args: ["-c", "echo out${i}"] }\n${i ? `    depends_on: [t${i - 1}]\n` : ""}`,
      ).join("");
      const wf = s.workflow(`name: busy\nconfig: { max_parallel: 4 }\ntasks:\n${tasks}`);
      expect((await cli(s, ["run", s.workflow(GOOD)])).code).toBe(0);
      const writer = spawnCli(s, ["run", wf]);
      try {
        await waitFor(() => rows(s.db, "SELECT 1 FROM workflow_executions WHERE workflow_name = 'busy'").length > 0, 20_000, "the busy run to start");
        let reads = 0;
        let sawRunning = false;
        while (writer.exitCode === null) {
          const results = await Promise.all([
            cli(s, ["status", "busy", "--format", "json"]),
            cli(s, ["history", "--format", "json"]),
            cli(s, ["logs", "busy", "--tail", "1"]),
            cli(s, ["stats", "--format", "json"]),
            cli(s, ["workflow", "list"]),
          ]);
          for (const r of results) {
            expect(r.stderr).not.toMatch(/locked|busy:/i);
            expect(r.code).toBe(0);
          }
          // One snapshot: the run's tasks never contradict each other (at most 1 running in a chain).
          const [run] = JSON.parse(results[0]!.stdout);
          const running = run.tasks.filter((t: any) => t.status === "running").length;
          expect(running).toBeLessThanOrEqual(1);
          if (run.status === "running") sawRunning = true;
          reads++;
        }
        expect(await writer.exited).toBe(0);
        expect(reads).toBeGreaterThan(0);
        expect(sawRunning).toBe(true);
        const final = JSON.parse((await cli(s, ["status", "busy", "--format", "json"])).stdout)[0];
        expect(final.status).toBe("success");
        expect(final.tasks.filter((t: any) => t.status === "success")).toHaveLength(300);
      } finally {
        writer.kill("SIGKILL");
        await writer.exited;
      }
    } finally {
      s.cleanup();
    }
  });
});
