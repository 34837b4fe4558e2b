// The runner against hand-written fakes of its two interfaces (recorder, executor), plus the
// real shell executor. Waits on events, never on guessed sleeps.

import { describe, expect, test } from "bun:test";
import { RunEvents } from "../src/engine/events.ts";
import { Limiter } from "../src/engine/limiter.ts";
import { backoffSeconds, runWorkflow, type ExecutorRegistry, type RunOptions } from "../src/engine/runner.ts";
import { shellExecutor } from "../src/executors/shell.ts";
import type { ExecContext, ExecResult, Executor, StopReason } from "../src/executors/types.ts";
import { silentLogger } from "../src/log.ts";
import type { AttemptEnd, RunFinish, RunRecorder } from "../src/store/types.ts";
import type { Task, Workflow } from "../src/workflow/types.ts";

/** Keeps what the runner records, in memory. */
class MemoryRecorder implements RunRecorder {
  attempts: { id: string; task: string; attempt: number; result?: ExecResult; pid?: number; output: string; end?: AttemptEnd }[] = [];
  finish?: RunFinish;
  startRun() {
    return "run-1";
  }
  startAttempt(_run: string, task: string, attempt: number) {
    const id = `a${this.attempts.length}`;
    this.attempts.push({ id, task, attempt, output: "" });
    return id;
  }
  attemptSpawned(id: string, pid: number) {
    this.attempts.find((a) => a.id === id)!.pid = pid;
  }
  appendOutput(id: string, _stream: string, text: string) {
    this.attempts.find((a) => a.id === id)!.output += text;
  }
  finishAttempt(id: string, result: ExecResult, _seconds: number, end?: AttemptEnd) {
    const a = this.attempts.find((x) => x.id === id)!;
    a.result = result;
    a.end = end;
  }
  finishRun(_run: string, f: RunFinish) {
    this.finish = f;
  }
}

/** An executor whose attempts the test finishes by hand: `script` maps "task#attempt" to an outcome. */
class ManualExecutor implements Executor<{ name: string }> {
  pending = new Map<string, (r: ExecResult) => void>();
  events = new RunEvents();
  run(config: { name: string }, ctx: ExecContext): Promise<ExecResult> {
    return new Promise((resolve) => {
      this.pending.set(config.name, resolve);
      ctx.signal.addEventListener("abort", () => {
        const reason = ctx.signal.reason as StopReason;
        this.pending.delete(config.name);
        resolve(
          reason.kind === "timeout"
            ? { status: "timeout", exitCode: 124, stdout: "", stderr: "", error: "timed out" }
            : { status: "failed", exitCode: null, stdout: "", stderr: "", error: `interrupted by ${reason.signal}` },
        );
      });
    });
  }
  finish(name: string, status: ExecResult["status"] = "success") {
    const r = this.pending.get(name);
    if (!r) throw new Error(`${name} is not running`);
    this.pending.delete(name);
    r({ status, exitCode: status === "success" ? 0 : 1, stdout: "", stderr: "", error: status === "success" ? undefined : "failed" });
  }
}

function task(name: string, dependsOn: string[] = [], extra: Partial<Task> = {}): Task {
  return { name, type: "shell", dependsOn, retry: 0, timeout: 0, continueOnFailure: false, secrets: [], config: { name } as any, ...extra } as Task;
}

function workflow(tasks: Task[], maxParallel = 4): Workflow {
  return { name: "w", file: "/w.yaml", maxParallel, tasks };
}

function setup(wf: Workflow, overrides: Partial<RunOptions> = {}) {
  const recorder = new MemoryRecorder();
  const exec = new ManualExecutor();
  const events = new RunEvents();
  const started: string[] = [];
  events.on("task:start", (e) => started.push(`${e.task}#${e.attempt}`));
  const nextStart = () => new Promise<string>((resolve) => {
    const off = events.on("task:start", (e) => {
      off();
      resolve(e.task);
    });
  });
  const executors: ExecutorRegistry = { shell: async () => exec, ssh: async () => exec, http: async () => exec };
  const done = runWorkflow(wf, {
    executors,
    recorder,
    events,
    log: silentLogger,
    env: {},
    maxParallel: wf.maxParallel,
    backoff: { multiplier: 2, maxSeconds: 0 },
    killGraceMs: 100,
    outputLimit: 1024,
    ...overrides,
  });
  /** Let the runner react to what just happened. */
  const settle = () => new Promise((r) => setTimeout(r, 5));
  return { recorder, exec, events, started, done, nextStart, settle };
}

describe("ready queue", () => {
  test("a task starts as soon as its own dependencies are done, not when a level is", async () => {
    // a -> c, b (slow) -> d: c must start while b still runs.
    const r = setup(workflow([task("a"), task("b"), task("c", ["a"]), task("d", ["b"])]));
    await r.settle();
    expect(r.started).toEqual(["a#1", "b#1"]);
    r.exec.finish("a");
    await r.settle();
    expect(r.started).toEqual(["a#1", "b#1", "c#1"]);
    r.exec.finish("c");
    r.exec.finish("b");
    await r.settle();
    r.exec.finish("d");
    const s = await r.done;
    expect(s.status).toBe("success");
    expect(s.tasks.map((t) => t.status)).toEqual(["success", "success", "success", "success"]);
  });

  test("max_parallel bounds running tasks; among ready tasks declaration order decides", async () => {
    const r = setup(workflow([task("t1"), task("t2"), task("t3"), task("t4")], 2));
    await r.settle();
    expect(r.started).toEqual(["t1#1", "t2#1"]);
    r.exec.finish("t2");
    await r.settle();
    expect(r.started).toEqual(["t1#1", "t2#1", "t3#1"]);
    r.exec.finish("t1");
    r.exec.finish("t3");
    await r.settle();
    r.exec.finish("t4");
    expect((await r.done).status).toBe("success");
  });

  test("a shared limiter bounds tasks across runs", async () => {
    const shared = new Limiter(1);
    const r = setup(workflow([task("x"), task("y")], 4), { sharedSlots: shared });
    await r.settle();
    expect(r.started).toEqual(["x#1"]);
    r.exec.finish("x");
    await r.settle();
    expect(r.started).toEqual(["x#1", "y#1"]);
    r.exec.finish("y");
    await r.done;
  });
});

describe("failures", () => {
  test("a failure stops new starts, lets running tasks finish, and skips the rest with reasons", async () => {
    const r = setup(workflow([task("a"), task("slow"), task("b", ["a"]), task("c", ["b"]), task("other", ["slow"])], 2));
    await r.settle();
    r.exec.finish("a", "failed");
    await r.settle();
    expect(r.started).toEqual(["a#1", "slow#1"]);
    r.exec.finish("slow");
    const s = await r.done;
    expect(s.status).toBe("failed");
    expect(r.recorder.finish).toEqual({
      status: "failed",
      durationSeconds: s.durationSeconds,
      successfulTasks: 1,
      failedTasks: 1,
      error: undefined,
      skipped: [
        { task: "b", reason: "skipped: upstream 'a' failed" },
        { task: "c", reason: "skipped: upstream 'a' failed" },
        { task: "other", reason: "skipped: run stopped after 'a' failed" },
      ],
    });
  });

  test("retry N means N+1 attempts, each recorded; success ends the retries", async () => {
    const r = setup(workflow([task("flaky", [], { retry: 3 })]));
    for (let attempt = 1; attempt <= 3; attempt++) {
      await r.settle();
      r.exec.finish("flaky", attempt < 3 ? "failed" : "success");
    }
    const s = await r.done;
    expect(s.tasks[0]).toMatchObject({ status: "success", attempts: 3 });
    expect(r.recorder.attempts.map((a) => [a.attempt, a.result?.status])).toEqual([
      [1, "failed"],
      [2, "failed"],
      [3, "success"],
    ]);
  });

  test("an attempt followed by another is recorded with the time it starts; the last one without", async () => {
    const r = setup(workflow([task("flaky", [], { retry: 1 }), task("opt", [], { continueOnFailure: true })]), { backoff: { multiplier: 2, maxSeconds: 0.05 } });
    await r.settle();
    const before = Date.now();
    r.exec.finish("flaky", "failed");
    r.exec.finish("opt", "failed");
    await r.nextStart();
    r.exec.finish("flaky", "failed");
    await r.done;
    const ends = r.recorder.attempts.map((a) => [a.task, a.attempt, a.end?.retryAt !== undefined, a.end?.tolerated]);
    expect(ends).toEqual([
      ["flaky", 1, true, false],
      ["opt", 1, false, true],
      ["flaky", 2, false, false],
    ]);
    // The backoff (2^0 = 1 s, capped at 50 ms) from when the attempt ended.
    const at = r.recorder.attempts[0]!.end!.retryAt!.getTime();
    expect(at - before).toBeGreaterThanOrEqual(50);
  });

  test("a command that cannot start is not retried: one attempt, and the note says why", async () => {
    const recorder = new MemoryRecorder();
    let calls = 0;
    const cannotStart: Executor<unknown> = {
      run: async () => {
        calls++;
        return { status: "failed", exitCode: 127, stdout: "", stderr: "", error: "command not found: x", permanent: true };
      },
    };
    const s = await runWorkflow(workflow([task("x", [], { retry: 3 })]), {
      executors: { shell: async () => cannotStart, ssh: async () => cannotStart, http: async () => cannotStart },
      recorder,
      log: silentLogger,
      env: {},
      maxParallel: 1,
      backoff: { multiplier: 2, maxSeconds: 0 },
      killGraceMs: 100,
      outputLimit: 1024,
    });
    expect(calls).toBe(1);
    expect(s.tasks[0]).toMatchObject({ status: "failed", attempts: 1, error: "command not found: x (not retried: retrying cannot help)" });
    expect(recorder.attempts[0]!.end?.retryAt).toBeUndefined();
  });

  test("continue_on_failure: dependants run, failure counted, run succeeds", async () => {
    const r = setup(workflow([task("opt", [], { continueOnFailure: true }), task("next", ["opt"])]));
    await r.settle();
    r.exec.finish("opt", "failed");
    await r.settle();
    r.exec.finish("next");
    const s = await r.done;
    expect(s.status).toBe("success");
    expect(r.recorder.finish).toMatchObject({ status: "success", successfulTasks: 1, failedTasks: 1, skipped: [] });
  });

  test("a timeout aborts the attempt and is retried like a failure", async () => {
    const r = setup(workflow([task("slow", [], { timeout: 0.05 as number, retry: 1 })]));
    const s = await r.done;
    expect(s.tasks[0]).toMatchObject({ status: "timeout", attempts: 2 });
  });

  test("an interrupt stops running attempts and starts nothing new", async () => {
    const ctl = new AbortController();
    const r = setup(workflow([task("long"), task("after", ["long"])]), { signal: ctl.signal });
    await r.settle();
    ctl.abort({ kind: "interrupt", signal: "SIGTERM" } satisfies StopReason);
    const s = await r.done;
    expect(s.interrupted).toBe("SIGTERM");
    expect(s.tasks.map((t) => [t.name, t.status, t.error ?? t.reason])).toEqual([
      ["long", "failed", "interrupted by SIGTERM"],
      // 'long' did not fail on its own: the interrupt stopped it, and 'after' with it.
      ["after", "skipped", "not started: run interrupted by SIGTERM"],
    ]);
    expect(r.recorder.finish?.error).toBe("interrupted by SIGTERM");
  });
});

describe("backoff", () => {
  test("multiplier^(attempt-1) seconds, capped", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffSeconds(a, 2, 60))).toEqual([1, 2, 4, 8, 16, 32, 60, 60]);
    expect(backoffSeconds(3, 3, 300)).toBe(9);
    expect(backoffSeconds(5, 2, 0)).toBe(0);
  });
});

describe("with the real shell executor", () => {
  const registry: ExecutorRegistry = { shell: async () => shellExecutor, ssh: async () => shellExecutor, http: async () => shellExecutor };
  const shellTask = (name: string, script: string, extra: Partial<Task> = {}): Task =>
    ({ ...task(name), config: { command: "/bin/sh", args: ["-c", script], env: {} }, ...extra }) as Task;

  test("live output reaches the recorder while the task runs, and secrets are masked everywhere", async () => {
    const recorder = new MemoryRecorder();
    const events = new RunEvents();
    let sawLive = "";
    const wf = workflow([shellTask("talk", "echo token=hunter22; sleep 0.3; echo done", { secrets: ["hunter22"] })]);
    events.on("task:start", () => {
      const poll = setInterval(() => {
        const a = recorder.attempts[0];
        if (a?.output && !a.result) {
          sawLive = a.output;
          clearInterval(poll);
        }
        if (a?.result) clearInterval(poll);
      }, 10);
    });
    const s = await runWorkflow(wf, {
      executors: registry,
      recorder,
      events,
      log: silentLogger,
      env: process.env,
      maxParallel: 1,
      backoff: { multiplier: 2, maxSeconds: 0 },
      killGraceMs: 200,
      outputLimit: 1024,
      outputFlushMs: 20,
    });
    expect(s.status).toBe("success");
    expect(sawLive).toBe("token=***\n");
    expect(recorder.attempts[0]!.result!.stdout).toBe("token=***\ndone\n");
    expect(recorder.attempts[0]!.pid).toBeGreaterThan(0);
  });
});
