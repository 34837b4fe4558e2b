// Catch-up of fire times missed while the daemon was not running, and the Pi's clock. The real
// daemon is started after a gap: its clock is moved with the test hook (clock.ts), never the
// machine's, or the database holds a run newer than the clock. We wait for rows and log lines.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { builtAfter, TEST_CLOCK_FILE_ENV, TEST_CLOCK_OFFSET_ENV } from "../src/daemon/clock.ts";
import { compileSchedule, missedFireTimes, planTick } from "../src/daemon/scheduler.ts";
import { cli, FAST_CONFIG, headCommit, rows, sandbox, sandboxMaker, startDaemon, waitFor, type Sandbox } from "./helpers.ts";

const CONFIG = `${FAST_CONFIG}
[metrics]
enabled = false
`;
const DAY = 86_400_000;

// Daemons on a busy machine take longer than bun's 5 s default.
setDefaultTimeout(60_000);

const sb = sandboxMaker(CONFIG);

function nightly(name: string, catchup: string, schedule = "0 0 2 * * *"): string {
  return `name: ${name}
schedule: "${schedule}"
timezone: UTC
${catchup}
tasks:
  - name: work
    type: shell
    config: { command: /bin/true }
`;
}

const runsOf = (s: Sandbox, wf: string) =>
  rows(s.db, `SELECT * FROM workflow_executions WHERE workflow_name = ? ORDER BY scheduled_for, started_at`, wf);
const finished = (s: Sandbox, wf: string, trigger: string) =>
  runsOf(s, wf).filter((r) => r.trigger === trigger && r.status === "success");
const offset = (ms: number) => ({ [TEST_CLOCK_OFFSET_ENV]: String(ms) });

describe("catchup and catchup_window are validated", () => {
  test("bad values, and catch-up without a schedule, are validation errors (exit 2)", async () => {
    const s = sb();
    const bad = s.workflow(`name: bad
catchup: sometimes
catchup_window: 8d
tasks:
  - name: work
    type: shell
    config: { command: /bin/true }
`);
    const r = await cli(s, ["validate", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("catchup: must be one of none, latest, all, got 'sometimes'");
    expect(r.stderr).toContain("catchup_window: must be at most 7d, got '8d'");
    expect(r.stderr).toContain("catchup: needs a schedule");
    const unit = s.workflow(nightly("unit", "catchup: all\ncatchup_window: 12 hours"));
    const u = await cli(s, ["validate", unit]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("catchup_window: must be a number and a unit (s, m, h or d), such as 12h, got '12 hours'");
    const good = s.workflow(nightly("good", "catchup: latest\ncatchup_window: 12h"));
    expect((await cli(s, ["validate", good])).code).toBe(0);
  });
});

describe("catch-up at daemon start, after a gap", () => {
  test("none runs nothing, latest the most recent missed time, all each one in order; a restart repeats none", async () => {
    const s = sb();
    const none = s.workflow(nightly("c-none", "catchup: none"));
    const latest = s.workflow(nightly("c-latest", "catchup: latest\ncatchup_window: 3d"));
    const all = s.workflow(nightly("c-all", "catchup: all\ncatchup_window: 3d"));
    const files = [none, latest, all];

    // The Pi runs the daemon once (it records the workflows), then is off for four days.
    const first = await startDaemon(s, files);
    expect(await first.stop()).toBe(0);
    const d = await startDaemon(s, files, offset(4 * DAY));
    try {
      await waitFor(() => finished(s, "c-all", "catchup").length === 3 && finished(s, "c-latest", "catchup").length === 1, 20_000, "catch-up runs");
    } finally {
      expect(await d.stop()).toBe(0);
    }
    // all: the three 02:00 times of the 3-day window, oldest first, one run at a time.
    const a = runsOf(s, "c-all");
    expect(a.map((r) => r.trigger)).toEqual(["catchup", "catchup", "catchup"]);
    const times = a.map((r) => Date.parse(r.scheduled_for.replace(" ", "T")));
    for (const t of times) expect(new Date(t).toISOString()).toMatch(/T02:00:00\.000Z$/);
    expect(times[1]! - times[0]!).toBe(DAY);
    expect(times[2]! - times[1]!).toBe(DAY);
    for (let i = 1; i < a.length; i++) expect(a[i]!.started_at >= a[i - 1]!.finished_at).toBe(true);
    // latest: only the most recent of them.
    const l = runsOf(s, "c-latest");
    expect(l.map((r) => [r.trigger, r.scheduled_for])).toEqual([["catchup", a[2]!.scheduled_for]]);
    expect(runsOf(s, "c-none")).toEqual([]);
    expect(d.log()).toContain('"msg":"catching up missed fire times","workflow":"c-all","catchup":"all"');

    // Started again one day later: only the one new missed time; none is caught up twice.
    const again = await startDaemon(s, files, offset(5 * DAY));
    try {
      await waitFor(() => finished(s, "c-all", "catchup").length === 4 && finished(s, "c-latest", "catchup").length === 2, 20_000, "one more each");
    } finally {
      expect(await again.stop()).toBe(0);
    }
    const a2 = runsOf(s, "c-all");
    expect(a2.slice(0, 3).map((r) => r.id)).toEqual(a.map((r) => r.id));
    expect(Date.parse(a2[3]!.scheduled_for.replace(" ", "T")) - times[2]!).toBe(DAY);
    expect(runsOf(s, "c-latest").map((r) => r.scheduled_for)).toEqual([a[2]!.scheduled_for, a2[3]!.scheduled_for]);
    const dup = rows(s.db, `SELECT scheduled_for FROM workflow_executions WHERE scheduled_for IS NOT NULL GROUP BY workflow_name, scheduled_for HAVING count(*) > 1`);
    expect(dup).toEqual([]);
    expect(runsOf(s, "c-none")).toEqual([]);
  });

  test("times the user paused (workflow pause, then resume) are not caught up after a restart", async () => {
    const s = sb();
    const wf = s.workflow(nightly("c-paused", "catchup: all\ncatchup_window: 4d"));
    const first = await startDaemon(s, [wf]);
    expect(await first.stop()).toBe(0);
    // Paused from 12 h to 60 h from now, then resumed: what `workflow pause` and `workflow
    // resume` store, at times the test clock reaches (the CLI itself uses the real clock).
    expect((await cli(s, ["workflow", "pause", "c-paused"])).code).toBe(0);
    expect((await cli(s, ["workflow", "resume", "c-paused"])).code).toBe(0);
    const at = (ms: number) => new Date(Date.now() + ms).toISOString().replace("T", " ");
    const db = new Database(s.db);
    db.run(`UPDATE workflow_pauses SET paused_at = ?, resumed_at = ? WHERE workflow_name = 'c-paused'`, [at(DAY / 2), at(2.5 * DAY)]);
    db.close();
    const d = await startDaemon(s, [wf], offset(4 * DAY));
    try {
      await waitFor(() => d.log().includes('"msg":"catching up missed fire times","workflow":"c-paused"'), 20_000, "catch-up to start");
      await waitFor(() => finished(s, "c-paused", "catchup").length === 2, 20_000, "the two unpaused times");
    } finally {
      expect(await d.stop()).toBe(0);
    }
    // Four 02:00 times in the window; the two inside the pause are not run.
    const times = runsOf(s, "c-paused").map((r) => Date.parse(r.scheduled_for.replace(" ", "T")));
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBe(3 * DAY);
  });

  test("all runs at most 100 missed times, the newest, with a warning", async () => {
    const s = sb();
    const f = s.workflow(nightly("minutely", "catchup: all\ncatchup_window: 2h", "0 * * * * *"));
    expect(await (await startDaemon(s, [f])).stop()).toBe(0);
    const d = await startDaemon(s, [f], offset(3 * 3_600_000));
    try {
      await waitFor(() => finished(s, "minutely", "catchup").length === 100, 30_000, "100 catch-up runs");
    } finally {
      expect(await d.stop()).toBe(0);
    }
    expect(d.log()).toContain("more than 100 missed fire times: catching up only the newest 100");
    const runs = runsOf(s, "minutely").filter((r) => r.trigger === "catchup");
    expect(runs.length).toBe(100);
    const times = runs.map((r) => Date.parse(r.scheduled_for.replace(" ", "T")));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(60_000);
    // The newest: the last one is less than a minute before the daemon's clock at start.
    const clockAtStart = Date.parse(d.lines().find((l) => l.msg === "catching up missed fire times")!.ts) + 3 * 3_600_000;
    expect(clockAtStart - times.at(-1)!).toBeLessThan(60_000);
  });
});

describe("the clock", () => {
  test("a clock earlier than the build: nothing fires, the daemon says it waits for the clock", async () => {
    const s = sb();
    const f = s.workflow(nightly("every-second", "catchup: all", "* * * * * *"));
    const d = await startDaemon(s, [f], offset(-400 * DAY));
    try {
      const line = await waitFor(() => d.lines().find((l) => l.msg?.startsWith("waiting for the clock")), 10_000, "waiting line");
      // A binary's bound is its commit's date when later than the source's constant (clock.ts).
      const floor = builtAfter(process.env.PICOFLOW_BIN ? headCommit().date : null);
      expect(line.not_before).toBe(floor.toISOString());
    } finally {
      expect(await d.stop()).toBe(0);
    }
    expect(runsOf(s, "every-second")).toEqual([]);
  });

  test("a clock earlier than the newest run: the daemon waits until it has passed it, then schedules", async () => {
    const s = sb();
    const f = s.workflow(nightly("every-second", "", "* * * * * *"));
    expect((await cli(s, ["run", f])).code).toBe(0);
    // The newest run says the clock once read 4 s later than now: it has been set back.
    const ahead = new Date(Date.now() + 4000);
    const db = new Database(s.db);
    try {
      db.query(`UPDATE workflow_executions SET started_at = ?`).run(ahead.toISOString().replace("T", " "));
    } finally {
      db.close();
    }
    const d = await startDaemon(s, [f]);
    try {
      await waitFor(() => finished(s, "every-second", "schedule").length >= 1, 20_000, "a scheduled run");
    } finally {
      expect(await d.stop()).toBe(0);
    }
    const waiting = d.lines().find((l) => l.msg?.startsWith("waiting for the clock"));
    expect(waiting?.not_before).toBe(ahead.toISOString());
    expect(d.lines().some((l) => l.msg === "the clock is plausible: scheduling")).toBe(true);
    for (const r of finished(s, "every-second", "schedule")) expect(r.scheduled_for >= ahead.toISOString().replace("T", " ")).toBe(true);
  });
});

describe("missed fire times and clock jumps (pure, fixed clocks)", () => {
  const daily = compileSchedule("0 0 2 * * *", "UTC");
  const at = (iso: string) => new Date(iso);

  test("a backward jump never fires a time that was fired already", () => {
    const fired = at("2026-12-05T02:00:00Z");
    // The clock went back a day: the 02:00 of the day before comes first, but it ran already.
    const t = planTick(daily, at("2026-12-06T02:00:00Z"), at("2026-12-04T03:00:00Z"), fired);
    expect(t.fire).toBe(false);
    expect(t.next?.toISOString()).toBe("2026-12-06T02:00:00.000Z");
    const due = planTick(daily, at("2026-12-05T02:00:00Z"), at("2026-12-05T02:00:01Z"), fired);
    expect(due.fire).toBe(false);
  });

  test("a forward jump larger than the window: only the times inside it", () => {
    const none = () => false;
    const r = missedFireTimes(daily, at("2026-12-08T12:00:00Z"), at("2026-12-10T12:00:00Z"), none, 100);
    expect(r.times.map((t) => t.toISOString())).toEqual(["2026-12-09T02:00:00.000Z", "2026-12-10T02:00:00.000Z"]);
    const recorded = new Set([Date.parse("2026-12-10T02:00:00Z")]);
    const latest = missedFireTimes(daily, at("2026-12-08T12:00:00Z"), at("2026-12-10T12:00:00Z"), (t) => recorded.has(t), 1);
    expect(latest.times.map((t) => t.toISOString())).toEqual(["2026-12-09T02:00:00.000Z"]);
    const every = compileSchedule("* * * * * *", "UTC");
    const many = missedFireTimes(every, at("2026-12-01T00:00:00Z"), at("2026-12-08T00:00:00Z"), none, 100);
    expect(many.more).toBe(true);
    expect(many.times.length).toBe(100);
    expect(many.times.at(-1)!.toISOString()).toBe("2026-12-08T00:00:00.000Z");
  });
});

describe("a forward clock jump while the daemon runs", () => {
  test("a jump larger than the window catches up only the times inside it", async () => {
    const s = sb();
    const clockFile = s.file("clock-offset", "0");
    const f = s.workflow(nightly("secondly", "catchup: all\ncatchup_window: 5s", "* * * * * *"));
    const d = await startDaemon(s, [f], { [TEST_CLOCK_FILE_ENV]: clockFile });
    try {
      await waitFor(() => finished(s, "secondly", "schedule").length >= 1, 20_000, "a scheduled run");
      writeFileSync(clockFile, String(3_600_000)); // NTP steps the clock an hour forward
      await waitFor(() => finished(s, "secondly", "catchup").length === 5, 20_000, "five catch-up runs");
      // Scheduling goes on from the new time.
      const jumped = Date.parse(d.lines().find((l) => l.msg === "catching up missed fire times")!.first);
      await waitFor(() => finished(s, "secondly", "schedule").some((r) => Date.parse(r.scheduled_for.replace(" ", "T")) > jumped), 20_000, "a run after");
    } finally {
      expect(await d.stop()).toBe(0);
    }
    const line = d.lines().find((l) => l.msg === "catching up missed fire times")!;
    expect(line.reason).toBe("clock jump or suspended machine");
    expect(line.runs).toBe(5);
    const catchups = runsOf(s, "secondly").filter((r) => r.trigger === "catchup");
    const times = catchups.map((r) => Date.parse(r.scheduled_for.replace(" ", "T")));
    expect(times.length).toBe(5);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1000);
    // Nothing from the hour jumped over, outside the window, was run.
    const before = runsOf(s, "secondly").filter((r) => r.trigger === "schedule" && Date.parse(r.scheduled_for.replace(" ", "T")) < times[0]!);
    for (const r of before) expect(times[0]! - Date.parse(r.scheduled_for.replace(" ", "T"))).toBeGreaterThan(3_500_000);
  });
});

describe("a backward clock jump while the daemon runs", () => {
  test("no fire time runs twice", async () => {
    const s = sb();
    const clockFile = s.file("clock-offset", "5000");
    const f = s.workflow(nightly("tick", "", "* * * * * *"));
    const d = await startDaemon(s, [f], { [TEST_CLOCK_FILE_ENV]: clockFile });
    const firedTimes = () => finished(s, "tick", "schedule").map((r) => Date.parse(r.scheduled_for.replace(" ", "T")));
    try {
      await waitFor(() => firedTimes().length >= 2, 20_000, "two scheduled runs");
      writeFileSync(clockFile, "0"); // the clock goes back five seconds
      const newest = Math.max(...firedTimes());
      await waitFor(() => firedTimes().some((t) => t > newest + 1000), 20_000, "a run after the newest");
    } finally {
      expect(await d.stop()).toBe(0);
    }
    const dup = rows(s.db, `SELECT scheduled_for, count(*) AS n FROM workflow_executions GROUP BY scheduled_for HAVING n > 1`);
    expect(dup).toEqual([]);
  });
});
