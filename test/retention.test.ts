// Log retention on a real SQLite file: age and size limits, cascades, and the file really
// shrinking (a steady schedule reaches a steady file size).

import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/store/db.ts";
import { SqliteRecorder } from "../src/store/recorder.ts";
import { applyRetention, usedBytes } from "../src/store/retention.ts";
import type { Workflow } from "../src/workflow/types.ts";

// The steady-state case writes tens of megabytes.
setDefaultTimeout(30_000);

let dir: string;
let path: string;
let db: Database;
let rec: SqliteRecorder;

const wf: Workflow = {
  name: "steady",
  maxParallel: 1,
  file: "/tmp/steady.yaml",
  tasks: [
    { name: "a", type: "shell", config: { command: "/bin/true", args: [], env: {} }, dependsOn: [], retry: 0, timeout: 0, continueOnFailure: false, secrets: [] },
    { name: "b", type: "shell", config: { command: "/bin/true", args: [], env: {} }, dependsOn: ["a"], retry: 0, timeout: 0, continueOnFailure: false, secrets: [] },
  ],
};

const DAY = 86_400_000;
const T0 = Date.parse("2026-01-01T00:00:00Z");

/** Record one finished run (two attempts with `outputBytes` of stdout each) that started at `when`. */
function recordRun(when: Date, outputBytes = 100, status: "success" | "running" = "success"): string {
  const id = rec.startRun(wf, "schedule");
  const out = "x".repeat(outputBytes);
  for (const t of ["a", "b"]) {
    const a = rec.startAttempt(id, t, 1);
    rec.appendOutput(a, "stdout", "partial");
    if (status !== "running") rec.finishAttempt(a, { status: "success", exitCode: 0, stdout: out, stderr: "" }, 0.01);
  }
  if (status !== "running") rec.finishRun(id, { status: "success", successfulTasks: 2, failedTasks: 0, skipped: [{ task: "c", reason: "none" }] });
  // Backdate it: the recorder stamps the real time.
  db.run(`UPDATE workflow_executions SET started_at = ? WHERE id = ?`, [when.toISOString(), id]);
  db.run(`UPDATE task_executions SET started_at = ? WHERE workflow_execution_id = ?`, [when.toISOString(), id]);
  return id;
}

const count = (sql: string) => (db.query(sql).get() as { n: number }).n;
const fileSize = () => statSync(path).size + (() => {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
})();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "picoflow-retention-"));
  path = join(dir, "picoflow.db");
  db = openDatabase(path);
  rec = new SqliteRecorder(db, { pid: process.pid, identity: "test" }, path);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("retention by age", () => {
  test("deletes executions older than retention_days with their task rows; keeps newer ones", () => {
    const old = recordRun(new Date(T0 - 40 * DAY));
    const edge = recordRun(new Date(T0 - 29 * DAY));
    const recent = recordRun(new Date(T0 - DAY));
    const r = applyRetention(db, path, { retentionDays: 30, maxSizeMb: 0 }, new Date(T0));
    expect(r.deletedByAge).toBe(1);
    expect(r.deletedBySize).toBe(0);
    const ids = (db.query(`SELECT id FROM workflow_executions ORDER BY started_at`).all() as { id: string }[]).map((x) => x.id);
    expect(ids).toEqual([edge, recent]);
    // ON DELETE CASCADE: nothing of the old run is left anywhere.
    expect(count(`SELECT count(*) AS n FROM task_executions WHERE workflow_execution_id = '${old}'`)).toBe(0);
    expect(count(`SELECT count(*) AS n FROM skipped_tasks WHERE workflow_execution_id = '${old}'`)).toBe(0);
    expect(count(`SELECT count(*) AS n FROM task_executions`)).toBe(4);
    expect(count(`SELECT count(*) AS n FROM pragma_foreign_key_check`)).toBe(0);
  });

  test("never deletes a run still in progress, however old", () => {
    const running = recordRun(new Date(T0 - 400 * DAY), 10, "running");
    recordRun(new Date(T0 - 400 * DAY));
    const r = applyRetention(db, path, { retentionDays: 1, maxSizeMb: 1 }, new Date(T0));
    expect(r.deletedByAge).toBe(1);
    expect((db.query(`SELECT id, status FROM workflow_executions`).all() as any[]).map((x) => [x.id, x.status])).toEqual([[running, "running"]]);
    // Its live output chunks are still there for `logs --follow`.
    expect(count(`SELECT count(*) AS n FROM task_output_chunks`)).toBe(2);
  });

  test("retention_days = 0 keeps everything", () => {
    recordRun(new Date(T0 - 4000 * DAY));
    expect(applyRetention(db, path, { retentionDays: 0, maxSizeMb: 0 }, new Date(T0)).deletedByAge).toBe(0);
    expect(count(`SELECT count(*) AS n FROM workflow_executions`)).toBe(1);
  });

  test("deletes in batches: thousands of old runs go in one call", () => {
    db.transaction(() => {
      for (let i = 0; i < 1500; i++) recordRun(new Date(T0 - 50 * DAY + i * 1000), 10);
    })();
    const r = applyRetention(db, path, { retentionDays: 30, maxSizeMb: 0 }, new Date(T0));
    expect(r.deletedByAge).toBe(1500);
    expect(count(`SELECT count(*) AS n FROM task_executions`)).toBe(0);
  });
});

describe("retention by size", () => {
  test("deletes the oldest executions until the data fits max_size_mb, and the file shrinks", () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(recordRun(new Date(T0 - (40 - i) * 60_000), 100_000)); // ~8 MB
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const before = fileSize();
    expect(before).toBeGreaterThan(7 * 1024 * 1024);
    const r = applyRetention(db, path, { retentionDays: 0, maxSizeMb: 2 }, new Date(T0));
    expect(r.deletedBySize).toBeGreaterThan(25);
    expect(usedBytes(db)).toBeLessThanOrEqual(2 * 1024 * 1024);
    // The newest runs are the ones kept.
    const kept = (db.query(`SELECT id FROM workflow_executions ORDER BY started_at`).all() as { id: string }[]).map((x) => x.id);
    expect(kept).toEqual(ids.slice(ids.length - kept.length));
    expect(kept.length).toBeGreaterThan(0);
    // The space really comes back to the file system.
    expect(fileSize()).toBeLessThan(3 * 1024 * 1024);
    expect(r.bytesAfter).toBeLessThan(r.bytesBefore);
  });
});

describe("space comes back", () => {
  test("new databases use incremental auto-vacuum", () => {
    expect((db.query("PRAGMA auto_vacuum").get() as { auto_vacuum: number }).auto_vacuum).toBe(2);
  });

  test("under a steady schedule with daily cleanup, the file stops growing", () => {
    // 60 simulated days, 24 runs a day with ~40 KB of output each (about 1 MB a day),
    // 5 days kept: the file must level off, although ~57 MB are written in total.
    const sizes: number[] = [];
    let written = 0;
    for (let day = 0; day < 60; day++) {
      db.transaction(() => {
        for (let h = 0; h < 24; h++) {
          recordRun(new Date(T0 + day * DAY + h * 3_600_000), 20_000);
          written += 40_000;
        }
      })();
      applyRetention(db, path, { retentionDays: 5, maxSizeMb: 0 }, new Date(T0 + (day + 1) * DAY));
      sizes.push(fileSize());
    }
    const warm = Math.max(...sizes.slice(5, 15));
    const late = Math.max(...sizes.slice(40));
    expect(written).toBeGreaterThan(50 * 1024 * 1024);
    expect(late).toBeLessThanOrEqual(warm * 1.1);
    expect(late).toBeLessThan(written / 8);
    // Exactly the last 5 days are left.
    expect(count(`SELECT count(*) AS n FROM workflow_executions`)).toBe(5 * 24);
  });
});
