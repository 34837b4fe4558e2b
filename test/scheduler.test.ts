// Cron next-run logic with fixed clocks: no timers, no waiting.

import { describe, expect, test } from "bun:test";
import { compileSchedule, MAX_SLEEP_MS, nextRunAt, nextRuns, planTick } from "../src/daemon/scheduler.ts";

const at = (iso: string) => new Date(iso);
const iso = (d: Date | null) => d?.toISOString() ?? null;

describe("next run (6 fields: sec min hour day month dayofweek)", () => {
  const cases: { expr: string; tz: string; now: string; next: string; what: string }[] = [
    { what: "daily at 2 AM", expr: "0 0 2 * * *", tz: "UTC", now: "2026-01-01T03:00:00Z", next: "2026-01-02T02:00:00.000Z" },
    { what: "daily at 2 AM, before 2", expr: "0 0 2 * * *", tz: "UTC", now: "2026-01-01T01:59:59Z", next: "2026-01-01T02:00:00.000Z" },
    { what: "every 5 minutes", expr: "0 */5 * * * *", tz: "UTC", now: "2026-01-01T10:02:30Z", next: "2026-01-01T10:05:00.000Z" },
    { what: "every second", expr: "* * * * * *", tz: "UTC", now: "2026-01-01T10:00:00.250Z", next: "2026-01-01T10:00:01.000Z" },
    { what: "strictly after now", expr: "* * * * * *", tz: "UTC", now: "2026-01-01T10:00:00.000Z", next: "2026-01-01T10:00:01.000Z" },
    { what: "Mondays at 9 (2026-01-01 is a Thursday)", expr: "0 0 9 * * 1", tz: "UTC", now: "2026-01-01T00:00:00Z", next: "2026-01-05T09:00:00.000Z" },
    { what: "day of week 0 is Sunday", expr: "0 0 0 * * 0", tz: "UTC", now: "2026-01-01T00:00:00Z", next: "2026-01-04T00:00:00.000Z" },
    { what: "seconds field", expr: "30 15 * * * *", tz: "UTC", now: "2026-01-01T10:15:31Z", next: "2026-01-01T11:15:30.000Z" },
    { what: "1st of each month", expr: "0 0 0 1 * *", tz: "UTC", now: "2026-01-15T00:00:00Z", next: "2026-02-01T00:00:00.000Z" },
    { what: "month field 12", expr: "0 0 0 1 12 *", tz: "UTC", now: "2026-01-15T00:00:00Z", next: "2026-12-01T00:00:00.000Z" },
    { what: "time zone: 2 AM in Tokyo is 17:00 UTC", expr: "0 0 2 * * *", tz: "Asia/Tokyo", now: "2026-06-01T00:00:00Z", next: "2026-06-01T17:00:00.000Z" },
    { what: "time zone: 2 AM in Berlin in summer", expr: "0 0 2 * * *", tz: "Europe/Berlin", now: "2026-06-01T12:00:00Z", next: "2026-06-02T00:00:00.000Z" },
    { what: "time zone: 2 AM in Berlin in winter", expr: "0 0 2 * * *", tz: "Europe/Berlin", now: "2026-01-10T12:00:00Z", next: "2026-01-11T01:00:00.000Z" },
    // 2026-03-29 02:00-03:00 does not exist in Berlin: the trigger runs once, at 03:00 CEST.
    { what: "DST gap runs once, at the end of the gap", expr: "0 30 2 * * *", tz: "Europe/Berlin", now: "2026-03-28T12:00:00Z", next: "2026-03-29T01:00:00.000Z" },
  ];
  for (const c of cases) {
    test(c.what, () => {
      expect(iso(nextRunAt(c.expr, c.tz, at(c.now)))).toBe(c.next);
    });
  }

  test("without a time zone, the machine's local time is used", () => {
    const now = new Date(2026, 0, 10, 12, 0, 0); // local noon
    const next = nextRunAt("0 0 2 * * *", undefined, now)!;
    expect(next.getHours()).toBe(2);
    expect(next.getMinutes()).toBe(0);
    expect(next.getDate()).toBe(11);
  });

  test("an expression that matches no date never fires", () => {
    expect(nextRunAt("0 0 0 31 2 *", "UTC", at("2026-01-01T00:00:00Z"))).toBeNull();
  });

  test("nicknames stand for their six fields", () => {
    const now = at("2026-01-15T10:20:30Z");
    const cases: [string, string][] = [
      ["@hourly", "2026-01-15T11:00:00.000Z"],
      ["@daily", "2026-01-16T00:00:00.000Z"],
      ["@midnight", "2026-01-16T00:00:00.000Z"],
      ["@weekly", "2026-01-18T00:00:00.000Z"], // Sunday
      ["@monthly", "2026-02-01T00:00:00.000Z"],
      ["@yearly", "2027-01-01T00:00:00.000Z"],
      ["@annually", "2027-01-01T00:00:00.000Z"],
    ];
    expect(cases.map(([expr]) => [expr, iso(nextRunAt(expr, "UTC", now))])).toEqual(cases);
  });

  test("the next runs, in order", () => {
    expect(nextRuns("@daily", "Europe/Berlin", at("2026-03-28T12:00:00Z"), 3).map(iso)).toEqual([
      "2026-03-28T23:00:00.000Z",
      "2026-03-29T22:00:00.000Z", // summer time from the 29th
      "2026-03-30T22:00:00.000Z",
    ]);
    expect(nextRuns("0 0 0 31 2 *", "UTC", at("2026-01-01T00:00:00Z"), 3)).toEqual([]);
  });

  test("the DST fall-back hour does not fire twice", () => {
    // 2026-10-25 in Berlin: 02:00-03:00 happens twice; a 02:30 job fires once.
    const s = compileSchedule("0 30 2 * * *", "Europe/Berlin");
    const first = s.next(at("2026-10-24T12:00:00Z"))!;
    const second = s.next(first)!;
    expect(first.toISOString()).toBe("2026-10-25T00:30:00.000Z");
    expect(second.toISOString()).toBe("2026-10-26T01:30:00.000Z");
  });
});

describe("planTick: what a waking timer does", () => {
  const every5s = compileSchedule("*/5 * * * * *", "UTC");

  test("before the trigger time: no fire, sleep until it", () => {
    const t = planTick(every5s, at("2026-01-01T10:00:05Z"), at("2026-01-01T10:00:03.500Z"));
    expect(t).toEqual({ fire: false, next: at("2026-01-01T10:00:05Z"), sleepMs: 1500, missed: 0 });
  });

  test("at the trigger time: fire once and plan the next one", () => {
    const t = planTick(every5s, at("2026-01-01T10:00:05Z"), at("2026-01-01T10:00:05.004Z"));
    expect(t.fire).toBe(true);
    expect(iso(t.next)).toBe("2026-01-01T10:00:10.000Z");
    expect(t.sleepMs).toBe(4996);
    expect(t.missed).toBe(0);
  });

  test("a timer that wakes a little early does not fire yet", () => {
    const t = planTick(every5s, at("2026-01-01T10:00:05Z"), at("2026-01-01T10:00:04.998Z"));
    expect(t.fire).toBe(false);
    expect(t.sleepMs).toBe(2);
  });

  test("woken long after the trigger (suspend, clock jump forward): fire once, count the missed ones", () => {
    const t = planTick(every5s, at("2026-01-01T10:00:05Z"), at("2026-01-01T10:01:00.200Z"));
    expect(t.fire).toBe(true);
    expect(t.missed).toBe(10); // 10:00:10 ... 10:00:55
    expect(iso(t.next)).toBe("2026-01-01T10:01:05.000Z");
  });

  test("clock jumped backwards: wait for the earlier trigger instead", () => {
    const t = planTick(every5s, at("2026-01-01T10:00:05Z"), at("2026-01-01T09:00:01Z"));
    expect(t.fire).toBe(false);
    expect(iso(t.next)).toBe("2026-01-01T09:00:05.000Z");
    expect(t.sleepMs).toBe(4000);
  });

  test("sleeps are capped so a wall-clock change is noticed", () => {
    const daily = compileSchedule("0 0 2 * * *", "UTC");
    const t = planTick(daily, at("2026-01-02T02:00:00Z"), at("2026-01-01T03:00:00Z"));
    expect(t.fire).toBe(false);
    expect(t.sleepMs).toBe(MAX_SLEEP_MS);
  });

  test("a schedule that never fires again sleeps without firing", () => {
    const t = planTick(every5s, null, at("2026-01-01T10:00:00Z"));
    expect(t).toEqual({ fire: false, next: null, sleepMs: MAX_SLEEP_MS, missed: 0 });
  });

  test("a run of ticks fires exactly once per trigger time", () => {
    const s = compileSchedule("* * * * * *", "UTC");
    let due: Date | null = s.next(at("2026-01-01T10:00:00.000Z"));
    let fired = 0;
    // Wake every 100 ms (with jitter) for 10 seconds.
    for (let ms = 0; ms <= 10_000; ms += 100) {
      const t = planTick(s, due, new Date(Date.parse("2026-01-01T10:00:00.000Z") + ms + (ms % 7)));
      if (t.fire) fired++;
      due = t.next;
    }
    expect(fired).toBe(10);
  });
});
