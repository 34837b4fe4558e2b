// A PicoFlow schedule as Argo's cron: five fields (minute first, no seconds) or a nickname.
// Argo parses with robfig/cron: no seconds, no croner extensions (L, W, #), Sunday is 0 only.
// The CRD's schema (as @kubernetes-models/argo-workflows has it) accepts digits, `*,/?-` and
// the nicknames, so names of months and days are written as numbers.

import { sixFields } from "../workflow/cron.ts";

const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);

/** What the CRD's schema accepts (its pattern, less @every which PicoFlow has not). */
const ARGO_FIVE = /^([0-9*,/?-]+\s+){4}[0-9*,/?-]+$/;

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

export type ArgoCron = { schedule: string } | { problem: string };

export function argoSchedule(expr: string): ArgoCron {
  const t = expr.trim();
  if (NICKNAMES.has(t.toLowerCase())) return { schedule: t.toLowerCase() };
  const [seconds, ...five] = sixFields(t).split(/\s+/);
  if (!/^0+$/.test(seconds!)) {
    return { problem: `Argo's cron has no seconds field: this schedule's seconds field is '${seconds}', and only '0' (once a minute at most) can be exported` };
  }
  const month = named(five[3]!, MONTHS, 1);
  const weekday = sundayIsZero(named(five[4]!, DAYS, 0));
  if (weekday === null) return { problem: `day of week '${five[4]}': a step over a range that ends in 7 cannot be written in Argo's cron (Sunday is 0 there)` };
  const out = [five[0], five[1], five[2], month, weekday].join(" ");
  if (!ARGO_FIVE.test(out)) return { problem: `'${t}' uses what Argo's cron does not know (L, W or #: croner's extensions)` };
  return { schedule: out };
}

/** `MON-FRI` as `1-5`, `jan` as `1`. */
function named(field: string, names: string[], first: number): string {
  return field.replace(/[A-Za-z]{3}/g, (n) => {
    const i = names.indexOf(n.toUpperCase());
    return i < 0 ? n : String(i + first);
  });
}

/** Day of week 7 (croner's second Sunday) as 0; null when it is in a stepped range. */
function sundayIsZero(field: string): string | null {
  const parts: string[] = [];
  for (const part of field.split(",")) {
    const [range, step] = part.split("/");
    const ends = range!.split("-");
    if (!ends.includes("7")) parts.push(part);
    else if (step !== undefined) return null;
    else if (ends.length === 1) parts.push("0");
    else if (ends[0] === "7") parts.push("0");
    else parts.push(`${ends[0]}-6`, "0");
  }
  return parts.join(",");
}
