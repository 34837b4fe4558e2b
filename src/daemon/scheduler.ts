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
 *   first, wait for that one instead, unless it is at or before `fired` (it ran already);
 * - sleeps are capped at MAX_SLEEP_MS so a wall-clock change is noticed within a minute.
 */
export function planTick(schedule: Schedule, due: Date | null, now: Date, fired: Date | null = null): Tick {
  if (due === null) return { fire: false, next: null, sleepMs: MAX_SLEEP_MS, missed: 0 };
  // A time at or before `fired` has run already: after a backward jump it is not fired again.
  const after = fired !== null && fired.getTime() > now.getTime() ? fired : now;
  let fire = false;
  let next: Date | null = due;
  let missed = 0;
  if (now.getTime() >= due.getTime()) {
    fire = fired === null || due.getTime() > fired.getTime();
    missed = countMissed(schedule, due, now);
    next = schedule.next(after);
  } else {
    const earlier = schedule.next(after);
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

/** A due time fired within this long counts as on time; later, the daemon was not running (or the clock jumped). */
export const ON_TIME_MS = MAX_SLEEP_MS;

/**
 * The fire times in (`from`, `to`] that `recorded` does not know, oldest first: at most
 * `limit`, the newest ones (`more` says older ones were left out). Searched backwards from
 * `to` in growing spans, so an every-second schedule over a 7-day window stays cheap.
 */
export function missedFireTimes(
  schedule: Schedule,
  from: Date,
  to: Date,
  recorded: (t: number) => boolean,
  limit: number,
): { times: Date[]; more: boolean } {
  const end = to.getTime();
  if (end <= from.getTime()) return { times: [], more: false };
  for (let span = 3_600_000; ; span *= 4) {
    const start = Math.max(from.getTime(), end - span);
    const found: Date[] = [];
    for (let t = schedule.next(new Date(start)); t !== null && t.getTime() <= end; t = schedule.next(t)) {
      if (!recorded(t.getTime())) found.push(t);
    }
    if (found.length > limit || start <= from.getTime()) return { times: found.slice(-limit), more: found.length > limit };
  }
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
