// Durability under kill -9 (the guarantees that group commit does not move): a 200-task run (a parallel
// layer and a chain of short shell tasks, half of them printing) is killed at random moments,
// ten times. After each kill the database passes `PRAGMA integrity_check` and `status` (a read
// command: it does not recover) points the dead run out. Once the next `run` (which recovers)
// has returned, no run or attempt is left running (no ghost), no process of the killed run is
// alive (no orphan), and every attempt recorded as finished is whole: a success has its exit
// code, its output and its side effect. A run that `run` reports as finished is durable when
// the command returns: its row is final and the WAL is checkpointed.
//
// The kill delays come from a seeded generator; the seed is printed, and
// PICOFLOW_DURABILITY_SEED=<seed> bun test test/durability.test.ts replays the same delays.

import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { cli, FAST_CONFIG, pidsWith, readDb, rows, sandboxMaker, spawnCli } from "./helpers.ts";

const sb = sandboxMaker(`${FAST_CONFIG}\n[execution]\nmax_parallel = 8\n`);

/** mulberry32: a small seeded generator, so a failing sequence of kill points can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tasks p* and c* print `out-NAME` when their number is even. */
const prints = (name: string) => Number(name.slice(1)) % 2 === 0;

/**
 * The 200-task workflow: a layer of 100 independent tasks and a chain of 100. Each task prints
 * (or not) and appends its name and the time (bash's $EPOCHREALTIME, no extra process) to
 * `side` as its very last act. With `sleeper`, the first two
 * tasks of the layer sleep for a long time instead, so every kill finds task processes alive.
 */
function workflow(side: string, sleeper?: string): string {
  const task = (name: string, deps: string) => {
    const out = prints(name) ? `echo out-${name}; ` : "";
    return `  - { name: ${name}, type: shell${deps}, config: { command: /bin/bash, args: ["-c", "${out}echo ${name} $EPOCHREALTIME >> ${side}"] } }`;
  };
  const lines = ["name: durable", "config: { max_parallel: 8, retry_default: 0, timeout_default: 0 }", "tasks:"];
  for (let i = 0; i < 100; i++) {
    if (sleeper && i < 2) lines.push(`  - { name: p${i}, type: shell, config: { command: /bin/sleep, args: ["${sleeper}"] } }`);
    else lines.push(task(`p${i}`, ""));
  }
  for (let i = 0; i < 100; i++) lines.push(task(`c${i}`, i ? `, depends_on: [c${i - 1}]` : ""));
  return lines.join("\n") + "\n";
}

/** Live processes carrying PICOFLOW_RUN_ID=<one of runIds> in their environment (src/sys/environ.ts). */
function markedWith(runIds: string[]): number[] {
  const wanted = new Set(runIds.map((id) => `PICOFLOW_RUN_ID=${id}`));
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/environ`, "latin1").split("\0").some((kv) => wanted.has(kv))) continue;
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      if (!stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) out.push(Number(d));
    } catch {}
  }
  return out;
}

function integrity(db: string): string {
  const d = readDb(db);
  try {
    return (d.query("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((r) => r.integrity_check).join("; ");
  } finally {
    d.close();
  }
}

/** Bytes in the -wal file, 0 when there is none. Read before anything opens the database. */
const walSize = (db: string) => (existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0);

/** Task name -> when its side effect happened (ms since the epoch). */
function sideEffects(side: string): Map<string, number> {
  const lines = existsSync(side) ? readFileSync(side, "utf8").split("\n").filter(Boolean) : [];
  return new Map(lines.map((l) => [l.split(" ")[0]!, Number(l.split(" ")[1]) * 1000]));
}

/**
 * How long before the kill a task may have done its last act and still not be recorded as a
 * success: its exit is not yet reaped by a busy runner, or its end waits for a group commit.
 * Anything older must have been recorded. At least 300 ms (30 times the group commit's
 * window), more on a machine so loaded that a whole run is slow, and short enough to catch
 * records held back for long or until the run ends.
 */
const inFlightMs = (fullRunMs: number) => Math.max(300, fullRunMs / 4);

test("kill -9 at 10 random points of a 200-task run: integrity ok, no ghost, no orphan, finished attempts whole", async () => {
  const seed = Number(process.env.PICOFLOW_DURABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`durability: seed ${seed} (replay with PICOFLOW_DURABILITY_SEED=${seed})`);
  const random = seeded(seed);
  const s = sb();
  const sleeper = `3${process.pid}${Math.floor(random() * 1e6)}`;
  const next = s.workflow(`name: next\ntasks:\n  - { name: ok, type: shell, config: { command: /bin/true } }\n`);

  // An uninterrupted run first: "finished is durable" once `run` returns, and how long a run
  // takes here, to spread the kill points over it.
  const fullSide = join(s.dir, "side-full.txt");
  const t0 = performance.now();
  const fullFile = s.workflow(workflow(fullSide), "full.yaml");
  const full = await cli(s, ["run", fullFile]);
  const fullMs = performance.now() - t0;
  expect({ code: full.code, stderr: full.code ? full.stderr : "" }).toEqual({ code: 0, stderr: "" });
  expect(walSize(s.db)).toBe(0);
  const [done] = rows(s.db, `SELECT id, status, finished_at, successful_tasks FROM workflow_executions`);
  expect(done).toMatchObject({ status: "success", successful_tasks: 200 });
  expect(done!.finished_at).toBeString();
  expect(sideEffects(fullSide).size).toBe(200);

  let killedInFlight = 0;
  let keptSuccesses = 0;
  let mostUnrecorded = 0;
  let oldestUnrecorded = 0;
  try {
    for (let k = 0; k < 10; k++) {
      const side = join(s.dir, `side-${k}.txt`);
      const file = s.workflow(workflow(side, sleeper), `killed-${k}.yaml`);
      // From late in start-up to a little past where an uninterrupted run would have ended:
      // kills land during start-up, spawns, output and commits.
      const delayMs = Math.round((0.3 + random() * 0.9) * fullMs);
      const where = `kill ${k} at ${delayMs} ms (seed ${seed})`;
      const before = new Set(rows(s.db, `SELECT id FROM workflow_executions`).map((r) => r.id as string));
      const p = spawnCli(s, ["run", file]);
      await Bun.sleep(delayMs);
      const killedAt = Date.now();
      p.kill("SIGKILL");
      await p.exited;

      expect({ where, integrity: integrity(s.db) }).toEqual({ where, integrity: "ok" });
      const killed = rows(s.db, `SELECT id FROM workflow_executions WHERE workflow_name = 'durable'`).filter((r) => !before.has(r.id));

      // A read command does not pass the dead run off as running.
      const st = await cli(s, ["status"]);
      expect({ where, code: st.code, gone: killed.length ? st.stdout.includes(`(pid ${p.pid}) is gone`) : true }).toEqual({ where, code: 0, gone: true });

      // The next writer recovers (a one-task run, or the whole 200 tasks again); it returns a
      // finished, durable run of its own.
      const again = k % 2 === 1;
      const r = await cli(s, ["run", again ? fullFile : next]);
      expect({ where, code: r.code, stderr: r.code ? r.stderr : "" }).toEqual({ where, code: 0, stderr: "" });
      expect({ where, wal: walSize(s.db) }).toEqual({ where, wal: 0 });
      const [own] = rows(s.db, `SELECT status, finished_at FROM workflow_executions ORDER BY started_at DESC LIMIT 1`);
      expect({ where, status: own?.status, finished: typeof own?.finished_at }).toEqual({ where, status: "success", finished: "string" });

      // No ghost.
      const ghosts = [
        ...rows(s.db, `SELECT id FROM workflow_executions WHERE status IN ('pending', 'running')`),
        ...rows(s.db, `SELECT id, task_name FROM task_executions WHERE status IN ('pending', 'running', 'retrying')`),
      ];
      expect({ where, ghosts }).toEqual({ where, ghosts: [] });
      // No orphan: nothing carrying the killed run's marker, nor the sleepers it started.
      expect({ where, orphans: markedWith(killed.map((x) => x.id)), sleepers: pidsWith(sleeper) }).toEqual({ where, orphans: [], sleepers: [] });

      if (!killed.length) continue; // killed before the run was recorded: nothing to keep
      const [run] = rows(s.db, `SELECT id, status, error_message FROM workflow_executions WHERE id = ?`, killed[0]!.id);
      // With two sleepers the run cannot have finished: recovery closed it.
      expect({ where, status: run!.status, error: run!.error_message }).toEqual({ where, status: "failed", error: `interrupted: process ${p.pid} is gone` });
      killedInFlight++;

      const names = sideEffects(side);
      const attempts = rows(s.db, `SELECT task_name, status, finished_at, exit_code, stdout, error_message FROM task_executions WHERE workflow_execution_id = ?`, run!.id);
      for (const a of attempts) {
        const got = { where, task: a.task_name, status: a.status, finished: a.finished_at !== null, exit: a.exit_code, stdout: a.stdout ?? "", side: names.has(a.task_name) };
        if (a.status === "success") {
          // Finished before the kill: its end, its output and its side effect are all there.
          keptSuccesses++;
          expect(got).toEqual({ ...got, finished: true, exit: 0, stdout: prints(a.task_name) ? `out-${a.task_name}\n` : "", side: true });
        } else {
          // Cut off by the kill: recovery closed it as interrupted, with an end time.
          expect({ where, task: a.task_name, status: a.status, finished: a.finished_at !== null, error: a.error_message }).toEqual({
            where,
            task: a.task_name,
            status: "failed",
            finished: true,
            error: `interrupted: process ${p.pid} is gone`,
          });
        }
      }
      // A task whose side effect happened but that is not recorded as a success was cut off
      // between its last act and the record of its end: it was in flight at the kill. One that
      // did its last act well before the kill finished before it, and must have been recorded.
      const succeeded = new Set(attempts.filter((a) => a.status === "success").map((a) => a.task_name as string));
      const unrecorded = [...names].filter(([n]) => !succeeded.has(n));
      mostUnrecorded = Math.max(mostUnrecorded, unrecorded.length);
      for (const [, at] of unrecorded) oldestUnrecorded = Math.max(oldestUnrecorded, killedAt - at);
      const lost = unrecorded.filter(([, at]) => at < killedAt - inFlightMs(fullMs)).map(([n, at]) => `${n} ended ${killedAt - at} ms before the kill`);
      expect({ where, lost }).toEqual({ where, lost: [] });
    }
    console.log(`durability: an uninterrupted run took ${Math.round(fullMs)} ms; ${killedInFlight} of 10 kills hit a recorded run; ${keptSuccesses} finished attempts kept; at most ${mostUnrecorded} side effects without a recorded end, the oldest ${Math.round(oldestUnrecorded)} ms before its kill`);
    // The kill points did hit runs in flight, with finished attempts to keep.
    expect(killedInFlight).toBeGreaterThan(0);
    expect(keptSuccesses).toBeGreaterThan(0);
  } finally {
    for (const pid of pidsWith(sleeper)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
}, 60_000);
