// Structured logger: one line per event on stderr, as JSON or in a readable "pretty" form.

export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

type Fields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  error(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  trace(msg: string, fields?: Fields): void;
  enabled(level: LogLevel): boolean;
}

export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => process.stderr.write(line + "\n");

export function createLogger(level: LogLevel, format: LogFormat, sink: LogSink = stderrSink): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const enabled = (l: LogLevel) => LOG_LEVELS.indexOf(l) <= threshold;
  const emit = (l: LogLevel, msg: string, fields?: Fields) => {
    if (!enabled(l)) return;
    const ts = new Date().toISOString();
    if (format === "json") {
      sink(JSON.stringify({ ts, level: l, msg, ...fields }));
      return;
    }
    let line = `${ts.slice(11, 23)} ${l.toUpperCase().padEnd(5)} ${msg}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (v === undefined) continue;
      const s = typeof v === "string" ? v : JSON.stringify(v);
      line += ` ${k}=${/\s/.test(s) ? JSON.stringify(s) : s}`;
    }
    sink(line);
  };
  return {
    level,
    enabled,
    error: (m, f) => emit("error", m, f),
    warn: (m, f) => emit("warn", m, f),
    info: (m, f) => emit("info", m, f),
    debug: (m, f) => emit("debug", m, f),
    trace: (m, f) => emit("trace", m, f),
  };
}

/** A logger that drops everything; for library code called without one. */
export const silentLogger: Logger = createLogger("error", "json", () => {});
