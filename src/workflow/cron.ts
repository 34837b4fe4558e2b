// Cron expressions as PicoFlow reads them: six fields (`sec min hour day month dayofweek`,
// checked by croner) or a nickname (@hourly, @daily, ...), which stands for its six fields.
// The loader checks them here; the daemon's scheduler compiles the same six fields.

import { Cron } from "croner";
import { bare } from "./message.ts";

/** The nicknames cron(8) knows (except @reboot), as six fields. */
const NICKNAMES: Record<string, string> = {
  "@yearly": "0 0 0 1 1 *",
  "@annually": "0 0 0 1 1 *",
  "@monthly": "0 0 0 1 * *",
  "@weekly": "0 0 0 * * 0",
  "@daily": "0 0 0 * * *",
  "@midnight": "0 0 0 * * *",
  "@hourly": "0 0 * * * *",
};

/** The six fields an expression stands for: a nickname's, else the expression itself. */
export function sixFields(expr: string): string {
  const t = expr.trim();
  return NICKNAMES[t.toLowerCase()] ?? t;
}

/** Field names and ranges of the 6-field expression (day of week 7 is Sunday too, as in cron). */
const CRON_FIELDS: [string, number, number][] = [
  ["second", 0, 59],
  ["minute", 0, 59],
  ["hour", 0, 23],
  ["day of month", 1, 31],
  ["month", 1, 12],
  ["day of week", 0, 7],
];

/**
 * What is wrong with a schedule, or null. Values in the message are marked (message.ts): print
 * it through renderProblem.
 */
export function cronProblem(expr: string, timezone?: string): string | null {
  if (expr.trim().startsWith("@") && !(expr.trim().toLowerCase() in NICKNAMES)) {
    return `unknown nickname ${bare(expr.trim())} (use ${Object.keys(NICKNAMES).join(", ")}, or six fields)`;
  }
  const six = sixFields(expr);
  const fields = six.split(/\s+/);
  if (fields.length !== 6) return fieldCountProblem(fields);
  // croner reports some values zero-based ("day: 31" for a 32): name the value as written.
  for (let i = 0; i < 6; i++) {
    const [name, min, max] = CRON_FIELDS[i]!;
    for (const part of fields[i]!.split(",")) {
      const [range, step] = part.split("/");
      // "0/5" is croner's to explain; in "1-31/2" the range is checked like any other.
      if (step !== undefined && !range!.includes("-")) continue;
      for (const v of range!.split("-")) {
        if (/^\d+$/.test(v) && (Number(v) < min || Number(v) > max)) return `${name} ${bare(v)} is out of range (${min}-${max})`;
      }
    }
  }
  let cron: Cron;
  try {
    cron = new Cron(six, { paused: true, timezone, mode: "6-part" });
  } catch (err) {
    // croner quotes parts of the expression: it is a workflow value.
    return `invalid cron expression: ${bare((err as Error).message.replace(/^CronPattern: /, ""))}`;
  }
  // croner looks years ahead for a match: "31 February" has none, and would never run.
  const next = cron.nextRun();
  cron.stop();
  if (next === null) return "never fires: no date matches it (check the day of month against the month)";
  return null;
}

/** The usual mistake is a 5-field crontab line: show it with the seconds field added. */
function fieldCountProblem(fields: string[]): string {
  const base = `must have 6 fields (sec min hour day month dayofweek), got ${fields.length}`;
  if (fields.length === 5) {
    return `${base}; PicoFlow's cron has seconds first: for ${bare(`"${fields.join(" ")}"`)} write ${bare(`"0 ${fields.join(" ")}"`)}`;
  }
  return base;
}
