// `logs --follow` against a run in another process: a task printing a line every 200 ms is
// streamed while it runs, every line exactly once, and following stops when the run ends.

import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { cli, rows, sandbox, spawnCli, waitFor, type Sandbox } from "./helpers.ts";

// These spawn the real CLI (and wait for real runs): more than bun's 5 s default per test.
setDefaultTimeout(60_000);

const TICKER = `
name: ticker
tasks:
  - name: prep
    type: shell
    config: { command: /bin/echo, args: ["ready"] }
  - name: tick
    type: shell
    depends_on: [prep]
    config:
      command: /bin/sh
      args: ["-c", "i=1; while [ $i -le 12 ]; do echo line $i; [ $i = 6 ] && echo half >&2; sleep 0.2; i=$((i+1)); done"]
  - name: last
    type: shell
    depends_on: [tick]
    config: { command: /bin/sh, args: ["-c", "echo done; exit 2"] }
`;

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox();
});
afterAll(() => sb.cleanup());

/** Reads a child's stdout as it arrives. */
function collector(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return { get text() { return text; }, done };
}

test("--follow streams a running task's output and stops when the run ends", async () => {
  const wf = sb.workflow(TICKER);
  const run = spawnCli(sb, ["run", wf]);
  let follow: ReturnType<typeof spawnCli> | undefined;
  try {
    await waitFor(() => rows(sb.db, "SELECT 1 FROM task_executions WHERE task_name = 'tick' AND status = 'running'").length > 0, 20_000, "tick to start");
    follow = spawnCli(sb, ["logs", "-w", "ticker", "-f"]);
    const out = collector(follow.stdout);
    // A line arrives through --follow while the run is still going: it is live, not the stored copy.
    await waitFor(() => /line [3-9]\n/.test(out.text), 20_000, "live lines");
    const live = rows(sb.db, "SELECT status FROM workflow_executions WHERE workflow_name = 'ticker'")[0]!;
    const tickRow = rows(sb.db, "SELECT status FROM task_executions WHERE task_name = 'tick'")[0]!;
    expect(live.status).toBe("running");
    expect(tickRow.status).toBe("running");
    // Meanwhile status shows the running task, and the task that has not started as pending.
    const [now] = JSON.parse((await cli(sb, ["status", "ticker", "--format", "json"])).stdout);
    expect(now.status).toBe("running");
    expect(now.tasks.map((t: any) => [t.task_name, t.status])).toEqual([["prep", "success"], ["tick", "running"], ["last", "pending"]]);
    const table = await cli(sb, ["status", "--running-only"]);
    expect(table.stdout).toMatch(/^ticker\s+running\s/m);

    expect(await run.exited).toBe(3);
    // The run failed ('last' exited 2): following ends with the run's own code, as run did.
    expect(await follow.exited).toBe(3);
    await out.done;
    const text = out.text;
    // Every line exactly once, in order.
    const lines = text.split("\n").filter((l) => /^line \d+$/.test(l));
    expect(lines).toEqual(Array.from({ length: 12 }, (_, i) => `line ${i + 1}`));
    expect(text).toMatch(/^Execution [0-9a-f-]{36} of ticker: running/);
    expect(text).toContain("==> tick #1 stderr <==\nhalf\n");
    expect(text).toMatch(/--- tick #1: success, exit 0, /);
    expect(text).toMatch(/--- last #1: failed, exit 2, .*\n==> last #1 stdout <==\ndone\n/);
    expect(text).toMatch(/Execution [0-9a-f-]{36}: failed\n$/);
    expect(await new Response(follow.stderr).text()).toBe("");
  } finally {
    run.kill("SIGKILL");
    follow?.kill("SIGKILL");
    await Promise.all([run.exited, follow?.exited]);
  }
});

test("--follow on a finished run prints it and exits; --task waits only for that task", async () => {
  const r = await cli(sb, ["logs", "ticker", "--follow", "--task", "tick", "--tail", "3"]);
  // The run failed: 3, although the task followed succeeded. Without --follow, showing is all: 0.
  expect(r.code).toBe(3);
  expect((await cli(sb, ["logs", "ticker", "--task", "tick"])).code).toBe(0);
  expect(r.stdout).toContain("==> tick #1 stdout <==\n[... 9 earlier lines; --tail 0 shows all]\nline 10\nline 11\nline 12\n");
  expect(r.stdout).not.toContain("prep");
  expect(r.stdout).toEndWith(": failed\n");
});

test("a run whose process died: --follow stops instead of waiting forever", async () => {
  const wf = sb.workflow(TICKER.replace("name: ticker", "name: orphan").replace("12", "500"));
  const run = spawnCli(sb, ["run", wf]);
  try {
    await waitFor(() => rows(sb.db, "SELECT 1 FROM task_executions WHERE task_name = 'tick' AND status = 'running'").length > 0, 20_000, "tick to start");
    // kill -9: the run stays "running" in the database, its task's process group lives on.
    run.kill("SIGKILL");
    await run.exited;
    const r = await cli(sb, ["logs", "orphan", "--follow", "--tail", "1"]);
    // Killed: the next writer records the run as interrupted, so 9 now.
    expect(r.code).toBe(9);
    expect(r.stderr).toContain("stopped following: the process running this execution is gone");
    expect(r.stdout).toMatch(/is recorded as running, but the process running it is gone; the next 'picoflow run' or 'daemon start' marks it failed\n$/);
    expect(r.stdout).not.toContain("--follow keeps watching");
  } finally {
    run.kill("SIGKILL");
    await run.exited;
    // Recovery by the next writer stops the dead run's leftover task group.
    await cli(sb, ["run", sb.workflow("name: cleanup\ntasks:\n  - name: a\n    type: shell\n    config: { command: /bin/true }\n")]);
  }
});

test("--follow exits 0 when the run succeeds, 9 when it is interrupted", async () => {
  // The task waits for a file: it is still running when logs starts following, whatever the machine's speed.
  const go = `${sb.dir}/go`;
  const wf = (name: string) => sb.workflow(`name: ${name}\ntasks:\n  - name: a\n    type: shell\n    config: { command: /bin/sh, args: ["-c", "while [ ! -e ${go} ]; do sleep 0.05; done; echo fine"] }\n`);
  for (const [name, end, runCode, followCode] of [["fine", "file", 0, 0], ["stopped", "SIGTERM", 9, 9]] as const) {
    const run = spawnCli(sb, ["run", wf(name)]);
    let follow: ReturnType<typeof spawnCli> | undefined;
    try {
      await waitFor(() => rows(sb.db, `SELECT 1 FROM task_executions t JOIN workflow_executions w ON w.id = t.workflow_execution_id WHERE w.workflow_name = '${name}' AND t.status = 'running'`).length > 0, 20_000, `${name} to start`);
      follow = spawnCli(sb, ["logs", name, "-f"]);
      const out = collector(follow.stdout);
      await waitFor(() => out.text.includes("--- a #1: running"), 20_000, "logs to start following");
      if (end === "file") writeFileSync(go, "");
      else run.kill(end);
      expect(await run.exited).toBe(runCode);
      expect(await follow.exited).toBe(followCode);
      await out.done;
      expect(out.text).toMatch(new RegExp(`Execution [0-9a-f-]{36}: ${followCode === 0 ? "success" : "failed"}\n$`));
    } finally {
      run.kill("SIGKILL");
      follow?.kill("SIGKILL");
      await Promise.all([run.exited, follow?.exited]);
      rmSync(go, { force: true });
    }
  }
});

test("--help says what --tail counts: lines, per stream, per attempt", async () => {
  const r = await cli(sb, ["logs", "--help"]);
  expect(r.stdout).toMatch(/--tail <n> +Lines to show, counted from the end, per stream \(stdout and stderr each\) per attempt; 0 shows all \(default: 100\)/);
  expect(r.stdout).toMatch(/-f, --follow +.*exit with the run's code: 0 success, 3 failed, 9 interrupted/);
});
