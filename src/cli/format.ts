// Terminal output helpers: aligned tables, durations, local times, optional colour.

import { runCap } from "../engine/limiter.ts";
import { parseTime } from "../store/time.ts";

export interface Column {
  header: string;
  /** Right-align (numbers). */
  right?: boolean;
}

/** An aligned table; the last column is never padded, so long notes don't widen the rest. */
export function table(columns: (Column | string)[], rows: (string | number | null | undefined)[][]): string {
  const cols = columns.map((c) => (typeof c === "string" ? { header: c } : c));
  const cells = rows.map((r) => r.map((v) => (v === null || v === undefined ? "-" : String(v))));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...cells.map((r) => visibleLength(r[i] ?? ""))));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => {
        if (i === vals.length - 1 && !cols[i]!.right) return v;
        const pad = " ".repeat(Math.max(0, widths[i]! - visibleLength(v)));
        return cols[i]!.right ? pad + v : v + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(cols.map((c) => c.header)), ...cells.map(line)].join("\n") + "\n";
}

const ANSI = /\x1b\[[0-9;]*m/g;
function visibleLength(s: string): number {
  return s.replace(ANSI, "").length;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 1) return `${(seconds * 1000).toFixed(0)}ms`;
  if (seconds < 60) return `${seconds.toFixed(2)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** A UTC time from the database (or ISO 8601) shown as local time, "2026-11-26 09:17:42". */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(parseTime(iso));
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A UTC time inside a message ("... started 2026-11-26T08:17:42.123Z ..."), either stored form. */
const TIME_IN_TEXT = /\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g;

/** A message with the UTC times in it shown as local time, as the rest of a table is. */
export function localTimesIn(text: string): string {
  return text.replace(TIME_IN_TEXT, (t) => localTime(t));
}

/**
 * Characters a table row may use: the terminal's width, or none (no cutting) when stdout is
 * not a terminal (a pipe or file keeps every word; `--format json` too).
 */
export function outputWidth(tty: boolean): number {
  if (!tty) return Infinity;
  const cols = process.stdout.columns;
  return cols && cols > 0 ? cols : 80;
}

/**
 * One line when `[execution] max_parallel` (set, or its default) lowers a workflow's own
 * max_parallel, for `run`'s header and `validate`; null when the workflow's own applies.
 */
export function capNote(workflowMax: number, configMax: number | null | undefined): string | null {
  const cap = runCap(workflowMax, configMax);
  if (cap >= workflowMax) return null;
  const source = configMax === null || configMax === undefined ? `${cap} (the default; raise it in the config file)` : `${cap}`;
  return `At most ${cap} tasks at once: the workflow's max_parallel is ${workflowMax}, [execution] max_parallel is ${source}`;
}

/** The effective max_parallel for `validate`: "8", or "4 (the workflow's 8, capped by ...)". */
export function maxParallelText(workflowMax: number, configMax: number | null | undefined): string {
  const cap = runCap(workflowMax, configMax);
  if (cap >= workflowMax) return String(workflowMax);
  const source = configMax === null || configMax === undefined ? `[execution] max_parallel, default ${cap}` : `[execution] max_parallel = ${cap}`;
  return `${cap} (the workflow's ${workflowMax}, capped by ${source})`;
}

const COLOURS = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof COLOURS;

export function paint(on: boolean): (colour: Colour, text: string) => string {
  return (colour, text) => (on ? `\x1b[${COLOURS[colour]}m${text}\x1b[0m` : text);
}

export function statusColour(status: string): Colour {
  if (status === "success") return "green";
  if (status === "running" || status === "pending" || status === "retrying") return "yellow";
  // A retry's reused task: its success was in an earlier execution.
  if (status === "skipped" || status === "reused") return "dim";
  return "red";
}

/** Seconds since `startedAt` (a stored time), for a run or attempt still going. */
export function elapsed(startedAt: string): number | null {
  const t = parseTime(startedAt);
  return Number.isNaN(t) ? null : Math.max(0, (Date.now() - t) / 1000);
}
