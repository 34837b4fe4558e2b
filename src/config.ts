// Settings: defaults < picoflow.toml < PICOFLOW_* environment < command-line flags, resolved once.

import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError, nearest, systemErrorText } from "./errors.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import { DEFAULT_NOTIFY_ON, NOTIFY_EVENTS, NOTIFY_FORMATS, type NotifyTarget } from "./workflow/types.ts";

export interface Settings {
  /** The config file that was read, if any. */
  configFile: string | null;
  dbPath: string;
  /** Where dbPath came from, so a message about the database can say how to point elsewhere. */
  dbPathSource: DbPathSource;
  logLevel: LogLevel;
  /** null: not chosen anywhere; the CLI picks pretty for a terminal, json otherwise. */
  logFormat: LogFormat | null;
  metrics: { enabled: boolean; port: number; bindAddress: string };
  /**
   * The JSON API (docs/api.md) on the [metrics] HTTP server. `token`: [web] token or
   * PICOFLOW_WEB_TOKEN (at least 32 characters); needed for every POST, and for everything when
   * set (a non-loopback bind_address without one is refused at daemon start).
   */
  web: { enabled: boolean; token: string | null };
  retry: {
    /** Default retry count for tasks whose workflow sets no retry_default. */
    defaultCount: number;
    maxBackoffSeconds: number;
    backoffMultiplier: number;
  };
  timeout: {
    /** Default task timeout for workflows that set no timeout_default. */
    defaultSeconds: number;
    /** Upper bound applied to every task timeout (0 = none). */
    maxSeconds: number;
    /** Time between SIGTERM and SIGKILL when a task is stopped. */
    killGraceSeconds: number;
  };
  execution: { maxParallel: number | null };
  logs: { retentionDays: number; maxSizeMb: number; cleanupEnabled: boolean };
  daemon: {
    /** How long a stopping daemon lets running workflows finish before it kills them. */
    shutdownGraceSeconds: number;
    /** Time between retention cleanups while the daemon runs (after the one at start). */
    cleanupIntervalSeconds: number;
    /**
     * No effect: the daemon writes its state row when it changes, not on a timer. Still read,
     * so that config files which set it stay valid.
     */
    heartbeatSeconds: number;
    /** How often the daemon checks that its database is still the file at its path. */
    databaseCheckSeconds: number;
  };
  notify: {
    /** Where every workflow's runs are reported (a workflow's `notify:` overrides it); null: nowhere. */
    target: NotifyTarget | null;
    /** Each delivery (notification or healthcheck ping): a timeout per attempt, attempts, backoff before the second. */
    timeoutSeconds: number;
    attempts: number;
    backoffSeconds: number;
  };
}

export type DbPathSource = "default" | "--db-path" | "PICOFLOW_DB_PATH" | "config file";

export const DEFAULTS: Settings = {
  configFile: null,
  dbPath: "picoflow.db",
  dbPathSource: "default",
  logLevel: "info",
  logFormat: null,
  metrics: { enabled: true, port: 9090, bindAddress: "127.0.0.1" },
  web: { enabled: true, token: null },
  retry: { defaultCount: 3, maxBackoffSeconds: 60, backoffMultiplier: 2 },
  timeout: { defaultSeconds: 300, maxSeconds: 0, killGraceSeconds: 5 },
  execution: { maxParallel: null },
  logs: { retentionDays: 30, maxSizeMb: 1000, cleanupEnabled: true },
  daemon: { shutdownGraceSeconds: 60, cleanupIntervalSeconds: 86400, heartbeatSeconds: 15, databaseCheckSeconds: 60 },
  notify: { target: null, timeoutSeconds: 10, attempts: 3, backoffSeconds: 2 },
};

// Each rule carries its message in our words: a user never reads zod's own text.
const int = (min: number, max: number) => {
  const m = `must be a whole number from ${min} to ${max}`;
  return z.number({ error: m }).int(m).min(min, m).max(max, m);
};
const num = (min: number, max: number) => {
  const m = `must be a number from ${min} to ${max}`;
  return z.number({ error: m }).min(min, m).max(max, m);
};
const bool = () => z.boolean({ error: "must be true or false" });
const text = () => z.string({ error: "must be a string in quotes" }).min(1, "must not be empty");
const lowercase = <T extends z.ZodType>(inner: T) => z.preprocess((v) => (typeof v === "string" ? v.toLowerCase() : v), inner);
const oneOf = <T extends string>(values: readonly [T, ...T[]]) => lowercase(z.enum(values, { error: `must be one of ${values.join(", ")}` }));
/** The web token: long enough that guessing it over the network is hopeless. */
export const MIN_WEB_TOKEN_LENGTH = 32;
const webToken = () => text().refine((t) => t.length >= MIN_WEB_TOKEN_LENGTH && !/\s/.test(t), `must be at least ${MIN_WEB_TOKEN_LENGTH} characters without spaces (for example: openssl rand -hex 24)`);
const section = <T extends z.core.$ZodLooseShape>(shape: T) =>
  z.strictObject(shape, { error: "must be a section: a [name] line, then its keys" }).optional();

// Mirrors the spec's "Configuration File" section; unknown keys are errors so a typo is caught.
const fileSchema = z.strictObject({
  // A NUL byte would cut the path short (and the open fails with Bun's ERR_INVALID_ARG_VALUE).
  db_path: text().refine((p) => !p.includes("\0"), "must not contain a NUL byte (\\0)").optional(),
  // Any case, as in PICOFLOW_LOG_LEVEL and the flags ("INFO" is "info").
  log_level: oneOf(LOG_LEVELS).optional(),
  log_format: oneOf(LOG_FORMATS).optional(),
  metrics: section({
    enabled: bool().optional(),
    port: int(0, 65535).optional(),
    bind_address: text().optional(),
  }),
  web: section({
    enabled: bool().optional(),
    token: webToken().optional(),
  }),
  retry: section({
    default_count: int(0, 100).optional(),
    max_backoff_seconds: num(0, 86400).optional(),
    backoff_multiplier: num(1, 100).optional(),
  }),
  timeout: section({
    default_seconds: int(0, 86400).optional(),
    max_seconds: int(0, 86400).optional(),
    kill_grace_seconds: num(0, 3600).optional(),
  }),
  execution: section({ max_parallel: int(1, 256).optional() }),
  logs: section({
    retention_days: int(0, 36500).optional(),
    max_size_mb: int(0, 1_000_000).optional(),
    cleanup_enabled: bool().optional(),
  }),
  daemon: section({
    shutdown_grace_seconds: num(0, 86400).optional(),
    cleanup_interval_seconds: num(1, 31_536_000).optional(),
    heartbeat_seconds: num(1, 3600).optional(),
    database_check_seconds: num(1, 60).optional(),
  }),
  notify: section({
    url: text()
      .refine((u) => /^https?:\/\/[^/?#\s]+/i.test(u) && URL.canParse(u), "must be an http:// or https:// URL")
      .optional(),
    format: oneOf(NOTIFY_FORMATS).optional(),
    on: z
      .array(oneOf(NOTIFY_EVENTS), { error: `must be a list of ${NOTIFY_EVENTS.join(", ")}` })
      .min(1, "must not be empty (remove url to send nothing)")
      .optional(),
    timeout_seconds: num(0.1, 300).optional(),
    attempts: int(1, 10).optional(),
    backoff_seconds: num(0, 3600).optional(),
  }),
});

type FileConfig = z.infer<typeof fileSchema>;

/** Values given on the command line; undefined means "not given". */
export interface FlagValues {
  config?: string;
  dbPath?: string;
  logLevel?: string;
  logFormat?: string;
}

export interface ResolveInput {
  flags: FlagValues;
  env: Record<string, string | undefined>;
  cwd: string;
  home: string;
}

/** Where the config file is looked for, in order (spec: "File Locations"). */
export function configSearchPath(cwd: string, home: string): string[] {
  return [join(cwd, "picoflow.toml"), join(home, ".config/picoflow/config.toml"), "/etc/picoflow/config.toml"];
}

/** Beyond this many lines a config file's syntax error is reported without its line (see below). */
const MAX_LOCATED_TOML_LINES = 2000;

/** Bun.TOML's message in words: "found (0x0A)" is the end of the line, other bytes as characters. */
const tomlMessage = (err: unknown) =>
  (err as Error).message
    .replace(/^TOML Parse error: /, "")
    .replace(/\(0x0A\)/gi, "the end of the line")
    .replace(/\(0x([0-9A-F]{2})\)/gi, (_, hex: string) => JSON.stringify(String.fromCharCode(parseInt(hex, 16))));

/**
 * Bun.TOML's errors carry no position in the text. The problem starts on the line after the
 * longest prefix of whole lines that still parses (an unclosed array or string fails from its
 * first line on; a closed one parses again once closed). Config files are short: a parse per
 * line is cheap, and longer files are reported without a line.
 */
function tomlErrorLine(text: string): number | null {
  const lines = text.split("\n");
  if (lines.length > MAX_LOCATED_TOML_LINES) return null;
  let parsed = 0;
  for (let n = 1; n <= lines.length; n++) {
    try {
      Bun.TOML.parse(lines.slice(0, n).join("\n") + "\n");
      parsed = n;
    } catch {}
  }
  return Math.min(parsed + 1, lines.length);
}

/**
 * The file as text. TOML is UTF-8 by definition: invalid bytes are refused rather than turned
 * into U+FFFD, which would quietly change a path such as db_path.
 */
function decodeConfig(path: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new ConfigError(`${path}:${line}: not valid UTF-8 (byte ${at + 1}); a config file must be UTF-8 text`);
  }
}

/** Offset of the first byte that is not valid UTF-8: the longest prefix that decodes, by bisection. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const decodes = (n: number) => {
    try {
      // stream: a character cut at the end of the prefix is not an error.
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (decodes(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function readConfigFile(path: string): FileConfig {
  let bytes: Uint8Array;
  try {
    if (!statSync(path).isFile()) throw new ConfigError(`${path}: not a regular file`);
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${path}: cannot read config file: ${systemErrorText(err)}`);
  }
  const text = decodeConfig(path, bytes);
  const keys = keyLines(text);
  let raw: unknown;
  try {
    raw = Bun.TOML.parse(text);
  } catch (err) {
    const line = tomlErrorLine(text);
    const key = line === null ? undefined : keys.find((k) => k.line === line)?.key;
    throw new ConfigError(`${path}${line ? `:${line}` : ""}: ${key ? `${key}: ` : ""}invalid TOML: ${tomlMessage(err)}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(configProblems(path, parsed.error, raw, keys).join("\n"));
  return parsed.data;
}

interface KeyLine {
  /** Dotted, as in messages: "metrics.port", or "metrics" for a [metrics] header. */
  key: string;
  line: number;
}

/**
 * The line of each table header and key in the file (Bun.TOML gives values, no positions).
 * A plain line scan, enough for config files: headers, `key = value`, dotted and quoted keys.
 */
function keyLines(text: string): KeyLine[] {
  const part = String.raw`(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')`;
  const dotted = String.raw`${part}(?:\s*\.\s*${part})*`;
  const header = new RegExp(String.raw`^\[\[?\s*(${dotted})\s*\]`);
  const assign = new RegExp(String.raw`^(${dotted})\s*=`);
  const split = (k: string) => [...k.matchAll(new RegExp(part, "g"))].map((m) => m[0].replace(/^["']|["']$/g, ""));
  const out: KeyLine[] = [];
  let table: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const h = header.exec(line);
    if (h) {
      table = split(h[1]!);
      out.push({ key: table.join("."), line: i + 1 });
      return;
    }
    const a = assign.exec(line);
    if (a) out.push({ key: [...table, ...split(a[1]!)].join("."), line: i + 1 });
  });
  return out;
}

/** Each problem as `FILE:LINE: key: message` (the line of the key, or of its section), in file order. */
function configProblems(path: string, error: z.ZodError, raw: unknown, keys: KeyLine[]): string[] {
  const found: { line: number | null; text: string }[] = [];
  const seen = new Set<string>();
  const at = (p: PropertyKey[], message: string) => {
    const key = p.map(String).join(".");
    if (seen.has(key)) return; // one value can break two rules (1e20: not whole, too big)
    seen.add(key);
    let line: number | null = null;
    for (let n = p.length; n > 0 && line === null; n--) {
      const k = p.slice(0, n).map(String).join(".");
      line = keys.find((e) => e.key === k)?.line ?? null;
    }
    found.push({ line, text: `${path}${line === null ? "" : `:${line}`}: ${key || "(top level)"}: ${message}` });
  };
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) at([...issue.path, k], unknownKeyMessage(issue.path, k, raw));
    } else {
      const value = valueAt(raw, issue.path);
      // A notification URL is a credential (an ntfy topic lets anyone post): never echoed.
      const secret = ["notify.url", "web.token"].includes(issue.path.join("."));
      at(issue.path, value === "" || secret ? issue.message : `${issue.message}${got(value)}`);
    }
  }
  return found.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)).map((f) => f.text);
}

/** "unknown key (did you mean 'backoff_multiplier'?)"; a whole table is an unknown section. */
function unknownKeyMessage(parent: PropertyKey[], key: string, raw: unknown): string {
  const value = valueAt(raw, [...parent, key]);
  const isSection = parent.length === 0 && value !== null && typeof value === "object" && !Array.isArray(value);
  const shape = (parent.length === 0 ? fileSchema.shape : sectionShape(String(parent[0]))) ?? {};
  const known = Object.keys(shape).filter((k) => !isSection || sectionShape(k) !== null);
  const hint = nearest(key, known);
  const quote = (k: string) => (isSection ? `[${k}]` : `'${k}'`);
  return `${isSection ? "unknown section" : "unknown key"}${hint ? ` (did you mean ${quote(hint)}?)` : ""}`;
}

/** The keys a section ([metrics], ...) may hold; null for a top-level key that is not a section. */
function sectionShape(name: string): Record<string, unknown> | null {
  const field = (fileSchema.shape as Record<string, z.ZodType>)[name];
  const inner = field instanceof z.ZodOptional ? field.unwrap() : field;
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, unknown>) : null;
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let v = raw;
  for (const p of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** " (got "9090")": the value as the file wrote it, cut short if long. */
function got(value: unknown): string {
  if (value === undefined) return "";
  let shown: string;
  if (Array.isArray(value)) shown = "a list";
  else if (value instanceof Date) shown = "a date";
  else if (value !== null && typeof value === "object") shown = "a section";
  else shown = typeof value === "string" ? JSON.stringify(value) : String(value);
  return ` (got ${shown.length > 40 ? `${shown.slice(0, 39)}…` : shown})`;
}

function pickEnum<T extends string>(value: string, allowed: readonly T[], what: string): T {
  const v = value.toLowerCase();
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(`${what}: '${value}' is not one of ${allowed.join(", ")}`);
}

function envPort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new ConfigError(`PICOFLOW_METRICS_PORT: '${value}' is not a port number (0-65535)`);
  return n;
}

function envWebToken(value: string): string {
  if (value.length < MIN_WEB_TOKEN_LENGTH || /\s/.test(value)) {
    // The value itself is a secret: never echoed.
    throw new ConfigError(`PICOFLOW_WEB_TOKEN: must be at least ${MIN_WEB_TOKEN_LENGTH} characters without spaces (got ${value.length}; for example: openssl rand -hex 24)`);
  }
  return value;
}

/** Resolve settings once; nothing else reads process.env for PicoFlow's own settings. */
export function resolveSettings({ flags, env, cwd, home }: ResolveInput): Settings {
  const s: Settings = structuredClone(DEFAULTS);

  if (flags.config === "") throw new ConfigError("--config: must not be empty");
  const explicit = flags.config ?? (env.PICOFLOW_CONFIG || undefined);
  let file: string | undefined;
  if (explicit !== undefined) {
    const named = flags.config !== undefined ? "--config" : "PICOFLOW_CONFIG";
    if (!existsSync(explicit)) throw new ConfigError(`${explicit}: config file not found (named by ${named})`);
    file = explicit;
  } else {
    file = configSearchPath(cwd, home).find((p) => existsSync(p));
  }
  if (file) {
    const c = readConfigFile(file);
    s.configFile = file;
    if (c.db_path !== undefined) [s.dbPath, s.dbPathSource] = [c.db_path, "config file"];
    if (c.log_level !== undefined) s.logLevel = c.log_level;
    if (c.log_format !== undefined) s.logFormat = c.log_format;
    Object.assign(s.metrics, strip({ enabled: c.metrics?.enabled, port: c.metrics?.port, bindAddress: c.metrics?.bind_address }));
    Object.assign(s.web, strip({ enabled: c.web?.enabled, token: c.web?.token }));
    Object.assign(
      s.retry,
      strip({
        defaultCount: c.retry?.default_count,
        maxBackoffSeconds: c.retry?.max_backoff_seconds,
        backoffMultiplier: c.retry?.backoff_multiplier,
      }),
    );
    Object.assign(
      s.timeout,
      strip({
        defaultSeconds: c.timeout?.default_seconds,
        maxSeconds: c.timeout?.max_seconds,
        killGraceSeconds: c.timeout?.kill_grace_seconds,
      }),
    );
    if (c.execution?.max_parallel !== undefined) s.execution.maxParallel = c.execution.max_parallel;
    Object.assign(
      s.logs,
      strip({
        retentionDays: c.logs?.retention_days,
        maxSizeMb: c.logs?.max_size_mb,
        cleanupEnabled: c.logs?.cleanup_enabled,
      }),
    );
    Object.assign(
      s.daemon,
      strip({
        shutdownGraceSeconds: c.daemon?.shutdown_grace_seconds,
        cleanupIntervalSeconds: c.daemon?.cleanup_interval_seconds,
        heartbeatSeconds: c.daemon?.heartbeat_seconds,
        databaseCheckSeconds: c.daemon?.database_check_seconds,
      }),
    );
    if (c.notify) {
      const n = c.notify;
      if (n.url !== undefined) s.notify.target = { url: n.url, format: n.format ?? "json", on: [...new Set(n.on ?? DEFAULT_NOTIFY_ON)] };
      Object.assign(s.notify, strip({ timeoutSeconds: n.timeout_seconds, attempts: n.attempts, backoffSeconds: n.backoff_seconds }));
    }
  }

  if (env.PICOFLOW_DB_PATH) [s.dbPath, s.dbPathSource] = [env.PICOFLOW_DB_PATH, "PICOFLOW_DB_PATH"];
  if (env.PICOFLOW_LOG_LEVEL) s.logLevel = pickEnum(env.PICOFLOW_LOG_LEVEL, LOG_LEVELS, "PICOFLOW_LOG_LEVEL");
  if (env.PICOFLOW_LOG_FORMAT) s.logFormat = pickEnum(env.PICOFLOW_LOG_FORMAT, LOG_FORMATS, "PICOFLOW_LOG_FORMAT");
  if (env.PICOFLOW_METRICS_PORT) s.metrics.port = envPort(env.PICOFLOW_METRICS_PORT);
  if (env.PICOFLOW_WEB_TOKEN) s.web.token = envWebToken(env.PICOFLOW_WEB_TOKEN);

  if (flags.dbPath !== undefined) {
    if (flags.dbPath === "") throw new ConfigError("--db-path: must not be empty");
    [s.dbPath, s.dbPathSource] = [flags.dbPath, "--db-path"];
  }
  if (flags.logLevel !== undefined) s.logLevel = pickEnum(flags.logLevel, LOG_LEVELS, "--log-level");
  if (flags.logFormat !== undefined) s.logFormat = pickEnum(flags.logFormat, LOG_FORMATS, "--log-format");
  return s;
}

/**
 * The database path and where it came from, for messages about it: "picoflow.db (the default;
 * set --db-path, PICOFLOW_DB_PATH or db_path in a config file)", "/x.db (from --db-path)".
 */
export function describeDbPath(s: Pick<Settings, "dbPath" | "dbPathSource" | "configFile">): string {
  switch (s.dbPathSource) {
    case "default":
      return `${s.dbPath} (the default; set --db-path, PICOFLOW_DB_PATH or db_path in a config file)`;
    case "config file":
      return `${s.dbPath} (db_path in ${s.configFile})`;
    default:
      return `${s.dbPath} (from ${s.dbPathSource})`;
  }
}

function strip<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function defaultResolveInput(flags: FlagValues): ResolveInput {
  return { flags, env: process.env, cwd: process.cwd(), home: homedir() };
}
