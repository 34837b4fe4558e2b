// GET /api/v1/stats?days=&workflow= (docs/api.md "For the dashboard"): per workflow, and per
// calendar day of the server's time zone, runs, outcomes and p50/p95 durations. The runs of
// the period are read once and bucketed here: a day is local, which SQLite's UTC times are not.

import { rate, type History, type RunTiming } from "../store/queries.ts";
import { parseTime, sqlTime } from "../store/time.ts";

export const MAX_DAYS = 366;
export const DEFAULT_DAYS = 30;

/** The figures of a set of runs: a day's, or the whole period's. */
export interface Figures {
  runs: number;
  success: number;
  failed: number;
  /** Percent of finished runs (success or failed) that succeeded, two decimals; null with none. */
  success_rate: number | null;
  /** Nearest-rank percentiles of the finished runs' durations, in seconds; null with none. */
  p50_duration: number | null;
  p95_duration: number | null;
}

export interface WorkflowDays extends Figures {
  workflow_name: string;
  daily: (Figures & { day: string })[];
}

export interface StatsAnswer {
  days: number;
  since: string;
  until: string;
  workflows: WorkflowDays[];
}

/** The period of `days` calendar days: from the local midnight that starts the first, up to `now`. */
export function statsPeriod(days: number, now: Date): { days: number; since: string; until: string } {
  const since = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
  return { days, since: since.toISOString(), until: now.toISOString() };
}

/** The stats of the last `days` calendar days (today included), up to `now`. */
export function dailyStats(h: History, days: number, workflow: string | undefined, now = new Date()): StatsAnswer {
  const period = statsPeriod(days, now);
  const dayList = calendarDays(days, now);
  const byWorkflow = new Map<string, RunTiming[]>();
  for (const r of h.runsSince(sqlTime(new Date(period.since)), workflow)) {
    let list = byWorkflow.get(r.workflow_name);
    if (!list) byWorkflow.set(r.workflow_name, (list = []));
    list.push(r);
  }
  const workflows: WorkflowDays[] = [];
  for (const [name, runs] of byWorkflow) {
    const perDay = new Map<string, RunTiming[]>(dayList.map((d) => [d, []]));
    // A run stamped after now (a clock set back) belongs to no day of the period: left out.
    for (const r of runs) perDay.get(localDay(new Date(parseTime(r.started_at))))?.push(r);
    const counted = [...perDay.values()].flat();
    if (!counted.length) continue;
    workflows.push({ workflow_name: name, ...figures(counted), daily: dayList.map((day) => ({ day, ...figures(perDay.get(day)!) })) });
  }
  return { ...period, workflows };
}

/** "YYYY-MM-DD" of `d` in the server's time zone. */
export function localDay(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** The last `days` local calendar days up to today's, oldest first. */
function calendarDays(days: number, now: Date): string[] {
  const out: string[] = [];
  // Noon of each day: a daylight-saving change never moves it to a neighbouring day.
  for (let i = days - 1; i >= 0; i--) out.push(localDay(new Date(now.getFullYear(), now.getMonth(), now.getDate() - i, 12)));
  return out;
}

function figures(runs: RunTiming[]): Figures {
  const success = runs.filter((r) => r.status === "success").length;
  const failed = runs.filter((r) => r.status === "failed").length;
  const durations = runs
    .filter((r) => (r.status === "success" || r.status === "failed") && r.duration_seconds !== null)
    .map((r) => r.duration_seconds!)
    .sort((a, b) => a - b);
  return {
    runs: runs.length,
    success,
    failed,
    success_rate: rate(success, success + failed),
    p50_duration: nearestRank(durations, 50),
    p95_duration: nearestRank(durations, 95),
  };
}

/** The nearest-rank `p`th percentile of ascending `sorted`: the value at rank ceil(p/100 * n). */
export function nearestRank(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}
