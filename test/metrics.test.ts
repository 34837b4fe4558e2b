// Prometheus metrics: `run --metrics-port` serves them while a real run goes on, the output
// passes `promtool check metrics`, labels stay bounded, and a busy port is a clear error.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunEvents } from "../src/engine/events.ts";
import { silentLogger } from "../src/log.ts";
import { createMetrics } from "../src/metrics.ts";
import { startMetricsServer } from "../src/sys/http-server.ts";
import { cli, sandbox, spawnCli, waitFor, type Sandbox } from "./helpers.ts";

// These spawn the real CLI (and wait for real runs): more than bun's 5 s default per test.
setDefaultTimeout(60_000);

/** Run promtool's linter on an exposition; returns its complaints ("" when clean). */
async function promtool(text: string): Promise<{ code: number; problems: string }> {
  const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, problems: (out + err).trim() };
}

/** The value of one sample line, e.g. sample(text, 'picoflow_tasks_running{workflow="x"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox();
});
afterAll(() => sb.cleanup());

const METERED = `
name: metered
tasks:
  - name: flaky
    type: shell
    retry: 1
    continue_on_failure: true
    config: { command: /bin/sh, args: ["-c", "exit 1"] }
  - name: slowpoke
    type: shell
    timeout: 1
    retry: 0
    continue_on_failure: true
    config: { command: /bin/sleep, args: ["30"] }
  - name: gate
    type: shell
    config: { command: /bin/sh, args: ["-c", "while [ ! -f go ]; do sleep 0.05; done; echo through"] }
`;

describe("run --metrics-port", () => {
  test("serves metrics of the live run; promtool accepts them", async () => {
    const run = spawnCli(sb, ["run", "--metrics-port", "0", sb.workflow(METERED)]);
    let stderr = "";
    const reading = (async () => {
      const d = new TextDecoder();
      for await (const c of run.stderr) stderr += d.decode(c, { stream: true });
    })();
    try {
      const url = await waitFor(() => /"msg":"serving metrics","url":"([^"]+)"/.exec(stderr)?.[1], 20_000, "the metrics URL");
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const body = await waitFor(async () => {
        const text = await (await fetch(url)).text();
        const ready =
          sample(text, 'picoflow_task_timeouts_total{workflow="metered",task="slowpoke"}') === 1 &&
          sample(text, 'picoflow_task_attempts_total{workflow="metered",task="flaky",status="failed"}') === 2;
        return ready ? text : undefined;
      }, 20_000, "attempts to be counted");
      expect(sample(body, 'picoflow_tasks_running{workflow="metered"}')).toBe(1);
      expect(sample(body, 'picoflow_workflows_running{workflow="metered"}')).toBe(1);
      expect(sample(body, 'picoflow_task_retries_total{workflow="metered",task="flaky"}')).toBe(1);
      expect(sample(body, 'picoflow_task_attempts_total{workflow="metered",task="slowpoke",status="timeout"}')).toBe(1);
      expect(sample(body, 'picoflow_task_duration_seconds_count{workflow="metered",task="flaky"}')).toBe(2);
      expect(sample(body, 'picoflow_task_duration_seconds_bucket{le="+Inf",workflow="metered",task="slowpoke"}')).toBe(1);
      expect(sample(body, "picoflow_process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
      expect(body).not.toMatch(UUID);
      expect(body).not.toContain("process_cpu"); // no default process metrics
      expect(await promtool(body)).toEqual({ code: 0, problems: "" });

      const res = await fetch(url);
      expect(res.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
      const health = await fetch(url.replace(/metrics$/, "healthz"));
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });
      expect((await fetch(url.replace(/metrics$/, "nope"))).status).toBe(404);
      expect((await fetch(url, { method: "POST" })).status).toBe(405);

      writeFileSync(join(sb.dir, "go"), "");
      expect(await run.exited).toBe(0);
      await reading;
      // The server went away with the run.
      expect(await fetch(url).then(() => "up", () => "down")).toBe("down");
    } finally {
      run.kill("SIGKILL");
      await run.exited;
    }
  });

  test("a port in use is a clear error before anything runs", async () => {
    const s = sandbox();
    const blocker = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("mine") });
    try {
      const r = await cli(s, ["run", "--metrics-port", String(blocker.port), s.workflow(METERED)]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        `picoflow: cannot serve metrics on 127.0.0.1:${blocker.port}: address already in use (another process listens on that port) (choose another --metrics-port)\n`,
      );
      expect(existsSync(s.db)).toBe(false);
    } finally {
      await blocker.stop(true);
      s.cleanup();
    }
  });

  test("bad --metrics-port values are exit 4", async () => {
    for (const v of ["70000", "abc", "-1"]) {
      const r = await cli(sb, ["run", `--metrics-port=${v}`, sb.workflow(METERED)]);
      expect(r.code).toBe(4);
      expect(r.stderr).toStartWith("picoflow: --metrics-port: ");
    }
  });
});

describe("metrics module and server (the daemon's API)", () => {
  test("skipped runs, next run times, health JSON; promtool accepts the output", async () => {
    const metrics = createMetrics();
    const server = await startMetricsServer({ metrics, port: 0, hostname: "127.0.0.1", health: () => ({ status: "ok", workflows: 2 }), log: silentLogger });
    try {
      const events = new RunEvents();
      metrics.observe(events);
      const result = { status: "success" as const, exitCode: 0, stdout: "", stderr: "" };
      events.emit("run:start", { runId: crypto.randomUUID(), workflow: "nightly", file: "/x.yaml", totalTasks: 1, trigger: "schedule" });
      events.emit("task:start", { runId: "r", workflow: "nightly", task: "dump", attempt: 1, maxAttempts: 1 });
      events.emit("task:finish", { runId: "r", workflow: "nightly", task: "dump", attempt: 1, maxAttempts: 1, result, durationSeconds: 42, final: true });
      events.emit("run:finish", { runId: "r", workflow: "nightly", status: "success", durationSeconds: 43, tasks: [] });
      // After its run finished, the subscription is gone: a stray event changes nothing.
      events.emit("task:start", { runId: "r", workflow: "nightly", task: "dump", attempt: 2, maxAttempts: 2 });
      metrics.skippedRun("nightly");
      metrics.skippedRun("nightly");
      metrics.setNextRun("nightly", new Date("2030-01-01T02:00:00Z"));
      metrics.setNextRun("hourly", new Date("2030-01-01T03:00:00Z"));
      metrics.setNextRun("hourly", null);
      const before = await metrics.render();
      metrics.setLoadErrors(3);
      metrics.setLoadErrors(2);

      const url = `http://127.0.0.1:${server.port}`;
      const text = await (await fetch(`${url}/metrics`)).text();
      // The daemon's gauge of files that failed its last load; absent until set (`run` loads no files of its own).
      expect(before).not.toContain("picoflow_workflow_load_errors");
      expect(sample(text, "picoflow_workflow_load_errors")).toBe(2);
      expect(text).toContain("# TYPE picoflow_workflow_load_errors gauge");
      expect(sample(text, 'picoflow_workflow_executions_total{workflow="nightly",status="success"}')).toBe(1);
      expect(sample(text, 'picoflow_workflow_duration_seconds_bucket{le="60",workflow="nightly"}')).toBe(1);
      expect(sample(text, 'picoflow_workflow_duration_seconds_bucket{le="30",workflow="nightly"}')).toBe(0);
      expect(sample(text, 'picoflow_tasks_running{workflow="nightly"}')).toBe(0);
      expect(sample(text, 'picoflow_skipped_runs_total{workflow="nightly"}')).toBe(2);
      expect(sample(text, 'picoflow_next_run_timestamp_seconds{workflow="nightly"}')).toBe(Date.parse("2030-01-01T02:00:00Z") / 1000);
      expect(text).not.toContain('workflow="hourly"');
      expect(text).not.toMatch(UUID);
      expect(await promtool(text)).toEqual({ code: 0, problems: "" });
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: "ok", workflows: 2 });
      expect(await metrics.render()).toContain("# TYPE picoflow_task_duration_seconds histogram");
    } finally {
      await server.stop();
    }
  });

  test("binding a busy port throws a PicoflowError naming the cause", async () => {
    const blocker = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("mine") });
    try {
      const err = await startMetricsServer({ metrics: createMetrics(), port: blocker.port!, hostname: "127.0.0.1", log: silentLogger }).then(
        () => null,
        (e) => e,
      );
      expect(err?.exitCode).toBe(1);
      expect(err?.message).toBe("address already in use (another process listens on that port)");
    } finally {
      await blocker.stop(true);
    }
  });
});
