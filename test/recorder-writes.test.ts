// What a run writes to its database, seen from the database: small pages for a new file, an
// attempt that ends before the next group commit written once with its final values, and a
// deferred write that fails stopping the run as a store error (exit 6). Real CLI, real
// processes; SQLite triggers installed by the test observe the writes.

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { cli, pidsWith, rows, sandboxMaker } from "./helpers.ts";

const sb = sandboxMaker();

/** Run a trivial workflow so the database exists, then add `sql` (tables, triggers) to it. */
async function databaseWith(s: ReturnType<typeof sb>, sql: string): Promise<void> {
  const first = await cli(s, ["run", s.workflow(`name: first\ntasks:\n  - { name: t, type: shell, config: { command: /bin/true } }\n`)]);
  expect(first.code).toBe(0);
  const db = new Database(s.db);
  try {
    db.run(sql);
  } finally {
    db.close();
  }
}

describe("writes per task", () => {
  test("a new database has 1 KiB pages; quick attempts are inserted once, already finished, with their output", async () => {
    const s = sb();
    await databaseWith(
      s,
      `CREATE TABLE seen (event TEXT, status TEXT);
       CREATE TRIGGER seen_insert AFTER INSERT ON task_executions BEGIN INSERT INTO seen VALUES ('insert', NEW.status); END;
       CREATE TRIGGER seen_update AFTER UPDATE ON task_executions BEGIN INSERT INTO seen VALUES ('update', NEW.status); END;`,
    );
    expect(rows(s.db, "PRAGMA page_size")).toEqual([{ page_size: 1024 }]);
    const tasks = Array.from({ length: 40 }, (_, i) => `  - { name: q${i}, type: shell, config: { command: /bin/echo, args: ["out-${i}"] } }`);
    const r = await cli(s, ["run", s.workflow(`name: quick\nconfig: { max_parallel: 8 }\ntasks:\n${tasks.join("\n")}\n`)]);
    expect(r.code).toBe(0);
    const attempts = rows(s.db, `SELECT t.task_name, t.status, t.stdout, t.pid FROM task_executions t JOIN workflow_executions w ON w.id = t.workflow_execution_id WHERE w.workflow_name = 'quick'`);
    expect(attempts.length).toBe(40);
    for (const a of attempts) expect(a).toEqual({ task_name: a.task_name, status: "success", stdout: `out-${a.task_name.slice(1)}\n`, pid: expect.any(Number) });
    // Before group commit every attempt was inserted `running`, then updated twice (pid, end).
    const seen = rows(s.db, `SELECT event, status FROM seen`);
    expect(seen.filter((e) => e.event === "insert").length).toBe(40);
    expect(seen.filter((e) => e.event === "insert" && e.status === "success").length).toBeGreaterThan(0);
    expect(seen.filter((e) => e.event === "update").length).toBeLessThan(80);
    expect(rows(s.db, `SELECT count(*) AS n FROM task_output_chunks`)).toEqual([{ n: 0 }]);
  });
});

describe("a deferred write that fails", () => {
  test("stops the run at once as a database error (exit 6); the next run closes it; nothing is left running", async () => {
    const s = sb();
    await databaseWith(
      s,
      `CREATE TRIGGER refuse BEFORE INSERT ON task_executions WHEN NEW.task_name = 'refused'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;`,
    );
    const sleep = `3${process.pid}${Math.floor(Math.random() * 1e6)}`;
    // The task's start is queued (group commit) and it runs; the commit fails right after.
    const file = s.workflow(`name: doomed\ntasks:\n  - { name: refused, type: shell, config: { command: /bin/sleep, args: ["${sleep}"] } }\n`);
    try {
      const r = await cli(s, ["run", file]);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain("database error: refused by the test");
      expect(pidsWith(sleep)).toEqual([]);
      expect((await cli(s, ["run", s.workflow(`name: next\ntasks:\n  - { name: ok, type: shell, config: { command: /bin/true } }\n`)])).code).toBe(0);
      expect(rows(s.db, `SELECT status FROM workflow_executions WHERE workflow_name = 'doomed'`)).toEqual([{ status: "failed" }]);
      expect(rows(s.db, `SELECT id FROM task_executions WHERE status IN ('pending', 'running', 'retrying')`)).toEqual([]);
    } finally {
      for (const pid of pidsWith(sleep)) process.kill(pid, "SIGKILL");
    }
  }, 30_000);
});
