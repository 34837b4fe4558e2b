// The schedule loop: each loaded workflow file is an entry, and a scheduled one has a timer
// that wakes at its next trigger (at least every minute, scheduler.ts planTick), notices
// missed triggers and fires the one that is due. A bad trigger never ends a schedule. What a
// fired trigger starts is launch.ts's.
//
// Catch-up (`catchup: latest|all`): at start, and when a due time is found long past (the
// machine was suspended, the clock stepped forward), the fire times inside the workflow's
// window that have no run recorded are run (launch.ts catchUp). Nothing is scheduled while the
// clock reads earlier than it can be (clock.ts): a Pi before NTP sync would fire at the wrong
// times and catch up runs that were never missed. A time fired once is never fired again,
// whatever the clock does next (the newest scheduled_for is the watermark).

import { messageOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Workflow } from "../workflow/types.ts";
import { plausibleFloor, type Clock } from "./clock.ts";
import { compileSchedule, missedFireTimes, ON_TIME_MS, planTick, type Schedule } from "./scheduler.ts";

/** `catchup: all` runs at most this many missed times (the newest), with a warning past that. */
export const MAX_CATCHUP_RUNS = 100;
/** While the clock is implausible: how often it is read again, and how often that is logged. */
const CLOCK_CHECK_MS = 1000;
const CLOCK_LOG_MS = 60_000;

export interface Entry {
  file: string;
  /** The last good version: what is scheduled and run. */
  wf: Workflow;
  schedule: Schedule | null;
  due: Date | null;
  timer?: ReturnType<typeof setTimeout>;
  /** The latest fire time run (or recorded): no time at or before it is fired again. */
  fired?: Date | null;
  /** Why the file's current content was rejected at the last reload. */
  error: string | null;
}

export function newEntry(file: string, wf: Workflow): Entry {
  return { file, wf, schedule: compile(wf), due: null, error: null };
}

function compile(wf: Workflow): Schedule | null {
  return wf.schedule ? compileSchedule(wf.schedule, wf.timezone) : null;
}

/** The log fields that name an entry and its schedule. */
export function describe(e: Entry) {
  return {
    workflow: e.wf.name,
    file: e.file,
    schedule: e.wf.schedule,
    timezone: e.wf.timezone,
    next_run: e.due?.toISOString(),
  };
}

export interface LoopOptions {
  log: Logger;
  metrics: Metrics | undefined;
  /** True once the daemon stops: no tick plans or fires again. */
  stopping: () => boolean;
  /** A trigger of `wf` came due. */
  fire: (wf: Workflow, due: Date) => void;
  /** The daemon's clock (clock.ts); the machine's when absent. */
  clock?: Clock;
  /** What the database knows of fired times (store/schedule-history.ts); absent: nothing. */
  history?: ScheduleHistory;
  /** Run these missed fire times of `wf`, in order, one at a time (launch.ts catchUp). */
  catchUp?: (wf: Workflow, times: Date[]) => void;
}

/** The database's side of catch-up and of the clock check. Each read may throw a DatabaseError. */
export interface ScheduleHistory {
  /** The start of the newest run of any workflow. */
  newestRun(): Date | null;
  /** When the workflow was first recorded: it missed nothing before. */
  firstSeen(workflow: string): Date | null;
  /** Fire times recorded for the workflow at or after `from` (epoch ms). */
  recorded(workflow: string, from: Date): Set<number>;
  /** The latest fire time recorded for the workflow. */
  lastFired(workflow: string): Date | null;
  /** The workflow's last pause (epoch ms; `to` Infinity while it lasts): its times were not missed. */
  pauseSpan(workflow: string): { from: number; to: number } | null;
}

export class ScheduleLoop {
  /** Entries armed once the clock is plausible, each with whether it catches up (a start). */
  private readonly waiting = new Map<Entry, boolean>();
  private clockOk = false;
  private floor: Date | null = null;
  private clockTimer: ReturnType<typeof setTimeout> | undefined;
  private clockLoggedAt = -Infinity;

  /** `entries`: the loaded workflows by file, shared with reload.ts and state.ts. */
  constructor(
    private readonly entries: Map<string, Entry>,
    private readonly o: LoopOptions,
  ) {}

  private now(): Date {
    return this.o.clock ? this.o.clock.now() : new Date();
  }

  /**
   * Start (or restart) an entry's timer from now: a new entry, or a changed schedule.
   * `catchUp`: at daemon start, missed fire times of a `catchup` workflow are run first.
   */
  arm(e: Entry, catchUp = false): void {
    const { log, metrics } = this.o;
    clearTimeout(e.timer);
    e.timer = undefined;
    if (!e.schedule) {
      e.due = null;
      metrics?.setNextRun(e.wf.name, null);
      return;
    }
    if (!this.clockPlausible()) {
      e.due = null;
      metrics?.setNextRun(e.wf.name, null);
      this.waiting.set(e, catchUp || (this.waiting.get(e) ?? false));
      this.waitForClock();
      return;
    }
    const schedule = e.schedule;
    const now = this.now();
    const recorded = this.read(e, "cannot read the workflow's last fire time", null, (h) => h.lastFired(e.wf.name));
    if (recorded && (!e.fired || recorded.getTime() > e.fired.getTime())) e.fired = recorded;
    if (catchUp && e.wf.catchup) this.catchUpMissed(e, schedule, now, "daemon start");
    e.due = schedule.next(e.fired && e.fired.getTime() > now.getTime() ? e.fired : now);
    metrics?.setNextRun(e.wf.name, e.due);
    if (e.due === null) log.warn("schedule never fires again", { workflow: e.wf.name, schedule: schedule.expr });
    this.tick(e, schedule);
  }

  /** One wake-up of an entry's timer; it ends once the entry is removed or re-armed. */
  private tick(e: Entry, schedule: Schedule): void {
    const { log, metrics } = this.o;
    if (this.o.stopping() || this.entries.get(e.file) !== e || e.schedule !== schedule) return;
    let sleepMs = 1000;
    try {
      const due = e.due;
      const now = this.now();
      const t = planTick(schedule, due, now, e.fired ?? null);
      sleepMs = t.sleepMs;
      if (t.missed > 0) log.warn("triggers missed (clock jump or suspended machine)", { workflow: e.wf.name, missed: t.missed });
      if (t.next?.getTime() !== due?.getTime()) metrics?.setNextRun(e.wf.name, t.next);
      e.due = t.next;
      if (t.fire && due) {
        // Found long past: the daemon did not run (suspend) or the clock stepped forward.
        const late = t.missed > 0 || now.getTime() - due.getTime() > ON_TIME_MS;
        if (late && e.wf.catchup) this.catchUpMissed(e, schedule, now, "clock jump or suspended machine");
        else {
          e.fired = due;
          this.o.fire(e.wf, due);
        }
      }
    } catch (err) {
      // Never let one bad trigger end the schedule.
      log.error("scheduling error", { workflow: e.wf.name, error: messageOf(err) });
    } finally {
      e.timer = setTimeout(() => this.tick(e, schedule), sleepMs);
    }
  }

  /** A new file's workflow: scheduled from now. */
  add(file: string, wf: Workflow): Entry {
    const e = newEntry(file, wf);
    this.entries.set(file, e);
    this.arm(e);
    return e;
  }

  /**
   * The new version of a loaded workflow: runs from now on use it; its timer restarts only
   * when its schedule (or name) changed. Returns whether it did.
   */
  update(e: Entry, wf: Workflow): boolean {
    const scheduleChanged = e.wf.schedule !== wf.schedule || e.wf.timezone !== wf.timezone || e.wf.name !== wf.name;
    if (e.wf.name !== wf.name) this.o.metrics?.setNextRun(e.wf.name, null);
    e.wf = wf;
    e.error = null;
    if (scheduleChanged) {
      e.schedule = compile(wf);
      this.arm(e);
    }
    return scheduleChanged;
  }

  /** Unschedule a workflow whose file is gone; a run of it that is going finishes. */
  remove(e: Entry): void {
    clearTimeout(e.timer);
    this.entries.delete(e.file);
    this.o.metrics?.setNextRun(e.wf.name, null);
  }

  /** The daemon stops: no timer fires again. */
  stop(): void {
    for (const e of this.entries.values()) clearTimeout(e.timer);
    clearTimeout(this.clockTimer);
    this.waiting.clear();
  }

  /**
   * Run the fire times of a `catchup` workflow missed up to `now`: those after its window's
   * start (and after it was first recorded, and after the last time fired) that have no run
   * recorded. `latest`: the most recent one; `all`: each, oldest first, the newest 100 at most.
   */
  private catchUpMissed(e: Entry, schedule: Schedule, now: Date, reason: string): void {
    const { log } = this.o;
    const c = e.wf.catchup;
    if (!c || !this.o.catchUp || !this.o.history) return;
    const name = e.wf.name;
    let from = new Date(now.getTime() - c.windowMs);
    // Never recorded (its noting failed): as if first seen now, nothing was missed.
    const seen = this.read(e, "cannot read when the workflow was first recorded; not catching up", null, (h) => h.firstSeen(name));
    if (seen === null) return;
    for (const t of [seen, e.fired]) if (t && t.getTime() > from.getTime()) from = t;
    const recorded = this.read(e, "cannot read the workflow's recorded fire times; not catching up", null, (h) => h.recorded(name, from));
    if (recorded === null) return;
    const limit = c.mode === "latest" ? 1 : MAX_CATCHUP_RUNS;
    // A time with a run recorded, or one the user paused (workflow pause, then resume), was not missed.
    const pause = this.read(e, "cannot read the workflow's last pause", null, (h) => h.pauseSpan(name));
    const paused = (t: number) => pause !== null && t >= pause.from && t < pause.to;
    const { times, more } = missedFireTimes(schedule, from, now, (t) => recorded.has(t) || paused(t), limit);
    if (!times.length) return;
    const fields = { workflow: name, catchup: c.mode, reason, first: times[0]!.toISOString(), last: times.at(-1)!.toISOString() };
    if (more && c.mode === "all") log.warn(`more than ${MAX_CATCHUP_RUNS} missed fire times: catching up only the newest ${MAX_CATCHUP_RUNS}`, fields);
    log.info("catching up missed fire times", { ...fields, runs: times.length });
    e.fired = times.at(-1)!;
    this.o.catchUp(e.wf, times);
  }

  /** A database read for an entry; on failure logged, and `fallback`. */
  private read<T, F>(e: Entry, problem: string, fallback: F, fn: (h: ScheduleHistory) => T): T | F {
    if (!this.o.history) return fallback;
    try {
      return fn(this.o.history);
    } catch (err) {
      this.o.log.error(problem, { workflow: e.wf.name, error: messageOf(err) });
      return fallback;
    }
  }

  /**
   * Is the clock plausible: not before this build, nor before the newest run recorded? Once it
   * is, it stays so: a later backward jump only holds back times already fired (planTick).
   */
  private clockPlausible(): boolean {
    if (this.clockOk) return true;
    if (this.floor === null) {
      let newest: Date | null = null;
      try {
        newest = this.o.history?.newestRun() ?? null;
      } catch (err) {
        this.o.log.error("cannot read the newest run to check the clock", { error: messageOf(err) });
      }
      this.floor = plausibleFloor(newest);
    }
    this.clockOk = this.now().getTime() >= this.floor.getTime();
    return this.clockOk;
  }

  /** Check the clock every second until it is plausible (logged once a minute), then arm what waited. */
  private waitForClock(): void {
    if (this.clockTimer !== undefined || this.o.stopping()) return;
    const check = () => {
      this.clockTimer = undefined;
      if (this.o.stopping()) return;
      const now = this.now();
      if (!this.clockPlausible()) {
        if (performance.now() - this.clockLoggedAt >= CLOCK_LOG_MS) {
          this.clockLoggedAt = performance.now();
          this.o.log.warn("waiting for the clock: it reads earlier than it can be (no NTP sync yet?); nothing is scheduled", {
            clock: now.toISOString(),
            not_before: this.floor?.toISOString(),
          });
        }
        this.clockTimer = setTimeout(check, CLOCK_CHECK_MS);
        return;
      }
      this.o.log.info("the clock is plausible: scheduling", { clock: now.toISOString() });
      const waiting = [...this.waiting];
      this.waiting.clear();
      for (const [e, catchUp] of waiting) if (this.entries.get(e.file) === e) this.arm(e, catchUp);
    };
    check();
  }
}
