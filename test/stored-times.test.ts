// Stored times: the spec's example SQL, run verbatim, returns exactly the right rows on both
// sides of its "last 24 hours" and "last 30 days" cut-offs; and a database written before
// schema version 2 (times with a `T`) is read as it is, then rewritten by the first writer.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { MIGRATIONS, SCHEMA_VERSION } from "../src/store/db.ts";
import { cli, rows, sandbox, SPEC_QUERIES, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MINUTE = 60_000;


const BREAKS = `name: breaks
config: { retry_default: 0 }
tasks:
  - name: fail
    type: shell
    config: { command: /bin/sh, args: ["-c", "echo no >&2; exit 1"] }
`;
const FINE = `name: fine
tasks:
  - name: ok
    type: shell
    config: { command: /bin/true }
`;

/**
 * Move run `id` and its attempts `ms` back in time, keeping the form each time was written in
 * (only the clock moves): what the database would hold had the run happened then.
 */
function shiftRun(db: string, id: string, ms: number): void {
  const conn = new Database(db);
  try {
    const shift = (t: string | null | undefined) => {
      if (t === null || t === undefined) return null;
      const iso = new Date(Date.parse(t.replace(" ", "T")) - ms).toISOString();
      return t[10] === "T" ? iso : iso.replace("T", " ");
    };
    conn.transaction(() => {
      const r = conn.query(`SELECT started_at, finished_at, created_at FROM workflow_executions WHERE id = ?`).get(id) as Record<string, string | null>;
      conn.run(`UPDATE workflow_executions SET started_at = ?, finished_at = ?, created_at = ? WHERE id = ?`, [shift(r.started_at), shift(r.finished_at), shift(r.created_at), id]);
      type Attempt = { id: string; started_at: string; finished_at: string | null; created_at: string };
      for (const a of conn.query(`SELECT id, started_at, finished_at, created_at FROM task_executions WHERE workflow_execution_id = ?`).all(id) as Attempt[]) {
        conn.run(`UPDATE task_executions SET started_at = ?, finished_at = ?, created_at = ? WHERE id = ?`, [shift(a.started_at), shift(a.finished_at), shift(a.created_at), a.id]);
      }
    })();
  } finally {
    conn.close();
  }
}

async function runOnce(s: Sandbox, file: string, code: number): Promise<string> {
  const r = await cli(s, ["run", file]);
  expect({ code: r.code, stderr: r.code === code ? "" : r.stderr }).toEqual({ code, stderr: "" });
  const [row] = rows(s.db, `SELECT id FROM workflow_executions ORDER BY rowid DESC LIMIT 1`);
  return row!.id;
}

describe("the spec's example queries, at their cut-offs", () => {
  let s: Sandbox;
  // Each run of `breaks` fails; its age tells which of the spec's windows it is in.
  const AGES: Record<string, number> = {
    "23h": 23 * HOUR,
    // Just past the cut-off, on the cut-off's own date: a `T` compared with
    // datetime()'s space let these through.
    "24h+1m": DAY + MINUTE,
    "25h": 25 * HOUR,
    "29d": 29 * DAY,
    "30d+1m": 30 * DAY + MINUTE,
    "31d": 31 * DAY,
  };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    s = sandbox();
    const breaks = s.workflow(BREAKS);
    const fine = s.workflow(FINE);
    for (const [label, age] of Object.entries(AGES)) {
      ids[label] = await runOnce(s, breaks, 3);
      shiftRun(s.db, ids[label]!, age);
    }
    ids.fineNow = await runOnce(s, fine, 0);
    ids.fineOld = await runOnce(s, fine, 0);
    shiftRun(s.db, ids.fineOld!, 30 * DAY + 2 * MINUTE);
  });
  afterAll(() => s.cleanup());

  test("failed tasks in the last 24 hours: the run 23 h ago, not the ones 24 h 1 min or 25 h ago", () => {
    const got = rows(s.db, SPEC_QUERIES.failed24h);
    expect(got).toEqual([{ workflow_name: "breaks", task_name: "fail", started_at: expect.any(String), error_message: expect.any(String) }]);
    const attempt = rows(s.db, `SELECT started_at FROM task_executions WHERE workflow_execution_id = ?`, ids["23h"])[0]!;
    expect(got[0]!.started_at).toBe(attempt.started_at);
  });

  test("success rate over 30 days: the runs 29 days ago and newer, not 30 days 1 min ago", () => {
    expect(rows(s.db, SPEC_QUERIES.successRate)).toEqual([
      { workflow_name: "fine", total: 1, success: 1, success_rate: 100 },
      { workflow_name: "breaks", total: 4, success: 0, success_rate: 0 },
    ]);
  });

  test("average task duration over 30 days: the same attempts", () => {
    const got = rows(s.db, SPEC_QUERIES.taskDuration);
    expect(Object.fromEntries(got.map((r) => [r.task_name, r.executions]))).toEqual({ fail: 4, ok: 1 });
  });

  test("recent executions: newest first, by the time they started", () => {
    const got = rows(s.db, SPEC_QUERIES.recent);
    const byId = new Map(Object.entries(ids).map(([label, id]) => [rows(s.db, `SELECT started_at FROM workflow_executions WHERE id = ?`, id)[0]!.started_at, label]));
    expect(got.map((r) => byId.get(r.started_at))).toEqual(["fineNow", "23h", "24h+1m", "25h", "29d", "30d+1m", "fineOld", "31d"]);
    expect(got[0]).toMatchObject({ workflow_name: "fine", status: "success", tasks: "1/1" });
    expect(got[1]).toMatchObject({ workflow_name: "breaks", status: "failed", tasks: "0/1" });
  });

  test("times are stored in the form SQLite's date functions use, with the milliseconds and the Z", () => {
    const stored = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$/;
    for (const r of rows(s.db, `SELECT started_at, finished_at, created_at FROM workflow_executions UNION ALL SELECT started_at, finished_at, created_at FROM task_executions`)) {
      for (const t of Object.values(r)) expect(t).toMatch(stored);
    }
    for (const r of rows(s.db, `SELECT first_seen_at, last_seen_at FROM workflows`)) for (const t of Object.values(r)) expect(t).toMatch(stored);
  });

  test("stats --period 1 and --period 30 count the same runs as the spec's windows", async () => {
    const one = await cli(s, ["stats", "--period", "1", "--format", "json"]);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout).map((w: any) => [w.workflow_name, w.runs])).toEqual([["breaks", 1], ["fine", 1]]);
    const thirty = await cli(s, ["stats", "--period", "30", "--format", "json"]);
    expect(JSON.parse(thirty.stdout).map((w: any) => [w.workflow_name, w.runs])).toEqual([["breaks", 4], ["fine", 1]]);
  });
});

describe("a database of schema version 1", () => {
  const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

  /** A version-1 database as picoflow 0.1 left it: ISO times with a `T`. */
  function versionOne(path: string): void {
    const db = new Database(path, { create: true });
    try {
      db.run("PRAGMA journal_mode = WAL");
      db.run(MIGRATIONS[0]!);
      db.run("PRAGMA user_version = 1");
      const run = (id: string, name: string, status: string, age: number, ok: number, bad: number) => {
        db.run(
          `INSERT INTO workflow_executions (id, workflow_name, started_at, finished_at, status, duration_seconds, total_tasks,
             successful_tasks, failed_tasks, created_at, trigger, task_names)
           VALUES (?, ?, ?, ?, ?, 0.5, 1, ?, ?, ?, 'manual', '["t"]')`,
          [id, name, ago(age), ago(age - 500), status, ok, bad, ago(age)],
        );
        db.run(
          `INSERT INTO task_executions (id, workflow_execution_id, task_name, status, started_at, finished_at, exit_code,
             stdout, stderr, attempt, error_message, duration_seconds, created_at)
           VALUES (?, ?, 't', ?, ?, ?, ?, 'out', '', 1, ?, 0.4, ?)`,
          [`${id}-a`, id, status, ago(age - 50), ago(age - 450), status === "success" ? 0 : 1, status === "success" ? null : "exit code 1", ago(age - 50)],
        );
      };
      // Just past the 24-hour cut-off, on its date: the case a `T` got wrong.
      run("00000000-0000-4000-8000-000000000001", "old", "failed", DAY + MINUTE, 0, 1);
      run("00000000-0000-4000-8000-000000000002", "old", "failed", 23 * HOUR, 0, 1);
      run("00000000-0000-4000-8000-000000000003", "old", "success", HOUR, 1, 0);
      db.run(`INSERT INTO workflows (name, file, task_count, first_seen_at, last_seen_at) VALUES ('old', '/x/old.yaml', 1, ?, ?)`, [ago(2 * DAY), ago(HOUR)]);
    } finally {
      db.close();
    }
  }

  const timesIn = (db: string) =>
    rows(
      db,
      `SELECT started_at AS t FROM workflow_executions UNION ALL SELECT finished_at FROM workflow_executions
       UNION ALL SELECT created_at FROM workflow_executions UNION ALL SELECT started_at FROM task_executions
       UNION ALL SELECT finished_at FROM task_executions UNION ALL SELECT created_at FROM task_executions
       UNION ALL SELECT first_seen_at FROM workflows UNION ALL SELECT last_seen_at FROM workflows`,
    ).map((r) => r.t as string);

  test("readers read it as it is; the first writer migrates it: every time rewritten, history unchanged", async () => {
    const s = sandbox();
    try {
      versionOne(s.db);
      const before = readFileSync(s.db);

      // Read-only commands: they neither migrate nor need the newer columns.
      const status = await cli(s, ["status", "old", "--format", "json"]);
      expect(status.code).toBe(0);
      const [latest] = JSON.parse(status.stdout);
      expect(latest).toMatchObject({ id: "00000000-0000-4000-8000-000000000003", status: "success" });
      expect(latest.started_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const oneDay = await cli(s, ["stats", "old", "--period", "1", "--format", "json"]);
      expect(oneDay.code).toBe(0);
      expect(JSON.parse(oneDay.stdout)[0]).toMatchObject({ runs: 2, success: 1, failed: 1 });
      expect((await cli(s, ["logs", "old"])).code).toBe(0);
      expect(readFileSync(s.db).equals(before)).toBe(true);
      expect(rows(s.db, "PRAGMA user_version")[0]!.user_version).toBe(1);

      const historyBefore = JSON.parse((await cli(s, ["history", "--format", "json"])).stdout);
      expect(historyBefore.map((r: any) => r.id.slice(-1))).toEqual(["3", "2", "1"]);

      // A writer (any run) migrates it.
      const r = await cli(s, ["run", s.workflow(FINE)]);
      expect(r.code).toBe(0);
      expect(rows(s.db, "PRAGMA user_version")[0]!.user_version).toBe(SCHEMA_VERSION);
      const times = timesIn(s.db);
      expect(times.length).toBe(3 * 6 + 2 + 6 + 2);
      for (const t of times) expect(t).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(rows(s.db, `SELECT retry_at FROM task_executions WHERE id = '00000000-0000-4000-8000-000000000001-a'`)).toEqual([{ retry_at: null }]);

      // The spec's query now finds exactly the failure 23 h ago.
      expect(rows(s.db, SPEC_QUERIES.failed24h).map((x) => x.workflow_name + ":" + x.task_name)).toEqual(["old:t"]);
      expect(rows(s.db, SPEC_QUERIES.successRate)).toEqual([
        { workflow_name: "fine", total: 1, success: 1, success_rate: 100 },
        { workflow_name: "old", total: 3, success: 1, success_rate: 33.33 },
      ]);

      // What the commands show is what they showed before, to the millisecond.
      const historyAfter = JSON.parse((await cli(s, ["history", "old", "--format", "json"])).stdout);
      expect(historyAfter).toEqual(historyBefore);
      const after = await cli(s, ["status", "old", "--format", "json"]);
      expect(JSON.parse(after.stdout)).toEqual(JSON.parse(status.stdout));
      const table = await cli(s, ["status"]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^old\s+success\s/m);
      expect(table.stdout).toMatch(/^fine\s+success\s/m);
    } finally {
      s.cleanup();
    }
  });
});
