// Terminal output helpers: aligned tables, durations, local times, optional colour.

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

/** ISO 8601 UTC from the database shown as local time, "2026-11-26 09:17:42". */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const COLOURS = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof COLOURS;

export function paint(on: boolean): (colour: Colour, text: string) => string {
  return (colour, text) => (on ? `\x1b[${COLOURS[colour]}m${text}\x1b[0m` : text);
}

export function statusColour(status: string): Colour {
  if (status === "success") return "green";
  if (status === "running" || status === "pending" || status === "retrying") return "yellow";
  if (status === "skipped") return "dim";
  return "red";
}

/** Seconds since `startedAt` (ISO 8601), for a run or attempt still going. */
export function elapsed(startedAt: string): number | null {
  const t = Date.parse(startedAt);
  return Number.isNaN(t) ? null : Math.max(0, (Date.now() - t) / 1000);
}
