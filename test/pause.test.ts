// Pausing schedules: `workflow pause|resume NAME` writes the database, with or without a
// daemon; a real daemon on a one-second schedule does not fire a paused workflow (a witness
// workflow on the same schedule shows time passed), across a restart, and sees a pause or a
// resume made while it runs. We wait for rows and log lines, never for guessed times.

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { MIGRATIONS } from "../src/store/db.ts";
import { cli, FAST_CONFIG, rows, sandbox, sandboxMaker, scheduled, startDaemon, waitFor, type Daemon, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

const CONFIG = `${FAST_CONFIG}
[daemon]
shutdown_grace_seconds = 5
`;

const sb = sandboxMaker(CONFIG);

/** Rows the schedule recorded for `wf` (any status: a skipped trigger is a row too). */
const scheduledRuns = (s: Sandbox, wf: string) =>
  rows<{ n: number }>(s.db, `SELECT count(*) AS n FROM workflow_executions WHERE workflow_name = ? AND trigger = 'schedule'`, wf)[0]!.n;

/** Wait until the schedule has recorded `more` further runs of the witness workflow. */
async function witnessRuns(s: Sandbox, more: number): Promise<void> {
  const from = scheduledRuns(s, "witness");
  await waitFor(() => scheduledRuns(s, "witness") >= from + more, 20_000, `${more} more scheduled runs of the witness`);
}

const pauseLines = (d: Daemon, msg: string, wf = "maint") => d.lines().filter((l) => l.msg.startsWith(msg) && l.workflow === wf);

describe("workflow pause / resume without a daemon", () => {
  test("an unknown name is exit 5 with 'did you mean', and no database is created for it", async () => {
    const s = sb();
    const none = await cli(s, ["workflow", "pause", "nightly-backup"]);
    expect(none.code).toBe(5);
    expect(none.stderr).toContain("no workflow named 'nightly-backup'");
    expect(existsSync(s.db)).toBe(false);

    expect((await cli(s, ["run", s.workflow(scheduled("nightly-backup", "0 0 2 * * *", "echo"))])).code).toBe(0);
    const typo = await cli(s, ["workflow", "pause", "nightly-bakup"]);
    expect(typo.code).toBe(5);
    expect(typo.stderr.trim()).toBe(`picoflow: no workflow named 'nightly-bakup' in ${"picoflow.db"} (did you mean 'nightly-backup'?)`);
    const resumeTypo = await cli(s, ["workflow", "resume", "nightly-bakup"]);
    expect(resumeTypo.code).toBe(5);
    expect(rows(s.db, `SELECT * FROM workflow_pauses`)).toEqual([]);

    expect((await cli(s, ["workflow", "pause"])).code).toBe(4);
    expect((await cli(s, ["workflow", "pasue", "nightly-backup"])).stderr).toContain("did you mean 'pause'?");
  });

  test("pause, pause again, list, resume, resume again: table and JSON, stored in the database", async () => {
    const s = sb();
    expect((await cli(s, ["run", s.workflow(scheduled("nightly-backup", "0 0 2 * * *", "echo"))])).code).toBe(0);
    expect((await cli(s, ["run", s.workflow(scheduled("other", "0 0 3 * * *", "echo"))])).code).toBe(0);

    const p = await cli(s, ["workflow", "pause", "nightly-backup"]);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain("Paused 'nightly-backup'");
    const stored = rows(s.db, `SELECT workflow_name, paused_at FROM workflow_pauses`);
    expect(stored.map((r) => r.workflow_name)).toEqual(["nightly-backup"]);

    const again = await cli(s, ["workflow", "pause", "nightly-backup", "-o", "json"]);
    expect(again.code).toBe(0);
    const j = JSON.parse(again.stdout);
    expect(j).toMatchObject({ workflow: "nightly-backup", paused: true, changed: false });
    // The first pause time is kept.
    expect(Date.parse(j.paused_at)).toBe(Date.parse(stored[0]!.paused_at.replace(" ", "T")));
    const againTable = await cli(s, ["workflow", "pause", "nightly-backup"]);
    expect(againTable.stdout).toStartWith("'nightly-backup' is already paused (since ");

    const list = await cli(s, ["workflow", "list", "-o", "json"]);
    expect(list.code).toBe(0);
    const byName = Object.fromEntries(JSON.parse(list.stdout).map((w: any) => [w.name, w]));
    expect(byName["nightly-backup"]).toMatchObject({ paused: true, paused_at: j.paused_at });
    expect(byName.other).toMatchObject({ paused: false, paused_at: null });
    const table = (await cli(s, ["workflow", "list"])).stdout.split("\n");
    expect(table[0]).toContain("PAUSED");
    expect(table.find((l) => l.startsWith("nightly-backup"))).toMatch(/since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s*$/);
    expect(table.find((l) => l.startsWith("other"))).toMatch(/ -\s*$/);

    const r = await cli(s, ["workflow", "resume", "nightly-backup", "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ workflow: "nightly-backup", paused: false, paused_at: null, changed: true });
    // The last pause stays, with when it ended (catch-up does not run the times it covered).
    expect(rows(s.db, `SELECT workflow_name, paused_at, resumed_at IS NOT NULL AS resumed FROM workflow_pauses`)).toEqual([
      { workflow_name: "nightly-backup", paused_at: stored[0]!.paused_at, resumed: 1 },
    ]);
    const r2 = await cli(s, ["workflow", "resume", "nightly-backup"]);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toBe("'nightly-backup' is not paused.\n");
  });

  test("a database from before pauses existed is listed (nothing paused), and pausing upgrades it", async () => {
    const s = sb();
    const db = new Database(s.db, { create: true });
    for (const m of MIGRATIONS.slice(0, 3)) db.run(m);
    db.run("PRAGMA user_version = 3");
    const t = new Date().toISOString();
    db.run(`INSERT INTO workflows (name, file, task_count, first_seen_at, last_seen_at) VALUES ('old', '/x/old.yaml', 1, ?, ?)`, [t, t]);
    db.close();

    const list = await cli(s, ["workflow", "list", "-o", "json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: "old", paused: false, paused_at: null }]);
    expect(rows(s.db, `PRAGMA user_version`)[0]!.user_version).toBe(3); // the reader wrote nothing

    expect((await cli(s, ["workflow", "pause", "old"])).code).toBe(0);
    expect(rows(s.db, `SELECT workflow_name FROM workflow_pauses`)).toEqual([{ workflow_name: "old" }]);
  });
});

describe("the daemon and a paused schedule", () => {
  test("paused before start: not fired, across a restart; shown in list, status and metrics; a resume and a pause while it runs count", async () => {
    const s = sb();
    const maint = s.workflow(scheduled("maint", "* * * * * *", "echo"));
    const witness = s.workflow(scheduled("witness", "* * * * * *", "echo"));
    // Known to the database from a manual run, then paused with no daemon running.
    expect((await cli(s, ["run", maint])).code).toBe(0);
    const p = await cli(s, ["workflow", "pause", "maint"]);
    expect(p.code).toBe(0);

    const metricsOf = async (d: Daemon) => {
      const url: string = d.lines().find((l) => l.msg === "serving metrics")!.url;
      const text = await (await fetch(url)).text();
      const v = (wf: string) => new RegExp(`^picoflow_workflow_paused\\{workflow="${wf}"\\} (\\d+)$`, "m").exec(text)?.[1];
      return { maint: v("maint"), witness: v("witness") };
    };

    for (const round of [1, 2]) {
      // Round 2 is the same daemon started again: the pause is still there.
      const d = await startDaemon(s, [maint, witness], { PICOFLOW_METRICS_PORT: "0" });
      try {
        await waitFor(() => pauseLines(d, "schedule paused").length === 1, 20_000, "the daemon to log the pause");
        await witnessRuns(s, 2);
        expect(scheduledRuns(s, "maint")).toBe(0);
        expect(await metricsOf(d)).toEqual({ maint: "1", witness: "0" });

        const st = await cli(s, ["daemon", "status", "--format", "json"]);
        expect(st.code).toBe(0);
        const wfs = Object.fromEntries(JSON.parse(st.stdout).workflows.map((w: any) => [w.name, w]));
        expect(wfs.maint.paused).toBe(true);
        expect(wfs.witness.paused).toBe(false);
        const table = (await cli(s, ["daemon", "status"])).stdout.split("\n");
        expect(table.find((l) => l.startsWith("maint"))).toMatch(/ paused /);

        const list = JSON.parse((await cli(s, ["workflow", "list", "-o", "json"])).stdout);
        expect(list.find((w: any) => w.name === "maint")).toMatchObject({ paused: true, loaded: true });

        if (round === 2) {
          // A pause stops the schedule, not the workflow: `trigger` still runs it.
          const t = await cli(s, ["trigger", "maint", "--wait"]);
          expect(t.code).toBe(0);
          expect(rows(s.db, `SELECT status FROM workflow_executions WHERE workflow_name = 'maint' AND trigger = 'trigger'`)).toEqual([{ status: "success" }]);
          expect(scheduledRuns(s, "maint")).toBe(0);
        }
      } finally {
        expect(await d.stop()).toBe(0);
      }
    }

    const d = await startDaemon(s, [maint, witness], { PICOFLOW_METRICS_PORT: "0" });
    try {
      await waitFor(() => pauseLines(d, "schedule paused").length === 1, 20_000, "the daemon to log the pause");
      // Resumed while the daemon runs: the next trigger fires.
      expect((await cli(s, ["workflow", "resume", "maint"])).code).toBe(0);
      await waitFor(() => scheduledRuns(s, "maint") >= 1, 20_000, "a scheduled run of maint after the resume");
      expect(pauseLines(d, "schedule resumed")).toHaveLength(1);
      expect(await metricsOf(d)).toEqual({ maint: "0", witness: "0" });

      // Paused again while it runs: from the next trigger on, nothing more is recorded.
      expect((await cli(s, ["workflow", "pause", "maint"])).code).toBe(0);
      await waitFor(() => pauseLines(d, "schedule paused").length === 2, 20_000, "the daemon to log the second pause");
      await waitFor(() => rows(s.db, `SELECT 1 FROM workflow_executions WHERE workflow_name = 'maint' AND finished_at IS NULL`).length === 0);
      const before = scheduledRuns(s, "maint");
      await witnessRuns(s, 2);
      expect(scheduledRuns(s, "maint")).toBe(before);
      expect(await metricsOf(d)).toEqual({ maint: "1", witness: "0" });
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
