// The daemon's clock, and whether it can be believed. A Pi has no battery-backed clock: it
// boots with the time of its last shutdown (or 1970) until NTP sets it, and a schedule that
// trusted that time would fire at the wrong moments and catch up runs that were never missed.
// The schedule loop asks `now()` for every decision (never `new Date()` itself), so that the
// tests can set the daemon's clock without moving the machine's.

import { readFileSync } from "node:fs";
import { COMMIT_DATE } from "../version.ts";

/**
 * FOR TESTS ONLY: milliseconds added to the machine's time wherever the daemon's schedule
 * reads the clock (negative: the clock reads early). Stored times of runs still use the real
 * time. Not a setting: read once, at start; the user documentation does not mention it.
 */
export const TEST_CLOCK_OFFSET_ENV = "PICOFLOW_TEST_CLOCK_OFFSET_MS";
/** FOR TESTS ONLY: a file holding a further offset in ms, read at every clock reading (a clock jump while running). */
export const TEST_CLOCK_FILE_ENV = "PICOFLOW_TEST_CLOCK_FILE";

/**
 * From source, the bound below. Raise it now and then; it only needs to be later than any
 * boot-time clock of a Pi.
 */
const SOURCE_BUILT_AFTER = new Date("2026-12-01T00:00:00Z");

/** The later of the source's constant and the built commit's date (null from source). */
export function builtAfter(commitDate: string | null): Date {
  const stamped = commitDate ? new Date(commitDate) : null;
  return stamped && stamped.getTime() > SOURCE_BUILT_AFTER.getTime() ? stamped : SOURCE_BUILT_AFTER;
}

/**
 * No clock that reads earlier than this is right: this version of PicoFlow did not exist yet.
 * In a binary, the date of the commit it was built from (stamped by the build, which stays
 * reproducible: it is the commit's date, not the build's); from source, a constant.
 */
export const BUILT_AFTER = builtAfter(COMMIT_DATE);

export interface Clock {
  now(): Date;
}

/** The machine's clock, or with the test offsets when the environment sets them. */
export function daemonClock(env: Record<string, string | undefined>): Clock {
  const offset = millis(env[TEST_CLOCK_OFFSET_ENV]);
  const file = env[TEST_CLOCK_FILE_ENV];
  if (file) return { now: () => new Date(Date.now() + offset + millis(readOffset(file))) };
  if (offset === 0) return { now: () => new Date() };
  return { now: () => new Date(Date.now() + offset) };
}

function millis(raw: string | undefined): number {
  return raw !== undefined && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : 0;
}

function readOffset(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The earliest plausible time: later than the build, and not before the newest run in the
 * database (a run cannot have started in the future). Null when nothing is known but the build.
 */
export function plausibleFloor(newestRun: Date | null): Date {
  return newestRun && newestRun.getTime() > BUILT_AFTER.getTime() ? newestRun : BUILT_AFTER;
}
