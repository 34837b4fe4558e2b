// Shared by the read commands (status, history, stats, logs, workflow list): option parsing with
// one clear exit-4 error per bad value, opening the history read-only, the answer before the
// first run, and "not found" errors.

import { describeDbPath } from "../config.ts";
import { ConfigError, editDistance, IoError, NothingRecordedError } from "../errors.ts";
import { openHistory, type History } from "../store/queries.ts";
import { isoTime, sqlTime } from "../store/time.ts";
import type { CliContext } from "./context.ts";

export type OutputFormat = "table" | "json";

/**
 * An option's value as typed (main.ts keeps every value text: `--execution-id 0123` stays
 * "0123"). Checked here too, for callers other than the command line.
 */
export function textOption(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) value = value[value.length - 1];
  if (value === true || value === false) throw new ConfigError(`${flag}: a value is required`);
  const text = String(value);
  if (text === "") throw new ConfigError(`${flag}: must not be empty`);
  return text;
}

/** The workflow, given as `--workflow NAME` or as a positional argument (not both, unless equal). */
export function workflowOption(positional: unknown, flag: unknown): string | undefined {
  const p = positional === undefined ? undefined : String(positional);
  const f = textOption(flag, "--workflow");
  if (p !== undefined && f !== undefined && p !== f) {
    throw new ConfigError(`workflow given twice ('${p}' and --workflow '${f}'); give one`);
  }
  const name = p ?? f;
  if (name === "") throw new ConfigError("--workflow: must not be empty");
  return name;
}

export function formatOption(value: unknown): OutputFormat {
  const v = textOption(value, "--format");
  if (v === undefined) return "table";
  const f = v.toLowerCase();
  if (f === "table" || f === "json") return f;
  throw new ConfigError(`--format: '${v}' is not one of table, json`);
}

/** A whole number in [min, max]; `undefined` gives `fallback`. */
export function intOption(value: unknown, flag: string, fallback: number, min: number, max: number): number {
  const v = textOption(value, flag);
  if (v === undefined) return fallback;
  const s = v.trim();
  if (!/^-?\d+$/.test(s)) throw new ConfigError(`${flag}: '${v}' is not a whole number`);
  const n = Number(s);
  if (n < min || n > max) throw new ConfigError(`${flag}: ${n} is out of range (${min}-${max})`);
  return n;
}

/** `YYYY-MM-DD` as local midnight, in the form the database stores times (store/time.ts). */
export function dateOption(value: unknown, flag: string): string | undefined {
  const v = textOption(value, flag);
  if (v === undefined) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v.trim());
  if (!m) throw new ConfigError(`${flag}: '${v}' is not a date (YYYY-MM-DD)`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(y, mo - 1, d);
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) {
    throw new ConfigError(`${flag}: '${v}' is not a real date`);
  }
  return sqlTime(date);
}

/** Open the history, run `fn`, close it (after the promise settles, if `fn` returns one). */
export function withHistory<T>(ctx: CliContext, fn: (h: History) => T): T {
  const h = openHistory(ctx.settings.dbPath);
  let result: T;
  try {
    result = fn(h);
  } catch (err) {
    h.close();
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => h.close()) as T;
  h.close();
  return result;
}

/**
 * Before the first run there is no database yet, or an empty one (NothingRecordedError): a
 * listing says so and exits 0 (`[]` in JSON), and nothing is created; a named workflow or
 * execution is not found (exit 5), as in a database that has not recorded it. Returns true
 * when it has answered. (An empty database with PicoFlow's tables answers through the queries.)
 */
export function answeredBeforeFirstRun(
  ctx: CliContext,
  format: OutputFormat,
  named: { workflow?: string; executionId?: string } = {},
): boolean {
  try {
    openHistory(ctx.settings.dbPath).close();
    return false;
  } catch (err) {
    if (!(err instanceof NothingRecordedError)) throw err;
  }
  const where = describeDbPath(ctx.settings);
  if (named.executionId !== undefined) throw new IoError(`no execution with id '${named.executionId}': no runs recorded yet in ${where}`);
  if (named.workflow !== undefined) throw new IoError(`no workflow named '${named.workflow}': no runs recorded yet in ${where}`);
  ctx.out(format === "json" ? "[]\n" : `No runs recorded yet in ${where}.\n`);
  return true;
}

/** Exit 5 (not found, as the spec's "Log file not found") for a workflow the database never saw. */
export function requireWorkflow(h: History, name: string): void {
  if (h.hasWorkflow(name)) return;
  const known = h.workflowNames();
  const near = known.filter((k) => k.toLowerCase().includes(name.toLowerCase()) || editDistance(k, name) <= 2).slice(0, 5);
  const hint = near.length ? ` (did you mean ${near.map((n) => `'${n}'`).join(", ")}?)` : known.length ? "" : " (no runs recorded yet)";
  throw new IoError(`no workflow named '${name}' in ${h.path}${hint}`);
}

/** The full execution id for an id or unique prefix; exit 5 if none, exit 4 if ambiguous. */
export function resolveExecution(h: History, idOrPrefix: string): { id: string; workflow_name: string } {
  const found = h.findExecutions(idOrPrefix.trim());
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new IoError(`no execution with id '${idOrPrefix}' in ${h.path}`);
  throw new ConfigError(`execution id '${idOrPrefix}' is ambiguous: ${found.map((f) => f.id).join(", ")}${found.length === 5 ? ", ..." : ""}`);
}

/**
 * A time from the database as JSON shows it: ISO 8601 UTC with the `T`. (Stored times have a
 * space for the `T`; older rows, and SQLite's datetime() form without a zone, are read too.)
 */
export function isoUtc(ts: string | null | undefined): string | null {
  if (ts === null || ts === undefined) return null;
  return isoTime(ts);
}

/**
 * Rows as pretty JSON, timestamps (keys ending in _at) normalised to ISO 8601 UTC, durations
 * (keys with "duration") to the millisecond: 0.046, not 0.04608454599999999 (older rows, averages).
 */
export function toJson(rows: unknown): string {
  return (
    JSON.stringify(
      rows,
      (key, value) => {
        if (typeof value === "string" && key.endsWith("_at")) return isoUtc(value);
        if (typeof value === "number" && key.includes("duration")) return Math.round(value * 1000) / 1000;
        return value;
      },
      2,
    ) + "\n"
  );
}

/** The first 8 characters of an execution id: enough to pass back as --execution-id. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** A success rate as "91.67%", or "-". */
export function percent(rate: number | null): string {
  return rate === null ? "-" : `${Number.isInteger(rate) ? rate : rate.toFixed(1)}%`;
}

/** Shorten `s` to `max` characters with an ellipsis, so one long value can't break a table. */
export function clip(s: string | null | undefined, max: number): string {
  if (s === null || s === undefined) return "-";
  const one = s.replace(/\s+/g, " ").trim();
  return one.length <= max ? one : one.slice(0, max - 1) + "…";
}
