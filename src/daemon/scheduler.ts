// Cron next-run logic, pure: every function takes `now`, so tests use a fixed clock. The
// daemon's timers (schedule-loop.ts) only ask `planTick` what to do when they wake.

import { Cron } from "croner";
import { sixFields } from "../workflow/cron.ts";

/** A compiled schedule: the workflow's expression (six fields or a nickname) in its time zone (local if none). */
export interface Schedule {
  readonly expr: string;
  readonly timezone?: string;
  /** The first trigger strictly after `after`, or null if the expression never fires again. */
  next(after: Date): Date | null;
}

/** Compile a schedule. Throws on an invalid expression (load.ts has already rejected those). */
export function compileSchedule(expr: string, timezone?: string): Schedule {
  // `paused`: croner only computes dates for us; it never runs its own timers.
  const cron = new Cron(sixFields(expr), { paused: true, timezone, mode: "6-part" });
  return {
    expr,
    timezone,
    next: (after) => cron.nextRun(after),
  };
}

/** Longest single sleep. Waking at least this often notices wall-clock jumps (NTP on a Pi without an RTC). */
export const MAX_SLEEP_MS = 60_000;

export interface Tick {
  /** Trigger the workflow now. */
  fire: boolean;
  /** Trigger time to wait for next (null: never fires again). */
  next: Date | null;
  /** How long to sleep before planning again. */
  sleepMs: number;
  /** Trigger times passed over without firing (the clock jumped or the process was stopped). */
  missed: number;
}

/**
 * Decide what a schedule's timer does when it wakes at `now`, having waited for `due`.
 *
 * - due reached: fire once and plan the next trigger after `now` (triggers missed while the
 *   machine slept or the clock jumped forward are not replayed one by one);
 * - not yet due: sleep on; if the clock went backwards so that an earlier trigger now comes
 *   first, wait for that one instead;
 * - sleeps are capped at MAX_SLEEP_MS so a wall-clock change is noticed within a minute.
 */
export function planTick(schedule: Schedule, due: Date | null, now: Date): Tick {
  if (due === null) return { fire: false, next: null, sleepMs: MAX_SLEEP_MS, missed: 0 };
  let fire = false;
  let next: Date | null = due;
  let missed = 0;
  if (now.getTime() >= due.getTime()) {
    fire = true;
    missed = countMissed(schedule, due, now);
    next = schedule.next(now);
  } else {
    const earlier = schedule.next(now);
    if (earlier !== null && earlier.getTime() < due.getTime()) next = earlier;
  }
  const sleepMs = next === null ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(0, next.getTime() - now.getTime()));
  return { fire, next, sleepMs, missed };
}

/** Triggers strictly between `due` and `now` (at most 1000 are counted). */
function countMissed(schedule: Schedule, due: Date, now: Date): number {
  let n = 0;
  let t = schedule.next(due);
  while (t !== null && t.getTime() <= now.getTime() - 1000 && n < 1000) {
    n++;
    t = schedule.next(t);
  }
  return n;
}

/** The next trigger to show for a schedule, as seen at `now`. */
export function nextRunAt(expr: string, timezone: string | undefined, now: Date): Date | null {
  return compileSchedule(expr, timezone).next(now);
}

/** The next `n` triggers after `now` (fewer if the schedule ends). */
export function nextRuns(expr: string, timezone: string | undefined, now: Date, n: number): Date[] {
  const schedule = compileSchedule(expr, timezone);
  const out: Date[] = [];
  for (let t = schedule.next(now); t !== null && out.length < n; t = schedule.next(t)) out.push(t);
  return out;
}
