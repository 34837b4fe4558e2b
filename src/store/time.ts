// The one form of a time in the database: UTC, "2026-11-26 08:17:42.123Z". RFC 3339 allows the
// space for the `T`, and with it SQLite's own date functions (datetime('now', '-1 day') gives
// "2026-11-25 08:17:42") compare correctly with stored times as text. Every writer uses
// sqlTime; every reader of a stored time accepts the older `T` form too (databases written
// before schema version 2, or by an older picoflow still running).

/** A time as stored: "YYYY-MM-DD HH:MM:SS.SSSZ" (UTC). */
export function sqlTime(d: Date): string {
  return d.toISOString().replace("T", " ");
}

/** A time given as text (ISO 8601, or already stored) in the stored form; unparsable text as it is. */
export function sqlTimeOf(ts: string): string {
  const t = parseTime(ts);
  return Number.isNaN(t) ? ts : sqlTime(new Date(t));
}

/** The stored form of the time `ms` milliseconds before now (a cut-off for "the last N days"). */
export function sqlTimeAgo(ms: number, now: number = Date.now()): string {
  return sqlTime(new Date(now - ms));
}

const STORED = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Milliseconds since the epoch of a stored time, in either form; one without a zone (SQLite's
 * datetime() writes none) is UTC. NaN if it is not a time.
 */
export function parseTime(ts: string): number {
  const m = STORED.exec(ts.trim());
  if (!m) return Date.parse(ts);
  return Date.parse(`${m[1]}T${m[2]}${m[3] ?? "Z"}`);
}

/**
 * A stored time as ISO 8601 UTC with the `T` ("2026-11-26T08:17:42.123Z"): how the JSON
 * outputs show times. Text that is not a time is returned as it is.
 */
export function isoTime(ts: string): string {
  const t = parseTime(ts);
  return Number.isNaN(t) ? ts : new Date(t).toISOString();
}
