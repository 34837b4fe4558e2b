// End to end: the real CLI runs real workflows against a temporary database.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { alive, cli, FAST_CONFIG, picoflowCommand, rows, sandbox, spawnCli, waitFor, type Sandbox } from "./helpers.ts";

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
    expect(run!.started_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$/);
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
    expect(r.stdout).toMatch(/^optional\s+failed \(tolerated\)\s+1\s/m);
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
    // Exit 8: the only failure that decided the run was a timeout.
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("picoflow: workflow 'timeouts' failed: task 'slow' timed out\n");
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
    expect(r.code).toBe(8);
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

describe("commands that cannot start", () => {
  test("a missing command and one that is not executable fail at once, not retried, and the note says why", async () => {
    const notExec = sb.file("not-executable.sh", "#!/bin/sh\necho never\n");
    chmodSync(notExec, 0o644);
    const file = wf(
      "cannot_start",
      `
  - name: missing
    type: shell
    retry: 3
    continue_on_failure: true
    config: { command: picoflow-no-such-command }
  - name: not_executable
    type: shell
    retry: 3
    config: { command: ${notExec} }`,
      "config:\n  max_parallel: 1\n",
    );
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    const attempts = attemptsOf(runsOf("cannot_start")[0]!.id);
    // One attempt each, though retry: 3 allows four: starting again cannot help.
    expect(attempts.map((a) => [a.task_name, a.attempt, a.status, a.exit_code, a.error_message])).toEqual([
      ["missing", 1, "failed", 127, "command not found: picoflow-no-such-command (not retried: retrying cannot help)"],
      ["not_executable", 1, "failed", 126, `permission denied: ${notExec} (not retried: retrying cannot help)`],
    ]);
    expect(r.stdout).not.toContain("retry ");
    const status = await cli(sb, ["status", "cannot_start"]);
    expect(status.stdout).toMatch(/^not_executable\s+failed\s+1\s+\S+\s+126\s+permission denied: .* \(not retried: retrying cannot help\)$/m);
  });

  test("a script without a #! line runs with /bin/sh, as execvp and cron do; a binary for another machine does not", async () => {
    const script = sb.file("no-shebang", 'echo "script $0 got $1"\nexit 0\n');
    chmodSync(script, 0o755);
    // An ELF header the kernel will not run (ENOEXEC), as an arm64 build on x86 would be.
    const foreign = sb.file("foreign-binary", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    chmodSync(foreign, 0o755);
    const file = wf(
      "no_shebang",
      `
  - name: script
    type: shell
    config: { command: ${script}, args: ["one two"] }
  - name: foreign
    type: shell
    retry: 2
    config: { command: ${foreign} }`,
      "config:\n  max_parallel: 1\n",
    );
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    const attempts = attemptsOf(runsOf("no_shebang")[0]!.id);
    expect(attempts.map((a) => [a.task_name, a.status, a.exit_code, a.stdout])).toEqual([
      ["foreign", "failed", 126, ""],
      ["script", "success", 0, `script ${script} got one two\n`],
    ]);
    expect(attempts[0]!.error_message).toBe(
      `cannot execute ${foreign}: exec format error (a program for another machine, or a damaged file) (not retried: retrying cannot help)`,
    );
  });
});

describe("exit codes 7 (network) and 8 (timeout)", () => {
  const http = (name: string, url: string, extra = "") => `
  - name: ${name}
    type: http
    retry: 0${extra}
    config: { url: "${url}", method: GET, timeout: 1 }`;

  test("7 when connection failures alone failed the run, 8 when timeouts alone did, 3 otherwise", async () => {
    // A port nothing listens on (connect refused), and a server that accepts and never answers.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
    await new Promise((r) => closed.close(r));
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const hangs = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    try {
      const code = async (name: string, tasks: string) => {
        const r = await cli(sb, ["run", wf(name, tasks, "config:\n  max_parallel: 4\n")]);
        return { code: r.code, error: r.stderr.split("\n").find((l) => l.startsWith("picoflow: ")) };
      };
      expect(await code("net_refused", http("api", refused))).toEqual({
        code: 7,
        error: "picoflow: workflow 'net_refused' failed: task 'api' could not connect",
      });
      expect(attemptsOf(runsOf("net_refused")[0]!.id)[0]!.error_message).toBe(`GET ${refused}: connection refused`);
      expect(await code("net_silent", http("api", hangs))).toEqual({
        code: 8,
        error: "picoflow: workflow 'net_silent' failed: task 'api' timed out",
      });
      // A shell timeout and an HTTP one: all timeouts, 8.
      expect((await code("all_timeouts", http("api", hangs) + sh("slow", "sleep 30", "\n    timeout: 1\n    retry: 0"))).code).toBe(8);
      // A connection failure and a plain failure: 3.
      expect(await code("mixed_failures", http("api", refused) + sh("bad", "exit 1", "\n    retry: 0"))).toEqual({
        code: 3,
        error: "picoflow: workflow 'mixed_failures' failed: tasks 'api', 'bad' failed",
      });
      // A tolerated failure did not decide the run: only the timeout did.
      expect((await code("tolerated_net", http("api", refused, "\n    continue_on_failure: true") + sh("slow", "sleep 30", "\n    timeout: 1\n    retry: 0"))).code).toBe(8);
    } finally {
      silent.close();
    }
  });
});

describe("retrying: the state between two attempts", () => {
  // The first retry waits 1 s (multiplier^0), the second 60 s: time enough to look.
  const SLOW_BACKOFF = `[retry]\nbackoff_multiplier = 60\nmax_backoff_seconds = 60\n[timeout]\nkill_grace_seconds = 1\n`;
  const flaky = (name: string) => `name: ${name}\ntasks:${sh("flaky", "echo trying; exit 1", "\n    retry: 2")}\n`;
  const waitRetrying = (s: Sandbox) =>
    waitFor(() => rows(s.db, "SELECT * FROM task_executions WHERE status = 'retrying' AND attempt = 2")[0], 20_000, "attempt 2 to wait for its retry");

  test("status (table and JSON) shows `retrying`, the next attempt and when; an interrupt in backoff ends it failed", async () => {
    const s = sandbox(SLOW_BACKOFF);
    try {
      const p = spawnCli(s, ["run", s.workflow(flaky("backoff"))]);
      const row = await waitRetrying(s);
      expect(row.retry_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$/);
      const table = await cli(s, ["status", "backoff"]);
      const at = new Date(Date.parse(row.retry_at.replace(" ", "T")));
      const pad = (n: number) => String(n).padStart(2, "0");
      const local = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
      expect(table.stdout).toMatch(new RegExp(`^flaky\\s+retrying\\s+2\\s+\\S+\\s+1\\s+attempt 3 at ${local}; exited with code 1$`, "m"));
      const [run] = JSON.parse((await cli(s, ["status", "backoff", "--format", "json"])).stdout);
      expect(run.status).toBe("running");
      expect(run.tasks[0]).toMatchObject({ task_name: "flaky", status: "retrying", attempts: 2, next_attempt: 3, retry_at: row.retry_at.replace(" ", "T") });
      // The first attempt's row became `failed` when the second started.
      expect(rows(s.db, "SELECT attempt, status, retry_at FROM task_executions ORDER BY attempt")).toEqual([
        { attempt: 1, status: "failed", retry_at: null },
        { attempt: 2, status: "retrying", retry_at: row.retry_at },
      ]);
      p.kill("SIGTERM");
      expect(await p.exited).toBe(9);
      expect(rows(s.db, "SELECT attempt, status, retry_at FROM task_executions ORDER BY attempt")).toEqual([
        { attempt: 1, status: "failed", retry_at: null },
        { attempt: 2, status: "failed", retry_at: null },
      ]);
    } finally {
      s.cleanup();
    }
  });

  test("a run killed (-9) while it waits for a retry leaves no `retrying` row: the next run closes it", async () => {
    const s = sandbox(SLOW_BACKOFF);
    try {
      const p = spawnCli(s, ["run", s.workflow(flaky("killed_in_backoff"))]);
      await waitRetrying(s);
      p.kill("SIGKILL");
      await p.exited;
      expect((await cli(s, ["run", s.workflow(`name: next\ntasks:${sh("ok", "true")}\n`)])).code).toBe(0);
      const attempts = rows(s.db, "SELECT t.attempt, t.status, t.retry_at, t.error_message FROM task_executions t JOIN workflow_executions w ON w.id = t.workflow_execution_id WHERE w.workflow_name = 'killed_in_backoff' ORDER BY t.attempt");
      // The attempt had finished: it keeps its own error, and no retry will come.
      expect(attempts).toEqual([
        { attempt: 1, status: "failed", retry_at: null, error_message: "exited with code 1" },
        { attempt: 2, status: "failed", retry_at: null, error_message: "exited with code 1" },
      ]);
    } finally {
      s.cleanup();
    }
  });
});

describe("output", () => {
  test("in a terminal, each event shows once: the progress lines, not log lines beside them", async () => {
    const file = wf("on_a_tty", sh("first", "echo one") + sh("second", "exit 1", "\n    depends_on: [first]\n    retry: 1"));
    const command = `${picoflowCommand().join(" ")} run ${file}`;
    // script(1) gives the run a terminal for stdout and stderr alike, as a user's shell does.
    const p = Bun.spawn(["script", "-qec", command, "/dev/null"], { cwd: sb.dir, env: sb.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code).toBe(3);
    const text = out.replace(/\x1b\[[0-9;]*m/g, "");
    expect(text).toMatch(/start {4}first/);
    expect(text).toMatch(/retry {4}second attempt 2\/2/);
    expect(text).toContain("picoflow: workflow 'on_a_tty' failed: task 'second' failed");
    for (const logged of ["run started", "task attempt finished", "task will retry", "run finished"]) expect(text).not.toContain(logged);
    // Without a terminal (CI, a pipe, a file) both streams keep everything.
    const plain = await cli(sb, ["run", file]);
    expect(plain.stderr).toContain('"msg":"task will retry"');
    expect(plain.stdout).toMatch(/retry {4}second attempt 2\/2/);
  });

  test("the summary and the database agree on durations; JSON has them to the millisecond", async () => {
    const file = wf("timed", sh("a", "sleep 0.05") + sh("b", "sleep 0.02", "\n    depends_on: [a]"));
    let shown = "";
    for (let i = 0; i < 3; i++) {
      const r = await cli(sb, ["run", file]);
      expect(r.code).toBe(0);
      shown = /Workflow {2}timed: success in (\S+) /.exec(r.stdout)![1]!;
    }
    const [run] = JSON.parse((await cli(sb, ["status", "timed", "--format", "json"])).stdout);
    const db = runsOf("timed").at(-1)!;
    expect(run.duration_seconds).toBe(db.duration_seconds);
    // What the summary said is what `status` says now.
    expect((await cli(sb, ["status", "timed"])).stdout).toContain(`(${shown})`);
    const ms = (x: number) => Math.round(x * 1000) / 1000 === x;
    for (const r of rows<{ d: number }>(sb.db, "SELECT duration_seconds AS d FROM task_executions UNION ALL SELECT duration_seconds FROM workflow_executions WHERE duration_seconds IS NOT NULL")) {
      if (r.d !== null) expect(ms(r.d)).toBe(true);
    }
    // No float noise anywhere JSON prints a number (averages included).
    for (const args of [["status", "--format", "json"], ["history", "--format", "json", "--limit", "0"], ["stats", "--format", "json"], ["workflow", "list", "--format", "json"]]) {
      const r = await cli(sb, args);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/[0-9]\.[0-9]{4,}/);
    }
  });
});

describe("max_parallel: one rule for run and daemon", () => {
  test("without [execution] max_parallel, run caps a run at 4 (the default), below the workflow's own 8; the header says so", async () => {
    const log = `${sb.dir}/cap.log`;
    const task = (i: number) => sh(`t${i}`, `echo "+" >> ${log}; sleep 0.3; echo "-" >> ${log}`);
    const file = wf("capped", [0, 1, 2, 3, 4, 5].map(task).join(""), "config:\n  max_parallel: 8\n");
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("At most 4 tasks at once: the workflow's max_parallel is 8, [execution] max_parallel is 4 (the default; raise it in the config file)\n");
    let now = 0;
    let peak = 0;
    for (const line of readFileSync(log, "utf8").trim().split("\n")) {
      now += line.startsWith("+") ? 1 : -1;
      peak = Math.max(peak, now);
    }
    expect(peak).toBe(4);
    const v = await cli(sb, ["validate", file]);
    expect(v.stdout).toContain("Max parallel: 4 (the workflow's 8, capped by [execution] max_parallel, default 4)\n");
    // Raised in the config file, the workflow's own limit applies, and nothing is said.
    const cfg = sb.file("parallel8.toml", `${FAST_CONFIG}\n[execution]\nmax_parallel = 8\n`);
    const raised = await cli(sb, ["--config", cfg, "run", file]);
    expect(raised.code).toBe(0);
    expect(raised.stdout).not.toContain("At most");
    expect((await cli(sb, ["--config", cfg, "validate", file])).stdout).toContain("Max parallel: 8\n");
  });
});
