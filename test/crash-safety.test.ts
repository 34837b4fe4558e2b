// Crash safety, end to end: kill -9 at many points of a burst leaves no orphan and no
// "running" ghost once the next command ran; a full disk, a deleted or replaced database
// and stray signals are handled. Real CLI, real processes, real files (a real tmpfs).

import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { alive, cli, FAST_CONFIG, picoflowCommand, pidsWith, rows, sandbox, scheduled, spawnCli, startDaemon, waitFor, type Daemon, type Sandbox } from "./helpers.ts";

const sandboxes: Sandbox[] = [];
function sb(config?: string): Sandbox {
  const s = config === undefined ? sandbox() : sandbox(config);
  sandboxes.push(s);
  return s;
}
afterAll(() => sandboxes.forEach((s) => s.cleanup()));

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}

/** A unique, valid sleep time: "3<digits>" seconds, so it never ends during the test. */
const uniqueSleep = () => `3${process.pid}${Math.floor(Math.random() * 1e6)}`;

describe("kill -9 during a burst of 100 tasks", () => {
  test("at every kill point, the next command leaves no orphan, no running row, and keeps finished output", async () => {
    // All 100 at once: above the default [execution] max_parallel of 4.
    const s = sb(`${FAST_CONFIG}\n[execution]\nmax_parallel = 100\n`);
    const sleep = uniqueSleep();
    const tasks: string[] = [];
    // Quick tasks first (they finish before most kill points), then plain sleeps, then tasks
    // whose child leaves the process group with setsid (recorded pid or not, it must be found).
    for (let i = 0; i < 10; i++) tasks.push(`  - { name: quick${i}, type: shell, config: { command: /bin/echo, args: ["out-${i}"] } }`);
    for (let i = 0; i < 80; i++) tasks.push(`  - { name: sleep${i}, type: shell, config: { command: /bin/sleep, args: ["${sleep}"] } }`);
    for (let i = 0; i < 10; i++) {
      tasks.push(`  - { name: escape${i}, type: shell, config: { command: /bin/sh, args: ["-c", "setsid /bin/sleep ${sleep} & exec /bin/sleep ${sleep}"] } }`);
    }
    const burst = s.workflow(`name: burst\nconfig: { max_parallel: 100, retry_default: 0, timeout_default: 0 }\ntasks:\n${tasks.join("\n")}\n`);
    const next = s.workflow(`name: next\ntasks:\n  - { name: ok, type: shell, config: { command: /bin/true } }\n`);
    const runsOf = (wf: string) => rows(s.db, `SELECT * FROM workflow_executions WHERE workflow_name = ? ORDER BY started_at`, wf);

    let orphaned = 0;
    let kept = 0;
    try {
      // Kill points from the moment the run is recorded: before, during and after the spawns.
      for (const delayMs of [5, 20, 30, 40, 55, 75, 100, 300]) {
        const before = (() => {
          try {
            return runsOf("burst").length;
          } catch {
            return 0;
          }
        })();
        const p = spawnCli(s, ["run", burst]);
        await waitFor(() => runsOf("burst").length > before, 20_000, "the burst run to be recorded");
        if (delayMs) await Bun.sleep(delayMs);
        p.kill("SIGKILL");
        await p.exited;
        orphaned += pidsWith(sleep).length;

        const r = await cli(s, ["run", next]);
        expect({ delayMs, code: r.code, stderr: r.code ? r.stderr : "" }).toEqual({ delayMs, code: 0, stderr: "" });
        // The next command has returned: nothing the dead run started is alive any more.
        const left = pidsWith(sleep);
        expect({ delayMs, survivors: left.length }).toEqual({ delayMs, survivors: 0 });

        const running = rows(s.db, `SELECT id FROM workflow_executions WHERE status IN ('pending', 'running')`);
        const attemptsRunning = rows(s.db, `SELECT id FROM task_executions WHERE status IN ('pending', 'running', 'retrying')`);
        expect({ delayMs, running, attemptsRunning }).toEqual({ delayMs, running: [], attemptsRunning: [] });
        const killed = runsOf("burst").at(-1)!;
        expect(killed.status).toBe("failed");
        expect(killed.error_message).toBe(`interrupted: process ${p.pid} is gone`);
        // Every attempt that finished before the kill kept its output.
        const done = rows(s.db, `SELECT task_name, stdout FROM task_executions WHERE workflow_execution_id = ? AND status = 'success'`, killed.id);
        for (const a of done) expect(a.stdout).toBe(`out-${a.task_name.slice(5)}\n`);
        kept += done.length;
      }
      // The kill points did hit a burst in flight: there were orphans to find and output to keep.
      expect(orphaned).toBeGreaterThan(100);
      expect(kept).toBeGreaterThan(0);
      // And again with a read command afterwards: nothing shows as running.
      const st = await cli(s, ["status", "--running-only"]);
      expect(st.code).toBe(0);
      expect(st.stdout).toBe("No run is running.\n");
      expect(pidsWith(sleep)).toEqual([]);
    } finally {
      killAll(pidsWith(sleep));
    }
  }, 120_000);
});

describe("read commands between the kill and the next writer", () => {
  test("history and status point out a run whose process is gone; the next run closes it", async () => {
    const s = sb();
    const sleep = uniqueSleep();
    const file = s.workflow(`name: doomed\ntasks:\n  - { name: t, type: shell, config: { command: /bin/sleep, args: ["${sleep}"] } }\n`);
    const p = spawnCli(s, ["run", file]);
    try {
      await waitFor(() => rows(s.db, `SELECT 1 FROM task_executions WHERE pid IS NOT NULL`).length, 20_000, "the task running");
      p.kill("SIGKILL");
      await p.exited;
      const [run] = rows(s.db, `SELECT id FROM workflow_executions`);
      const note = `Note: doomed ${run!.id.slice(0, 8)} is recorded as running, but its process (pid ${p.pid}) is gone;\n` +
        `the next 'picoflow run' or daemon start records it as failed.\n`;
      const h = await cli(s, ["history"]);
      expect(h.code).toBe(0);
      expect(h.stdout).toEndWith(`\n${note}`);
      expect((await cli(s, ["status"])).stdout).toContain(note);
      // JSON stays the recorded rows.
      expect(JSON.parse((await cli(s, ["history", "--format", "json"])).stdout)[0].status).toBe("running");

      expect((await cli(s, ["run", s.workflow(`name: next\ntasks:\n  - { name: ok, type: shell, config: { command: /bin/true } }\n`)])).code).toBe(0);
      expect(pidsWith(sleep)).toEqual([]);
      const after = await cli(s, ["history"]);
      expect(after.stdout).not.toContain("Note:");
      expect(after.stdout).toMatch(/ failed .* doomed\n/);
    } finally {
      killAll(pidsWith(sleep));
    }
  });
});

describe("a task that cleared its environment (env -i)", () => {
  test("is found by its recorded process group after kill -9: the identity recorded at its spawn names it", async () => {
    const s = sb();
    const sleep = uniqueSleep();
    // env execs sleep in the same process, with no variables: no marker left to find it by.
    const file = s.workflow(`name: hidden\ntasks:\n  - { name: t, type: shell, config: { command: /usr/bin/env, args: ["-i", "/bin/sleep", "${sleep}"] } }\n`);
    const p = spawnCli(s, ["run", file]);
    try {
      await waitFor(() => rows(s.db, `SELECT 1 FROM task_executions WHERE pid IS NOT NULL`).length && pidsWith(sleep).length, 20_000, "the task running");
      const [pid] = pidsWith(sleep);
      expect(readFileSync(`/proc/${pid}/environ`, "latin1")).not.toContain("PICOFLOW_RUN_ID");
      p.kill("SIGKILL");
      await p.exited;
      expect(pidsWith(sleep)).toEqual([pid!]);
      expect((await cli(s, ["run", s.workflow(`name: next\ntasks:\n  - { name: ok, type: shell, config: { command: /bin/true } }\n`)])).code).toBe(0);
      expect(pidsWith(sleep)).toEqual([]);
    } finally {
      killAll(pidsWith(sleep));
    }
  });
});

describe("task markers", () => {
  test("a task reads its own run and attempt id; its config.env cannot change them", async () => {
    const s = sb();
    const file = s.workflow(`name: marked
tasks:
  - name: t
    type: shell
    config:
      command: /bin/sh
      args: ["-c", "echo $PICOFLOW_RUN_ID $PICOFLOW_ATTEMPT_ID"]
      env: { PICOFLOW_RUN_ID: forged, PICOFLOW_ATTEMPT_ID: forged }
`);
    const r = await cli(s, ["run", file]);
    expect(r.code).toBe(0);
    const [a] = rows(s.db, `SELECT id, workflow_execution_id, stdout FROM task_executions`);
    expect(a!.stdout).toBe(`${a!.workflow_execution_id} ${a!.id}\n`);
  });
});

describe("a picoflow run started by a task of a run that died", () => {
  test("its recovery stops the dead run's other processes, never itself", async () => {
    const s = sb();
    const go = join(s.dir, "go");
    const sleep = uniqueSleep();
    const inner = s.workflow(`name: inner\ntasks:\n  - { name: t, type: shell, config: { command: /bin/echo, args: ["inner ran"] } }\n`);
    const [bin, ...binArgs] = picoflowCommand();
    // The task waits for the go file, then becomes (exec) a picoflow run of its own; a sibling
    // task is a plain sleep that recovery must stop.
    const outer = s.workflow(`name: outer
config: { max_parallel: 2 }
tasks:
  - name: nested
    type: shell
    config:
      command: /bin/sh
      args: ["-c", ${JSON.stringify(`while [ ! -f ${go} ]; do sleep 0.05; done; exec ${[bin, ...binArgs].join(" ")} run ${inner}`)}]
  - { name: sibling, type: shell, config: { command: /bin/sleep, args: ["${sleep}"] } }
`);
    const p = spawnCli(s, ["run", outer]);
    try {
      await waitFor(() => rows(s.db, `SELECT 1 FROM task_executions WHERE pid IS NOT NULL`).length === 2, 20_000, "both tasks running");
      p.kill("SIGKILL");
      await p.exited;
      writeFileSync(go, "");
      const [run] = await waitFor(() => {
        const r = rows(s.db, `SELECT * FROM workflow_executions WHERE workflow_name = 'inner'`);
        return r.length && r[0]!.status !== "running" ? r : null;
      }, 20_000, "the inner run to end");
      expect(run).toMatchObject({ status: "success" });
      expect(rows(s.db, `SELECT status, error_message FROM workflow_executions WHERE workflow_name = 'outer'`)).toEqual([
        { status: "failed", error_message: `interrupted: process ${p.pid} is gone` },
      ]);
      expect(pidsWith(sleep)).toEqual([]);
    } finally {
      killAll(pidsWith(sleep));
    }
  });
});

// ---- The daemon: a real one, on schedules of one second. ----

const DAEMON_CONFIG = `
[retry]
max_backoff_seconds = 0
[timeout]
kill_grace_seconds = 1
[metrics]
enabled = false
[daemon]
shutdown_grace_seconds = 5
heartbeat_seconds = 1
database_check_seconds = 1
`;

const successes = (db: string, wf: string) =>
  rows<{ n: number }>(db, `SELECT count(*) AS n FROM workflow_executions WHERE workflow_name = ? AND status = 'success'`, wf)[0]!.n;

describe("the database deleted or replaced under a running daemon", () => {
  test("rm -rf of its directory: logged, running runs stopped, exit 6; restarted, it creates a fresh database", async () => {
    const s = sb(DAEMON_CONFIG);
    const state = join(s.dir, "state");
    mkdirSync(state);
    const db = join(state, "picoflow.db");
    const sleep = uniqueSleep();
    const ticker = s.workflow(scheduled("ticker", "* * * * * *", "/bin/echo", ["tick"]));
    const long = s.workflow(scheduled("long", "* * * * * *", "/bin/sleep", [sleep]));
    const env = { PICOFLOW_DB_PATH: db };
    const d = await startDaemon(s, [ticker, long], env);
    try {
      await waitFor(() => successes(db, "ticker") >= 1 && pidsWith(sleep).length === 1, 20_000, "a run recorded, a task running");
      rmSync(state, { recursive: true, force: true });
      await waitFor(() => d.code() !== undefined, 20_000, "the daemon to exit");
      expect(d.code()).toBe(6);
      const line = d.lines().find((l) => l.msg === "database file deleted or replaced; the daemon stops");
      expect(line).toMatchObject({ level: "error", db_path: db, problem: `${db} was deleted (or its directory removed) while the daemon was running` });
      expect(d.log().trimEnd().split("\n").at(-1)).toBe(
        `picoflow: ${db} was deleted (or its directory removed) while the daemon was running; stopped (a restart creates a new database there, or refuses a file that is not one)`,
      );
      // Its running task was stopped with it, and no run started after the check failed.
      expect(pidsWith(sleep)).toEqual([]);
    } finally {
      await d.stop();
      killAll(pidsWith(sleep));
    }
    // systemd's StateDirectory= recreates the directory before the restart.
    mkdirSync(state);
    const d2 = await startDaemon(s, [ticker], env);
    try {
      await waitFor(() => successes(db, "ticker") >= 1, 20_000, "a run in the fresh database");
    } finally {
      expect(await d2.stop()).toBe(0);
    }
  });

  test("replaced by garbage (renamed over it, or overwritten in place): exit 6, and a restart refuses the file with exit 6", async () => {
    for (const how of ["rename", "overwrite"] as const) {
      const s = sb(DAEMON_CONFIG);
      const ticker = s.workflow(scheduled("ticker", "* * * * * *", "/bin/echo", ["tick"]));
      const d = await startDaemon(s, [ticker]);
      try {
        await waitFor(() => successes(s.db, "ticker") >= 1, 20_000, "a recorded run");
        const garbage = "this is not a database\n".repeat(200);
        if (how === "rename") renameSync(s.file("garbage", garbage), s.db);
        else writeFileSync(s.db, garbage);
        await waitFor(() => d.code() !== undefined, 20_000, "the daemon to exit");
        expect({ how, code: d.code() }).toEqual({ how, code: 6 });
        const problem = d.lines().find((l) => l.msg === "database file deleted or replaced; the daemon stops")?.problem;
        expect(problem).toBe(
          how === "rename"
            ? `${s.db} was replaced by another file while the daemon was running`
            : `${s.db} was overwritten while the daemon was running: it is no longer an SQLite database`,
        );
      } finally {
        await d.stop();
      }
      // Its WAL is not left beside the new file (SQLite would replay it into that file).
      expect([existsSync(`${s.db}-wal`), existsSync(`${s.db}-shm`)]).toEqual([false, false]);
      const again = await cli(s, ["daemon", "start", ticker]);
      expect({ how, code: again.code }).toEqual({ how, code: 6 });
      expect(again.stderr).toBe(
        "picoflow: picoflow.db (the default; set --db-path, PICOFLOW_DB_PATH or db_path in a config file): not a PicoFlow database, or the file is corrupt (file is not a database)\n",
      );
      expect(readFileSync(s.db, "utf8")).toBe("this is not a database\n".repeat(200));
    }
  });
});

/** Mount a tmpfs of `size` at `dir` (root only); false if that is not permitted here. */
function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir], { stderr: "pipe" });
  return r.exitCode === 0;
}

function unmount(dir: string): void {
  Bun.spawnSync(["umount", "-l", dir]);
}

/**
 * Fill the filesystem holding `dir` with one file, leaving `spare` bytes free: room for a
 * run's first small rows, not for its output. Returns the file's path.
 */
function fillDisk(dir: string, spare: number): string {
  const filler = join(dir, "filler");
  const fd = openSync(filler, "w");
  const block = Buffer.alloc(64 * 1024, 1);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  truncateSync(filler, Math.max(0, size - spare));
  return filler;
}

// Mounting needs root (CI runs the suite as root); a developer's own account cannot.
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = sandbox("");
  try {
    const dir = join(probe.dir, "probe");
    if (!mountTmpfs(dir, "1m")) return false;
    unmount(dir);
    return true;
  } finally {
    probe.cleanup();
  }
})();

describe("a full disk under the daemon", () => {
  test.skipIf(!canMount)("runs whose recording failed are closed as failed once the database accepts writes again; none stays running", async () => {
    const s = sb(DAEMON_CONFIG);
    const disk = join(s.dir, "disk");
    expect(mountTmpfs(disk, "16m")).toBe(true);
    const db = join(disk, "picoflow.db");
    let d: Daemon | undefined;
    try {
      // ~400 KB of output per run: once the disk is full, its final write cannot fit.
      const noisy = s.workflow(scheduled("noisy", "* * * * * *", "/bin/sh", ["-c", "head -c 400000 /dev/zero | tr '\\\\0' x; sleep 0.2"]));
      d = await startDaemon(s, [noisy], { PICOFLOW_DB_PATH: db });
      await waitFor(() => successes(db, "noisy") >= 1, 20_000, "a recorded run");
      const filler = fillDisk(disk, 256 * 1024);
      const failed = () => d!.lines().filter((l) => l.msg === "scheduled run could not be recorded" && l.execution_id);
      await waitFor(() => failed().length >= 2, 30_000, "runs whose recording failed");
      const owed = failed().map((l) => l.execution_id as string);
      expect(failed()[0]!.error).toContain("database or disk is full");
      rmSync(filler);

      await waitFor(() => d!.log().includes('"msg":"closed runs whose recording had failed"'), 20_000, "owed runs closed");
      const closed = await waitFor(() => {
        const r = rows(db, `SELECT id, status, error_message, finished_at FROM workflow_executions WHERE id IN (${owed.map(() => "?").join(",")})`, ...owed);
        return r.length === owed.length && r.every((x) => x.status === "failed") ? r : null;
      }, 20_000, "every owed run closed");
      for (const r of closed) {
        expect(r.error_message).toMatch(/^recording failed: .*database or disk is full; closed after the database accepted writes again$/);
        expect(r.finished_at).not.toBeNull();
      }
      const owedAttempts = rows(db, `SELECT status FROM task_executions WHERE workflow_execution_id IN (${owed.map(() => "?").join(",")})`, ...owed);
      expect(owedAttempts.filter((a) => a.status === "running")).toEqual([]);

      // While the daemon lives, what says "running" is only its one current run (if any).
      const history = JSON.parse((await cli(s, ["history", "--status", "running", "--format", "json"], { PICOFLOW_DB_PATH: db })).stdout);
      expect(history.length).toBeLessThanOrEqual(1);
      for (const r of history) expect(owed).not.toContain(r.id);
      const st = JSON.parse((await cli(s, ["status", "--running-only", "--format", "json"], { PICOFLOW_DB_PATH: db })).stdout);
      expect(st.length).toBeLessThanOrEqual(1);
      for (const r of st) expect(owed).not.toContain(r.id);
      expect(d.code()).toBeUndefined();
      // It keeps recording runs now that there is space again.
      const ok = successes(db, "noisy");
      await waitFor(() => successes(db, "noisy") > ok, 20_000, "a later run recorded");
    } finally {
      if (d) await d.stop();
      unmount(disk);
    }
  }, 90_000);
});

describe("stray signals: SIGUSR1, SIGUSR2, SIGALRM", () => {
  test("run: each stops the run like SIGTERM: tasks stopped, recorded, exit 9", async () => {
    const s = sb();
    for (const sig of ["SIGUSR1", "SIGUSR2", "SIGALRM"] as const) {
      const pidFile = join(s.dir, `${sig}.pid`);
      const name = `stray_${sig.toLowerCase()}`;
      const file = s.workflow(`name: ${name}\ntasks:\n  - name: long\n    type: shell\n    config: { command: /bin/sh, args: ["-c", "echo $$$$ > ${pidFile}; sleep 30"] }\n`);
      const p = spawnCli(s, ["run", file]);
      const pid = await waitFor(() => (existsSync(pidFile) && Number(readFileSync(pidFile, "utf8"))) || 0, 10_000, "task start");
      p.kill(sig);
      expect({ sig, code: await p.exited }).toEqual({ sig, code: 9 });
      expect(alive(pid)).toBe(false);
      const [run] = rows(s.db, `SELECT * FROM workflow_executions WHERE workflow_name = ?`, name);
      expect(run).toMatchObject({ status: "failed", error_message: `interrupted by ${sig}` });
      expect(rows(s.db, `SELECT status, error_message FROM task_executions WHERE workflow_execution_id = ?`, run!.id)).toEqual([
        { status: "failed", error_message: `interrupted by ${sig}` },
      ]);
      expect(await new Response(p.stderr).text()).toContain(`picoflow: workflow '${name}' interrupted by ${sig}`);
    }
  });

  test("daemon: each is logged and ignored; schedules go on; SIGTERM still stops it with exit 0", async () => {
    const s = sb(DAEMON_CONFIG);
    const ticker = s.workflow(scheduled("ticker", "* * * * * *", "/bin/echo", ["tick"]));
    const d = await startDaemon(s, [ticker]);
    try {
      for (const sig of ["SIGUSR1", "SIGUSR2", "SIGALRM"] as const) {
        d.proc.kill(sig);
        await waitFor(() => d.lines().some((l) => l.msg === "signal ignored (stop the daemon with SIGTERM)" && l.signal === sig), 10_000, `${sig} logged`);
      }
      expect(d.lines().find((l) => l.signal === "SIGUSR1")?.level).toBe("warn");
      const before = successes(s.db, "ticker");
      await waitFor(() => successes(s.db, "ticker") >= before + 2, 20_000, "more runs after the signals");
      expect(d.code()).toBeUndefined();
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

describe("/healthz", () => {
  test("carries no error text: an invalid reload shows as invalid: true; daemon status keeps the message", async () => {
    const s = sb(DAEMON_CONFIG.replace("enabled = false", "enabled = true"));
    const file = s.workflow(scheduled("watched", "0 0 0 1 1 *", "/bin/true"), "watched.yaml");
    const d = await startDaemon(s, [file], { PICOFLOW_METRICS_PORT: "0" });
    try {
      const url = (d.lines().find((l) => l.msg === "serving metrics")!.health as string);
      const first: any = await (await fetch(url)).json();
      expect(first.workflows).toEqual([
        { name: "watched", file, schedule: "0 0 0 1 1 *", timezone: null, running: false, next_run: first.workflows[0].next_run, invalid: false },
      ]);
      // A reload error quotes values from the file: here a made-up time zone.
      writeFileSync(file, scheduled("watched", "0 0 0 1 1 *", "/bin/true").replace("tasks:", "timezone: Secret/hunter2-value\ntasks:"));
      d.proc.kill("SIGHUP");
      await waitFor(() => d.log().includes("keeping the last good version scheduled"), 10_000, "reload error");
      const text = await (await fetch(url)).text();
      expect(text).not.toContain("hunter2");
      const health = JSON.parse(text);
      expect(health.workflows[0].invalid).toBe(true);
      expect("error" in health.workflows[0]).toBe(false);
      const st = JSON.parse((await cli(s, ["daemon", "status", "--format", "json"])).stdout);
      expect(st.workflows[0].error).toContain("Secret/hunter2-value");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
