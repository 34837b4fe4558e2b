// The schedule loop: each loaded workflow file is an entry, and a scheduled one has a timer
// that wakes at its next trigger (at least every minute, scheduler.ts planTick), notices
// missed triggers and fires the one that is due. A bad trigger never ends a schedule. What a
// fired trigger starts is launch.ts's.

import { messageOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Workflow } from "../workflow/types.ts";
import { compileSchedule, planTick, type Schedule } from "./scheduler.ts";

export interface Entry {
  file: string;
  /** The last good version: what is scheduled and run. */
  wf: Workflow;
  schedule: Schedule | null;
  due: Date | null;
  timer?: ReturnType<typeof setTimeout>;
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
}

export class ScheduleLoop {
  /** `entries`: the loaded workflows by file, shared with reload.ts and state.ts. */
  constructor(
    private readonly entries: Map<string, Entry>,
    private readonly o: LoopOptions,
  ) {}

  /** Start (or restart) an entry's timer from now: a new entry, or a changed schedule. */
  arm(e: Entry): void {
    const { log, metrics } = this.o;
    clearTimeout(e.timer);
    e.timer = undefined;
    if (!e.schedule) {
      e.due = null;
      metrics?.setNextRun(e.wf.name, null);
      return;
    }
    const schedule = e.schedule;
    e.due = schedule.next(new Date());
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
      const t = planTick(schedule, due, new Date());
      sleepMs = t.sleepMs;
      if (t.missed > 0) log.warn("triggers missed (clock jump or suspended machine)", { workflow: e.wf.name, missed: t.missed });
      if (t.next?.getTime() !== due?.getTime()) metrics?.setNextRun(e.wf.name, t.next);
      e.due = t.next;
      if (t.fire && due) this.o.fire(e.wf, due);
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
  }
}
