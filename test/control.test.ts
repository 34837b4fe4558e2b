// End to end: the daemon's control socket, driven by the real CLI (`trigger`, `daemon reload`,
// `daemon status`) and by raw protocol requests. We wait for answers, rows and files, never
// for guessed times.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, FAST_CONFIG, rows, sandbox, sandboxMaker, spawnCli, startDaemon, waitFor, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

const CONFIG = `${FAST_CONFIG}
[metrics]
enabled = false
[daemon]
shutdown_grace_seconds = 5
`;

const sb = sandboxMaker(CONFIG);

/** An unscheduled workflow with one shell task `work`: `command args...`, no retries. */
function manual(name: string, command: string, args: string[], extra = ""): string {
  return `name: ${name}
tasks:
  - name: work
    type: shell
    retry: 0
${extra}    config:
      command: ${command}
      args: ${JSON.stringify(args)}
`;
}

/** A task that waits until the file `go` exists. */
const gated = (go: string) => ["-c", `while [ ! -f ${go} ]; do sleep 0.05; done`];

/** One raw request line to the socket; every answer line, parsed. */
async function raw(socket: string, text: string): Promise<any[]> {
  let buf = "";
  let done!: () => void;
  const closed = new Promise<void>((r) => (done = r));
  const s = await Bun.connect({
    unix: socket,
    socket: {
      data(_s, d) {
        buf += d.toString();
      },
      close() {
        done();
      },
      error() {
        done();
      },
    },
  });
  s.write(text);
  await closed;
  return buf
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe("trigger", () => {
  test("starts a run now through the daemon: trigger 'trigger', its execution id printed; -o json", async () => {
    const s = sb();
    const marker = join(s.dir, "ran");
    const f = s.workflow(manual("adhoc", "/bin/sh", ["-c", `echo x >> ${marker}`]));
    const d = await startDaemon(s, [f]);
    try {
      const r = await cli(s, ["trigger", "adhoc"]);
      expect(r.code).toBe(0);
      const id = /^Triggered adhoc: execution (\S+)\n$/.exec(r.stdout)?.[1];
      expect(id).toBeDefined();
      await waitFor(() => rows(s.db, `SELECT 1 FROM workflow_executions WHERE id = ? AND status = 'success'`, id).length, 20_000, "the run");
      const run = rows(s.db, `SELECT trigger, owner_pid FROM workflow_executions WHERE id = ?`, id)[0]!;
      expect(run.trigger).toBe("trigger");
      // Run by the daemon, not by the CLI.
      expect(run.owner_pid).toBe(d.pid);
      expect(readFileSync(marker, "utf8")).toBe("x\n");

      const j = await cli(s, ["trigger", "adhoc", "-o", "json"]);
      expect(j.code).toBe(0);
      const out = JSON.parse(j.stdout);
      expect(out).toEqual({ execution_id: expect.any(String), workflow: "adhoc", trigger: "trigger" });
      await waitFor(() => rows(s.db, `SELECT 1 FROM workflow_executions WHERE id = ? AND status = 'success'`, out.execution_id).length, 20_000, "run 2");
      expect(readFileSync(marker, "utf8")).toBe("x\nx\n");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("--wait follows the run and exits with its code: 0, 3 (failure), 8 (timeout)", async () => {
    const s = sb();
    const ok = s.workflow(manual("good", "/bin/true", []));
    const bad = s.workflow(manual("bad", "/bin/sh", ["-c", "exit 4"]));
    const slow = s.workflow(manual("slow", "/bin/sleep", ["30"], "    timeout: 1\n"));
    const d = await startDaemon(s, [ok, bad, slow]);
    try {
      const r = await cli(s, ["trigger", "good", "--wait"]);
      expect(r.code).toBe(0);
      const id = /Running good \(1 task\), execution (\S+)\n/.exec(r.stdout)?.[1];
      expect(id).toBeDefined();
      expect(r.stdout).toMatch(/success +work in /);
      expect(r.stdout).toContain(`\nExecution ${id}\nWorkflow  good: success in `);
      // The run has ended when --wait returns.
      expect(rows(s.db, `SELECT status, trigger FROM workflow_executions WHERE id = ?`, id)).toEqual([{ status: "success", trigger: "trigger" }]);

      const f = await cli(s, ["trigger", "bad", "--wait"]);
      expect(f.code).toBe(3);
      expect(f.stdout).toMatch(/failed +work in .* exited with code 4/);
      expect(f.stderr).toBe("picoflow: workflow 'bad' failed: task 'work' failed\n");
      expect(rows(s.db, `SELECT status FROM workflow_executions WHERE workflow_name = 'bad'`)).toEqual([{ status: "failed" }]);

      const t = await cli(s, ["trigger", "slow", "--wait", "-o", "json"]);
      expect(t.code).toBe(8);
      const out = JSON.parse(t.stdout);
      expect(out).toMatchObject({ workflow: "slow", trigger: "trigger", status: "failed", interrupted: null });
      expect(out.tasks).toEqual([expect.objectContaining({ name: "work", status: "timeout", attempts: 1 })]);
      expect(t.stderr).toContain("timed out");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("a workflow already running: exit 1, naming the running execution; nothing recorded", async () => {
    const s = sb();
    const go = join(s.dir, "go");
    const f = s.workflow(manual("held", "/bin/sh", gated(go)));
    const d = await startDaemon(s, [f]);
    try {
      const first = await cli(s, ["trigger", "held"]);
      expect(first.code).toBe(0);
      const id = /execution (\S+)/.exec(first.stdout)![1]!;
      const again = await cli(s, ["trigger", "held"]);
      expect(again.code).toBe(1);
      expect(again.stdout).toBe("");
      expect(again.stderr).toStartWith(`picoflow: workflow 'held' is already running: execution ${id} started `);
      expect(rows(s.db, `SELECT id FROM workflow_executions WHERE workflow_name = 'held'`)).toEqual([{ id }]);
      writeFileSync(go, "");
      await waitFor(() => rows(s.db, `SELECT 1 FROM workflow_executions WHERE id = ? AND status = 'success'`, id).length, 20_000, "the run");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("a paused workflow can still be triggered", async () => {
    const s = sb();
    const f = s.workflow(manual("calm", "/bin/true", []).replace("tasks:", `schedule: "0 0 0 1 1 *"\ntasks:`));
    const d = await startDaemon(s, [f]);
    try {
      expect((await cli(s, ["workflow", "pause", "calm"])).code).toBe(0);
      const r = await cli(s, ["trigger", "calm", "--wait"]);
      expect(r.code).toBe(0);
      expect(rows(s.db, `SELECT trigger, status FROM workflow_executions WHERE workflow_name = 'calm'`)).toEqual([{ trigger: "trigger", status: "success" }]);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("--wait while the daemon is stopped: the run is interrupted and trigger exits 9", async () => {
    const s = sb(CONFIG.replace("shutdown_grace_seconds = 5", "shutdown_grace_seconds = 1"));
    const f = s.workflow(manual("held", "/bin/sh", gated(join(s.dir, "never"))));
    const d = await startDaemon(s, [f]);
    const waiting = spawnCli(s, ["trigger", "held", "--wait"]);
    try {
      await waitFor(() => rows(s.db, `SELECT 1 FROM task_executions WHERE status = 'running'`).length, 20_000, "a running task");
      expect(await d.stop()).toBe(9);
      expect(await waiting.exited).toBe(9);
      expect(await new Response(waiting.stderr).text()).toContain("picoflow: workflow 'held' interrupted by SIGTERM");
    } finally {
      waiting.kill();
      await d.stop();
    }
  });

  test("unknown workflow: exit 5 with 'did you mean'; no daemon: exit 1 naming the socket and suggesting run", async () => {
    const s = sb();
    const f = s.workflow(manual("backup", "/bin/true", []));
    const d = await startDaemon(s, [f]);
    try {
      const r = await cli(s, ["trigger", "bakup"]);
      expect(r.code).toBe(5);
      expect(r.stderr).toBe(`picoflow: no workflow named "bakup" is loaded by the daemon (did you mean 'backup'?)\n`);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    // The daemon removed its socket as it stopped.
    expect(existsSync(join(s.dir, "picoflow.sock"))).toBe(false);
    const r = await cli(s, ["trigger", "backup"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`no daemon answers on the control socket ${join(s.dir, "picoflow.sock")} (no such socket)`);
    expect(r.stderr).toContain("'picoflow run FILE'");
    expect(rows(s.db, `SELECT 1 FROM workflow_executions`)).toEqual([]);
  });
});

describe("trigger --retry", () => {
  test("runs only what failed and its downstream, in the daemon: trigger 'retry', retry_of set", async () => {
    const s = sb();
    const [a, b, c] = ["a", "b", "c"].map((n) => join(s.dir, `ran-${n}`)) as [string, string, string];
    const fixed = join(s.dir, "fixed");
    const f = s.workflow(`name: chain
tasks:
  - name: first
    type: shell
    retry: 0
    config: { command: /bin/sh, args: ["-c", "echo x >> ${a}"] }
  - name: flaky
    type: shell
    retry: 0
    depends_on: [first]
    config: { command: /bin/sh, args: ["-c", "echo x >> ${b}; test -f ${fixed}"] }
  - name: last
    type: shell
    retry: 0
    depends_on: [flaky]
    config: { command: /bin/sh, args: ["-c", "echo x >> ${c}"] }
`);
    const d = await startDaemon(s, [f]);
    try {
      const r1 = await cli(s, ["trigger", "chain", "--wait"]);
      expect(r1.code).toBe(3);
      const original = /execution (\S+)/.exec(r1.stdout)![1]!;
      writeFileSync(fixed, "");
      const r2 = await cli(s, ["trigger", "chain", "--retry", original.slice(0, 8), "--wait", "-o", "json"]);
      expect(r2.code).toBe(0);
      const out = JSON.parse(r2.stdout);
      expect(out).toMatchObject({ workflow: "chain", trigger: "retry", retry_of: original, tasks_to_run: 2, tasks_reused: 1, status: "success" });
      // `first` ran once (reused), `flaky` twice, `last` once (it never ran the first time).
      expect([a, b, c].map((p) => readFileSync(p, "utf8"))).toEqual(["x\n", "x\nx\n", "x\n"]);
      expect(rows(s.db, `SELECT trigger, retry_of, owner_pid FROM workflow_executions WHERE id = ?`, out.execution_id)).toEqual([
        { trigger: "retry", retry_of: original, owner_pid: d.pid },
      ]);
      // Nothing left to retry: refused, exit 1; an unknown execution: exit 5.
      const again = await cli(s, ["trigger", "chain", "--retry", out.execution_id]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("nothing to retry");
      const none = await cli(s, ["trigger", "chain", "--retry", "ffffffff"]);
      expect(none.code).toBe(5);
      expect(none.stderr).toContain("no execution with id 'ffffffff'");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe("daemon reload", () => {
  test("prints each file's result; a broken file is exit 2 and keeps its last good version", async () => {
    const s = sb();
    const a = s.workflow(manual("alpha", "/bin/true", []), "a.yaml");
    const b = s.workflow(manual("beta", "/bin/true", []), "b.yaml");
    const d = await startDaemon(s, [s.dir]);
    try {
      writeFileSync(b, "name: beta\ntasks: [\n");
      const r = await cli(s, ["daemon", "reload"]);
      expect(r.code).toBe(2);
      expect(r.stdout).toContain("Workflow files: 0 loaded, 1 unchanged, 0 removed, 1 invalid\n");
      expect(r.stdout).toMatch(new RegExp(`unchanged +alpha +${a}`));
      expect(r.stdout).toMatch(new RegExp(`invalid +beta +${b} +last good version kept`));
      expect(r.stdout).toContain(`\n${b}:\n  ${b}:`);
      // The last good version still runs.
      expect((await cli(s, ["trigger", "beta", "--wait"])).code).toBe(0);

      writeFileSync(b, manual("beta", "/bin/sh", ["-c", "exit 0"]));
      const c = s.workflow(manual("gamma", "/bin/true", []), "c.yaml");
      rmSync(a);
      const j = await cli(s, ["daemon", "reload", "-o", "json"]);
      expect(j.code).toBe(0);
      const report = JSON.parse(j.stdout);
      expect(report.config.error).toBeNull();
      const byFile = Object.fromEntries(report.files.map((f: any) => [f.file, [f.workflow, f.result]]));
      expect(byFile).toEqual({ [a]: ["alpha", "removed"], [b]: ["beta", "loaded"], [c]: ["gamma", "loaded"] });
      const gone = await cli(s, ["trigger", "alpha"]);
      expect(gone.code).toBe(5);
      // The same logging as SIGHUP.
      expect(d.lines().some((l) => l.msg === "workflow removed" && l.workflow === "alpha")).toBe(true);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe("daemon status", () => {
  test("live from the daemon (running execution and tasks); from the database when the socket does not answer", async () => {
    const s = sb();
    const go = join(s.dir, "go");
    const f = s.workflow(manual("held", "/bin/sh", gated(go)));
    const d = await startDaemon(s, [f]);
    try {
      const id = /execution (\S+)/.exec((await cli(s, ["trigger", "held"])).stdout)![1]!;
      await waitFor(() => rows(s.db, `SELECT 1 FROM task_executions WHERE status = 'running'`).length, 20_000, "a running task");
      const j = await cli(s, ["daemon", "status", "-o", "json"]);
      expect(j.code).toBe(0);
      const live = JSON.parse(j.stdout);
      expect(live.source).toBe("daemon");
      expect(live.pid).toBe(d.pid);
      expect(live.workflows).toEqual([expect.objectContaining({ name: "held", running: true, execution_id: id, running_tasks: ["work"] })]);
      const t = await cli(s, ["daemon", "status"]);
      expect(t.stdout).toContain("State:     live from the daemon\n");
      expect(t.stdout).toContain(`Running now:\n  held: execution ${id}, tasks work\n`);

      // A socket that does not answer (removed here): the state row the daemon wrote.
      rmSync(join(s.dir, "picoflow.sock"));
      const db = JSON.parse((await cli(s, ["daemon", "status", "-o", "json"])).stdout);
      expect(db.source).toBe("database");
      expect(db.status).toBe("running");
      expect(db.workflows).toEqual([expect.objectContaining({ name: "held", running: true })]);
      writeFileSync(go, "");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe("the socket", () => {
  test("mode 0600; malformed, oversized and unknown requests get an error answer, and the daemon goes on", async () => {
    const s = sb();
    const d = await startDaemon(s, [s.workflow(manual("adhoc", "/bin/true", []))]);
    const socket = join(s.dir, "picoflow.sock");
    try {
      const st = lstatSync(socket);
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
      expect(await raw(socket, "not json\n")).toEqual([{ v: 1, ok: false, error: "request is not JSON", code: 4 }]);
      expect(await raw(socket, "[1,2]\n")).toEqual([{ v: 1, ok: false, error: "request is not a JSON object", code: 4 }]);
      expect((await raw(socket, `{"v":2,"op":"status"}\n`))[0]).toMatchObject({ ok: false, code: 4 });
      expect((await raw(socket, `{"v":1,"op":"stauts"}\n`))[0]).toMatchObject({ ok: false, error: "unknown op 'stauts' (did you mean 'status'?)" });
      expect((await raw(socket, `{"v":1,"op":"trigger"}\n`))[0]).toMatchObject({ ok: false, error: "trigger needs 'workflow'" });
      expect(await raw(socket, "x".repeat(200_000))).toEqual([{ v: 1, ok: false, error: "request longer than 65536 bytes", code: 4 }]);
      // Still serving, still the same process.
      expect(await raw(socket, `{"v":1,"op":"ping"}\n`)).toEqual([{ v: 1, ok: true, pid: d.pid }]);
      const r = await raw(socket, `{"v":1,"op":"trigger","workflow":"adhoc"}\n`);
      expect(r).toEqual([{ v: 1, ok: true, execution_id: expect.any(String), workflow: "adhoc", trigger: "trigger", total_tasks: 1 }]);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  test("a stale socket of a killed daemon is replaced; a symlink there is never followed or removed", async () => {
    const s = sb();
    const f = s.workflow(manual("adhoc", "/bin/true", []));
    const socket = join(s.dir, "picoflow.sock");
    const d = await startDaemon(s, [f]);
    d.proc.kill("SIGKILL");
    await d.exited;
    expect(lstatSync(socket).isSocket()).toBe(true);
    const d2 = await startDaemon(s, [f]);
    try {
      expect(d2.lines().some((l) => l.msg === "replaced a stale control socket")).toBe(true);
      expect((await cli(s, ["trigger", "adhoc", "--wait"])).code).toBe(0);
    } finally {
      expect(await d2.stop()).toBe(0);
    }

    const target = s.file("target", "keep me\n");
    symlinkSync(target, socket);
    const d3 = await startDaemon(s, [f]);
    try {
      expect(d3.lines().some((l) => l.msg.startsWith("control socket unavailable") && l.error.includes("symbolic link"))).toBe(true);
      expect(readlinkSync(socket)).toBe(target);
      expect(readFileSync(target, "utf8")).toBe("keep me\n");
      const r = await cli(s, ["trigger", "adhoc"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no daemon answers on the control socket ${socket}`);
    } finally {
      expect(await d3.stop()).toBe(0);
    }
    expect(readlinkSync(socket)).toBe(target);
  });

  test("--pid-file X: the socket is beside X, named after it", async () => {
    const s = sb();
    const f = s.workflow(manual("adhoc", "/bin/true", []));
    const d = await startDaemon(s, ["--pid-file", join(s.dir, "other.pid"), f]);
    try {
      expect(lstatSync(join(s.dir, "other.sock")).isSocket()).toBe(true);
      expect((await cli(s, ["trigger", "adhoc"])).code).toBe(1);
      expect((await cli(s, ["trigger", "adhoc", "--wait", "--pid-file", join(s.dir, "other.pid")])).code).toBe(0);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
