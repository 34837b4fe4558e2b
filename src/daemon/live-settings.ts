// The daemon's settings across SIGHUP: the config file is read again the way `daemon start`
// read it (config.ts resolveSettings), and each setting that changed is either applied live
// or named as needing a restart. Live: the logger, the shared task slots, retention, the
// [daemon] timers and the defaults of runs that start later. Not live: what the daemon opened
// or bound at start (its database, and with it the PID file beside it; the metrics server).

import type { Settings } from "../config.ts";
import type { Logger, LogLevel } from "../log.ts";
import { sha256Hex } from "../sys/hash.ts";

/** A setting, named as in the config file. */
interface Key {
  name: string;
  get: (s: Settings) => unknown;
}

const LIVE: Key[] = [
  { name: "log_level", get: (s) => s.logLevel },
  { name: "log_format", get: (s) => s.logFormat },
  { name: "[execution] max_parallel", get: (s) => s.execution.maxParallel },
  { name: "[logs] retention_days", get: (s) => s.logs.retentionDays },
  { name: "[logs] max_size_mb", get: (s) => s.logs.maxSizeMb },
  { name: "[logs] cleanup_enabled", get: (s) => s.logs.cleanupEnabled },
  { name: "[retry] default_count", get: (s) => s.retry.defaultCount },
  { name: "[retry] max_backoff_seconds", get: (s) => s.retry.maxBackoffSeconds },
  { name: "[retry] backoff_multiplier", get: (s) => s.retry.backoffMultiplier },
  { name: "[timeout] default_seconds", get: (s) => s.timeout.defaultSeconds },
  { name: "[timeout] max_seconds", get: (s) => s.timeout.maxSeconds },
  { name: "[timeout] kill_grace_seconds", get: (s) => s.timeout.killGraceSeconds },
  { name: "[daemon] shutdown_grace_seconds", get: (s) => s.daemon.shutdownGraceSeconds },
  { name: "[daemon] cleanup_interval_seconds", get: (s) => s.daemon.cleanupIntervalSeconds },
  { name: "[daemon] database_check_seconds", get: (s) => s.daemon.databaseCheckSeconds },
  // Compared as text (the target is an object); only the names are logged, never the URL.
  { name: "[notify] url, format, on", get: (s) => JSON.stringify(s.notify.target) },
  { name: "[notify] timeout_seconds", get: (s) => s.notify.timeoutSeconds },
  { name: "[notify] attempts", get: (s) => s.notify.attempts },
  { name: "[notify] backoff_seconds", get: (s) => s.notify.backoffSeconds },
];

const RESTART: Key[] = [
  { name: "db_path", get: (s) => s.dbPath },
  { name: "[metrics] enabled", get: (s) => s.metrics.enabled },
  { name: "[metrics] port", get: (s) => s.metrics.port },
  { name: "[metrics] bind_address", get: (s) => s.metrics.bindAddress },
  { name: "[web] enabled", get: (s) => s.web.enabled },
  // Reported by a digest's start, never the token itself (the reload answer and log show it).
  { name: "[web] token", get: (s) => (s.web.token === null ? "(none)" : `(set, sha256 ${sha256Hex(s.web.token).slice(0, 8)}…)`) },
];

export interface SettingsChanges {
  /** Names of the changed settings that take effect now. */
  live: string[];
  /** Changed settings that keep their old value until a restart. */
  restart: { setting: string; running: unknown; configured: unknown }[];
}

/** What differs between the settings in use and those just read. */
export function compareSettings(before: Settings, after: Settings): SettingsChanges {
  const differs = (k: Key) => k.get(before) !== k.get(after);
  return {
    live: LIVE.filter(differs).map((k) => k.name),
    restart: RESTART.filter(differs).map((k) => ({ setting: k.name, running: k.get(before), configured: k.get(after) })),
  };
}

/**
 * The settings to apply: the new ones, except what needs a restart, which keeps its running
 * value (so the daemon never reports or uses a database or port it does not have).
 */
export function applicableSettings(before: Settings, after: Settings): Settings {
  return { ...after, dbPath: before.dbPath, metrics: before.metrics, web: before.web };
}

/** A logger whose level and format can be replaced while everything holds on to it. */
export interface SwitchableLogger extends Logger {
  use(inner: Logger): void;
}

export function switchableLogger(initial: Logger): SwitchableLogger {
  let inner = initial;
  return {
    get level(): LogLevel {
      return inner.level;
    },
    use: (l) => (inner = l),
    enabled: (l) => inner.enabled(l),
    error: (m, f) => inner.error(m, f),
    warn: (m, f) => inner.warn(m, f),
    info: (m, f) => inner.info(m, f),
    debug: (m, f) => inner.debug(m, f),
    trace: (m, f) => inner.trace(m, f),
  };
}
