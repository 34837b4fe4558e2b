// End to end: the real CLI runs real workflows against a temporary database.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { alive, cli, picoflowCommand, rows, sandbox, spawnCli, waitFor, type Sandbox } from "./helpers.ts";

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox();
});
afterAll(() => sb.cleanup());

const sh = (name: string, script: string, extra = "") => `
  - name: ${name}
    type: shell
    config:
      command: /bin/sh
      args: ["-c", ${JSON.stringify(script)}]${extra}`;

function wf(name: string, tasks: string, config = "") {
  return sb.workflow(`name: ${name}\n${config}tasks:${tasks}\n`);
}

const runsOf = (name: string) =>
  rows(sb.db, "SELECT * FROM workflow_executions WHERE workflow_name = ? ORDER BY started_at", name);
const attemptsOf = (runId: string) =>
  rows(sb.db, "SELECT * FROM task_executions WHERE workflow_execution_id = ? ORDER BY task_name, attempt", runId);

describe("picoflow run", () => {
  test("the example workflow succeeds and is recorded", async () => {
    const r = await cli(sb, ["run", `${import.meta.dir}/../examples/hello.yaml`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Running hello (3 tasks)");
    expect(r.stdout).toMatch(/hello: success/);
    const [run] = runsOf("hello");
    expect(run).toMatchObject({ status: "success", total_tasks: 3, successful_tasks: 3, failed_tasks: 0, trigger: "manual" });
    expect(run!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(run!.started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(r.stdout).toContain(run!.id);
    const tasks = attemptsOf(run!.id);
    expect(tasks.map((t) => [t.task_name, t.status, t.exit_code, t.attempt])).toEqual([
      ["greet", "success", 0, 1],
      ["list_tmp", "success", 0, 1],
      ["report_date", "success", 0, 1],
    ]);
    expect(tasks[0]!.stdout).toStartWith("Hello from PicoFlow");
    expect(tasks[2]!.stdout).toMatch(/^today is \d{4}-\d\d-\d\d\nrunning in \/\S* as a picoflow task\n$/);
    // The database is private to its owner: run output may hold secrets.
    expect(statSync(sb.db).mode & 0o777).toBe(0o600);
  });

  test("shell tasks get args as argv (no shell), workdir, and env on top of the inherited environment", async () => {
    const file = sb.workflow(`name: argv
tasks:
  - name: show
    type: shell
    config:
      command: /bin/sh
      args: ["-c", 'for a in "$$@"; do echo "[$$a]"; done; pwd; echo "$$FROM_TASK $$FROM_PARENT"', "argv0", "two words", "$(not run)", "\${UNSET_VAR}", "\${FROM_PARENT}"]
      workdir: ${sb.dir}
      env:
        FROM_TASK: "task-value"
`);
    const r = await cli(sb, ["run", file], { FROM_PARENT: "parent-value" });
    expect(r.code).toBe(0);
    const [t] = attemptsOf(runsOf("argv")[0]!.id);
    expect(t!.stdout).toBe(`[two words]\n[$(not run)]\n[]\n[parent-value]\n${sb.dir}\ntask-value parent-value\n`);
  });

  test("a failing task fails the run with exit 3; dependants are skipped with the reason", async () => {
    const file = wf(
      "halts",
      sh("bad", "echo oops >&2; exit 7", "\n    retry: 0") +
        sh("after_bad", "echo never", "\n    depends_on: [bad]") +
        sh("later", "echo never", "\n    depends_on: [after_bad]"),
      "config:\n  max_parallel: 1\n",
    );
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("workflow 'halts' failed: task 'bad' failed");
    const [run] = runsOf("halts");
    expect(run).toMatchObject({ status: "failed", successful_tasks: 0, failed_tasks: 1 });
    const [bad] = attemptsOf(run!.id);
    expect(bad).toMatchObject({ task_name: "bad", status: "failed", exit_code: 7, stderr: "oops\n", error_message: "exited with code 7" });
    expect(rows(sb.db, "SELECT task_name, reason FROM skipped_tasks WHERE workflow_execution_id = ? ORDER BY task_name", run!.id)).toEqual([
      { task_name: "after_bad", reason: "skipped: upstream 'bad' failed" },
      { task_name: "later", reason: "skipped: upstream 'bad' failed" },
    ]);
    expect(r.stdout).toContain("skipped: upstream 'bad' failed");
  });

  test("retries: one row per attempt, and a task that succeeds on a later attempt", async () => {
    const counter = `${sb.dir}/flaky.count`;
    const file = wf(
      "retries",
      sh("always", "exit 1", "\n    retry: 2") +
        sh("flaky", `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; [ $n -ge 2 ]`, "\n    retry: 3"),
      "config:\n  max_parallel: 2\n",
    );
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    const [run] = runsOf("retries");
    const attempts = attemptsOf(run!.id).map((t) => [t.task_name, t.attempt, t.status]);
    expect(attempts).toEqual([
      ["always", 1, "failed"],
      ["always", 2, "failed"],
      ["always", 3, "failed"],
      ["flaky", 1, "failed"],
      ["flaky", 2, "success"],
    ]);
    expect(run).toMatchObject({ successful_tasks: 1, failed_tasks: 1 });
    expect(r.stdout).toContain("retry    always attempt 2/3");
  });

  test("continue_on_failure: the failure is tolerated, dependants run, the run succeeds", async () => {
    const file = wf(
      "tolerant",
      sh("optional", "exit 2", "\n    retry: 0\n    continue_on_failure: true") + sh("next", "echo ran", "\n    depends_on: [optional]"),
    );
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(0);
    const [run] = runsOf("tolerant");
    expect(run).toMatchObject({ status: "success", successful_tasks: 1, failed_tasks: 1 });
    expect(attemptsOf(run!.id).map((t) => [t.task_name, t.status])).toEqual([
      ["next", "success"],
      ["optional", "failed"],
    ]);
    expect(r.stdout).toContain("(continue_on_failure)");
  });

  test("max_parallel bounds concurrent tasks", async () => {
    const log = `${sb.dir}/par.log`;
    // Each task records when it starts and ends; count overlaps from the log.
    const task = (i: number) => sh(`t${i}`, `echo "+ $$$$" >> ${log}; sleep 0.2; echo "- $$$$" >> ${log}`);
    const file = wf("parallel", [0, 1, 2, 3, 4, 5].map(task).join(""), "config:\n  max_parallel: 2\n");
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(0);
    let now = 0;
    let peak = 0;
    for (const line of readFileSync(log, "utf8").trim().split("\n")) {
      now += line.startsWith("+") ? 1 : -1;
      peak = Math.max(peak, now);
    }
    expect(peak).toBe(2);
  });

  test("a timeout kills the whole process tree and records 'timeout' with exit code 124", async () => {
    const pids = `${sb.dir}/tree.pids`;
    const file = wf("timeouts", sh("slow", `sleep 30 & echo $! >> ${pids}; sh -c 'echo $$$$ >> ${pids}; sleep 30'`, "\n    timeout: 1\n    retry: 0"));
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    const [run] = runsOf("timeouts");
    const [slow] = attemptsOf(run!.id);
    expect(slow).toMatchObject({ status: "timeout", exit_code: 124, error_message: "timed out after 1s" });
    const tree = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    expect(tree.length).toBe(2);
    for (const pid of tree) expect(alive(pid)).toBe(false);
  });

  test("a timeout is retried like a failure", async () => {
    const file = wf("timeout_retry", sh("slow", "sleep 30", "\n    timeout: 1\n    retry: 1"));
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    const attempts = attemptsOf(runsOf("timeout_retry")[0]!.id);
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, "timeout"],
      [2, "timeout"],
    ]);
  });

  test("a process left in the background by a finished task is stopped", async () => {
    const pidFile = `${sb.dir}/bg.pid`;
    const file = wf("background", sh("leaves_child", `sleep 30 & echo $! > ${pidFile}; echo started`));
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(0);
    expect(alive(Number(readFileSync(pidFile, "utf8")))).toBe(false);
  });

  test("50 MB of output is kept to 10 MiB per stream with bounded memory", async () => {
    const file = wf("big_output", sh("flood", "head -c 52428800 /dev/zero | tr '\\0' a; head -c 1000 /dev/zero | tr '\\0' e >&2"));
    const p = spawnCli(sb, ["run", file]);
    let peakKb = 0;
    const sample = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {}
    }, 20);
    const code = await p.exited;
    clearInterval(sample);
    expect(code).toBe(0);
    const [t] = rows(sb.db, "SELECT length(stdout) AS out, length(stderr) AS err, substr(stdout, -80) AS tail FROM task_executions WHERE task_name = 'flood'");
    expect(t!.err).toBe(1000);
    expect(t!.out).toBeGreaterThan(10 * 1024 * 1024);
    expect(t!.out).toBeLessThan(10 * 1024 * 1024 + 100);
    expect(t!.tail).toContain("[picoflow: output truncated: kept 10485760 of 52428800 bytes]");
    // The 50 MB never sit in memory at once (10 MiB kept, plus the runtime itself).
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThan(200 * 1024);
  });

  test("a command that does not exist and a workdir that does not exist fail clearly", async () => {
    const file = wf(
      "bad_commands",
      `
  - name: missing_cmd
    type: shell
    retry: 0
    continue_on_failure: true
    config:
      command: /nonexistent/tool
  - name: missing_dir
    type: shell
    retry: 0
    config:
      command: /bin/true
      workdir: /nonexistent/dir`,
    );
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    const attempts = attemptsOf(runsOf("bad_commands")[0]!.id);
    expect(attempts.map((a) => [a.task_name, a.status, a.exit_code, a.error_message])).toEqual([
      ["missing_cmd", "failed", 127, "command not found: /nonexistent/tool"],
      ["missing_dir", "failed", null, "workdir /nonexistent/dir does not exist or is not a directory"],
    ]);
    expect(r.stdout).toContain("command not found: /nonexistent/tool");
  });

  test("Ctrl-C stops the running tasks' process groups, records them, and exits 9", async () => {
    const pidFile = `${sb.dir}/int.pid`;
    const file = wf("interrupted", sh("long", `echo $$$$ > ${pidFile}; sleep 30`) + sh("after", "echo no", "\n    depends_on: [long]"));
    const p = spawnCli(sb, ["run", file]);
    const pid = await waitFor(() => (existsSync(pidFile) && Number(readFileSync(pidFile, "utf8"))) || 0, 10_000, "task start");
    p.kill("SIGINT");
    expect(await p.exited).toBe(9);
    expect(alive(pid)).toBe(false);
    const [run] = runsOf("interrupted");
    expect(run).toMatchObject({ status: "failed", error_message: "interrupted by SIGINT" });
    expect(run!.finished_at).not.toBeNull();
    const [long] = attemptsOf(run!.id);
    expect(long).toMatchObject({ status: "failed", error_message: "interrupted by SIGINT" });
    expect(rows(sb.db, "SELECT reason FROM skipped_tasks WHERE workflow_execution_id = ?", run!.id)).toEqual([
      { reason: "not started: run interrupted by SIGINT" },
    ]);
    const stderr = await new Response(p.stderr).text();
    expect(stderr).toContain("picoflow: workflow 'interrupted' interrupted by SIGINT");
  });

  test("SIGTERM and SIGHUP (a closed terminal) stop a run the same way", async () => {
    for (const sig of ["SIGTERM", "SIGHUP"] as const) {
      const pidFile = `${sb.dir}/${sig}.pid`;
      const name = `stopped_by_${sig.toLowerCase()}`;
      const p = spawnCli(sb, ["run", wf(name, sh("long", `echo $$$$ > ${pidFile}; sleep 30`))]);
      const pid = await waitFor(() => (existsSync(pidFile) && Number(readFileSync(pidFile, "utf8"))) || 0, 10_000, "task start");
      p.kill(sig);
      expect(await p.exited).toBe(9);
      expect(alive(pid)).toBe(false);
      expect(runsOf(name)[0]).toMatchObject({ status: "failed", error_message: `interrupted by ${sig}` });
    }
  });

  test("a reader that closes stdout early does not break the run", async () => {
    const file = wf("piped", sh("a", "echo a") + sh("b", "echo b", "\n    depends_on: [a]"));
    const p = Bun.spawn(["bash", "-c", `${picoflowCommand().join(" ")} run ${file} | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"`], {
      cwd: sb.dir,
      env: sb.env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
    await p.exited;
    expect(out.trim()).toBe("0");
    expect(err).not.toContain("EPIPE");
    expect(runsOf("piped")[0]).toMatchObject({ status: "success", successful_tasks: 2 });
  });

  test("two runs on one database at the same time do not disturb each other", async () => {
    const slow = wf("concurrent_a", [1, 2, 3, 4].map((i) => sh(`a${i}`, "sleep 0.3; echo a")).join(""));
    const fast = wf("concurrent_b", [1, 2, 3, 4, 5, 6, 7, 8].map((i) => sh(`b${i}`, "echo b")).join(""));
    const a = spawnCli(sb, ["run", slow]);
    await waitFor(() => runsOf("concurrent_a").length === 1, 10_000, "first run to start");
    const b = await cli(sb, ["run", fast]);
    expect(b.code).toBe(0);
    expect(await a.exited).toBe(0);
    expect(runsOf("concurrent_a")[0]).toMatchObject({ status: "success", successful_tasks: 4 });
    expect(runsOf("concurrent_b")[0]).toMatchObject({ status: "success", successful_tasks: 8 });
  });

  test("a run whose process was killed with -9 is closed by the next run, with the reason", async () => {
    const pidFile = `${sb.dir}/k9.pid`;
    const file = wf("killed", sh("long", `echo before the crash; echo $$$$ > ${pidFile}; sleep 30`));
    const p = spawnCli(sb, ["run", file]);
    const taskPid = await waitFor(() => (existsSync(pidFile) && Number(readFileSync(pidFile, "utf8"))) || 0, 10_000, "task start");
    // Its first line has reached the database as live output (for logs --follow).
    await waitFor(() => rows<{ n: number }>(sb.db, "SELECT count(*) AS n FROM task_output_chunks")[0]!.n > 0, 10_000, "live output");
    p.kill("SIGKILL");
    await p.exited;
    // The task outlived its killed parent; the next run stops what is left of it.
    const r = await cli(sb, ["run", wf("after_kill", sh("ok", "true"))]);
    expect(r.code).toBe(0);
    const [run] = runsOf("killed");
    expect(run).toMatchObject({ status: "failed", error_message: `interrupted: process ${p.pid} is gone` });
    // What it printed before the crash is kept; when it died is unknown, so no duration.
    expect(attemptsOf(run!.id)[0]).toMatchObject({
      status: "failed",
      error_message: `interrupted: process ${p.pid} is gone`,
      stdout: "before the crash\n",
      duration_seconds: null,
    });
    expect(run!.duration_seconds).toBeNull();
    expect(run!.finished_at).not.toBeNull();
    expect(rows(sb.db, "SELECT * FROM task_output_chunks")).toEqual([]);
    await waitFor(() => !alive(taskPid), 5_000, "orphaned task to be stopped");
  });
});
