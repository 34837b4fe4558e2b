// `picoflow daemon start FILE... | stop | status`: cac has no nested subcommands, so one
// command takes the action as its first argument and dispatches.

import { unlinkSync } from "node:fs";
import { resolve } from "node:path";
import { runDaemon } from "../daemon/daemon.ts";
import { defaultPidFile, pidFileState, runningDaemons } from "../daemon/pidfile.ts";
import { nextRunAt } from "../daemon/scheduler.ts";
import type { Settings } from "../config.ts";
import { ConfigError, nearest, PicoflowError, systemErrorText } from "../errors.ts";
import { buildLabel, VERSION } from "../version.ts";
import { readDaemonState, type DaemonState } from "../store/daemon-state.ts";
import { openDatabase } from "../store/db.ts";
import { pausedWorkflows } from "../store/pauses.ts";
import { isProcessAlive, residentBytes } from "../sys/proc.ts";
import { askDaemon, DaemonUnreachable, socketPathFor } from "../daemon/control.ts";
import type { ReloadReport } from "../daemon/reload.ts";
import { createContext, loadOptions, type CliContext, type GlobalOptions } from "./context.ts";
import { formatDuration, localTime, table } from "./format.ts";

export interface DaemonFlags extends GlobalOptions {
  pidFile?: string;
  timeout?: string | number;
  format?: string;
  strict?: boolean;
}

const ACTIONS = ["start", "stop", "status", "reload"] as const;

export async function daemonCommand(action: string, files: string[], opts: DaemonFlags): Promise<void> {
  if (!(ACTIONS as readonly string[]).includes(action)) {
    const near = nearest(action, ACTIONS);
    throw new ConfigError(`unknown daemon action '${action}' (${near ? `did you mean '${near}'? ` : ""}use: daemon start FILE..., daemon stop, daemon status, daemon reload)`);
  }
  if (action !== "start" && files.length) throw new ConfigError(`daemon ${action} takes no workflow files (got '${files[0]}')`);
  if (opts.pidFile !== undefined && (typeof opts.pidFile !== "string" || opts.pidFile === "")) {
    throw new ConfigError("--pid-file: expects a path");
  }
  if (opts.format !== undefined && action !== "status" && action !== "reload") throw new ConfigError(`--format applies to 'daemon status' and 'daemon reload' only`);
  if (opts.timeout !== undefined && action !== "stop") throw new ConfigError(`--timeout applies to 'daemon stop' only`);
  if (opts.strict !== undefined && action !== "start") throw new ConfigError(`--strict applies to 'daemon start' only`);
  const ctx = createContext(opts);
  const pidFile = resolve(opts.pidFile ?? defaultPidFile(ctx.settings.dbPath));
  if (action === "start") return start(ctx, files, pidFile, opts);
  if (action === "stop") return stop(ctx, pidFile, opts.timeout);
  if (action === "reload") return reload(ctx, pidFile, opts.format);
  return status(ctx, pidFile, opts.format);
}

async function start(ctx: CliContext, files: string[], pidFile: string, opts: DaemonFlags): Promise<void> {
  if (!files.length) throw new ConfigError("daemon start needs at least one workflow file, directory or pattern");
  const code = await runDaemon({
    args: files,
    cwd: process.cwd(),
    settings: ctx.settings,
    log: ctx.log,
    env: ctx.env,
    loadOptionsFor: (settings: Settings) => loadOptions({ ...ctx, settings }),
    // Settings and logger resolved again as at start (same flags and environment): on SIGHUP,
    // only the config file can have changed.
    reloadConfig: () => {
      const fresh = createContext(opts);
      return { settings: fresh.settings, log: fresh.log };
    },
    strict: Boolean(opts.strict),
    pidFile,
    version: VERSION,
  });
  process.exitCode = code;
}

async function stop(ctx: CliContext, pidFile: string, timeoutOpt: string | number | undefined): Promise<void> {
  const { settings } = ctx;
  let timeout = settings.daemon.shutdownGraceSeconds + settings.timeout.killGraceSeconds + 15;
  if (timeoutOpt !== undefined) {
    const n = Number(timeoutOpt);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`--timeout: '${timeoutOpt}' is not a number of seconds`);
    timeout = n;
  }
  const st = pidFileState(pidFile);
  if (st.state === "missing") throw new PicoflowError(`no daemon is using the PID file ${pidFile} (no such file); ${elsewhere(ctx.settings)}`, 1);
  if (st.state === "stale") {
    try {
      unlinkSync(pidFile);
    } catch {}
    throw new PicoflowError(`no daemon is running (stale PID file ${pidFile}: ${st.why}; removed it)`, 1);
  }
  try {
    process.kill(st.pid, "SIGTERM");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ESRCH") throw new PicoflowError(`no daemon is running (process ${st.pid} is gone)`, 1);
    if (code === "EPERM") throw new PicoflowError(`cannot signal the daemon (pid ${st.pid}): permission denied; run as its user`, 1);
    throw new PicoflowError(`cannot signal the daemon (pid ${st.pid}): ${systemErrorText(err)}`, 1);
  }
  ctx.log.info("sent SIGTERM to the daemon", { pid: st.pid, timeout_seconds: timeout });
  const t0 = Date.now();
  while (isProcessAlive(st.pid, st.identity)) {
    if (Date.now() - t0 > timeout * 1000) {
      throw new PicoflowError(
        `the daemon (pid ${st.pid}) is still running ${timeout}s after SIGTERM; it may still be finishing workflows (see its log)`,
        1,
      );
    }
    await Bun.sleep(100);
  }
  ctx.out(`Daemon stopped (pid ${st.pid}) after ${formatDuration((Date.now() - t0) / 1000)}\n`);
}

/**
 * Where else to look, when there is no PID file where this command looked. Usually `daemon
 * stop` or `status` was run from another directory: another config file (or none), so
 * another database, and the PID file is looked for beside the database.
 */
function elsewhere(settings: StatusSettings): string {
  const how = "--db-path, --pid-file, or db_path in the config file";
  const others = runningDaemons();
  if (others.length) {
    const list = others.map((d) => `pid ${d.pid}${d.dbPath ? ` (database ${d.dbPath})` : ""}`).join(", ");
    const which = others.length === 1 ? "a picoflow daemon of yours is running" : "picoflow daemons of yours are running";
    return `but ${which}: ${list}; point at it with ${how}`;
  }
  const config = settings.configFile ? `the config file ${settings.configFile}` : "no config file (none found)";
  return (
    `a daemon started with another database has its PID file next to that database: point at it with ${how} ` +
    `(this command used the database ${resolve(settings.dbPath)} and ${config})`
  );
}

export interface StatusReport {
  status: "running" | "stopped";
  pid: number | null;
  pid_file: string;
  note?: string;
  /** For a missing PID file: where else the daemon may be, and how to point at it. */
  hint?: string;
  started_at?: string;
  uptime_seconds?: number;
  rss_bytes?: number | null;
  /** When the daemon last wrote its state: it does at every change (run start and end, reload). */
  updated_at?: string;
  version?: string;
  /** The daemon's build: the full commit SHA ("-dirty" marked) or "source", and that commit's date (null from source). */
  commit?: string;
  commit_date?: string | null;
  metrics_url?: string | null;
  workflows?: {
    name: string;
    file: string;
    schedule: string | null;
    timezone: string | null;
    next_run: string | null;
    running: boolean;
    /** Its schedule is paused (`workflow pause`): read from the database, where the pause is kept. */
    paused: boolean;
    error: string | null;
    /** Live status only: the execution going now and its tasks with an attempt running. */
    execution_id?: string | null;
    running_tasks?: string[];
  }[];
  /** Workflow files that failed the daemon's last load; `workflow`: whose last good version is kept. */
  invalid_files?: { file: string; workflow: string | null; problems: string[] }[];
  /** Where the report comes from: the daemon's control socket (live) or its state row. */
  source?: "daemon" | "database";
}

async function status(ctx: CliContext, pidFile: string, format: string | undefined): Promise<void> {
  if (format !== undefined && format !== "table" && format !== "json") {
    throw new ConfigError(`--format: '${format}' is not one of table, json`);
  }
  // Live from the daemon when it answers; else what its state row in the database says.
  const report = (await liveStatus(ctx, pidFile)) ?? storedStatus(ctx.settings, pidFile);
  if (format === "json") ctx.out(JSON.stringify(report, null, 2) + "\n");
  else ctx.out(renderStatus(report));
  if (report.status !== "running") process.exitCode = 1;
}

/** What `daemon status` reads: the database and where the config came from. */
type StatusSettings = Pick<Settings, "dbPath" | "configFile">;

/**
 * `daemon status --format json` without asking the daemon: its PID file and the state row it
 * last wrote. Also the API's GET /api/v1/daemon under `picoflow dashboard` (no daemon there).
 */
export function storedStatus(settings: StatusSettings, pidFile: string): StatusReport {
  return { ...buildStatus(settings, pidFile), source: "database" };
}

function buildStatus(settings: StatusSettings, pidFile: string): StatusReport {
  const st = pidFileState(pidFile);
  if (st.state === "missing") return { status: "stopped", pid: null, pid_file: pidFile, note: "no PID file", hint: elsewhere(settings) };
  if (st.state === "stale") return { status: "stopped", pid: st.pid, pid_file: pidFile, note: `stale PID file: ${st.why}` };
  let state: DaemonState | null = null;
  let paused = new Map<string, string>();
  let note: string | undefined;
  try {
    const db = openDatabase(settings.dbPath, { readonly: true });
    try {
      state = readDaemonState(db, settings.dbPath, pidFile);
      paused = pausedWorkflows(db);
    } finally {
      db.close();
    }
  } catch (err) {
    note = `cannot read its state: ${(err as Error).message}`;
  }
  // The row must be this very process's: a row left by a daemon killed with -9 is not.
  if (state && (state.pid !== st.pid || (st.identity !== null && state.identity !== st.identity))) state = null;
  if (!state) {
    return {
      status: "running",
      pid: st.pid,
      pid_file: pidFile,
      note: note ?? `no state reported in ${settings.dbPath} (starting up, or the daemon uses another --db-path)`,
      rss_bytes: residentBytes(st.pid),
    };
  }
  const now = new Date();
  const started = new Date(state.startedAt);
  return {
    status: "running",
    pid: st.pid,
    pid_file: pidFile,
    started_at: state.startedAt,
    uptime_seconds: Math.max(0, Math.round((now.getTime() - started.getTime()) / 1000)),
    // Live from /proc when we may read it; else what the daemon reported at its last write.
    rss_bytes: residentBytes(st.pid) ?? state.rssBytes,
    updated_at: state.heartbeatAt,
    version: state.version,
    // Not known when an older daemon wrote the row: left out.
    ...(state.commit !== undefined ? { commit: state.commit, commit_date: state.commitDate ?? null } : {}),
    metrics_url: state.metricsUrl,
    workflows: state.workflows.map((w) => ({
      name: w.name,
      file: w.file,
      schedule: w.schedule,
      timezone: w.timezone,
      next_run: currentNextRun(w.schedule, w.timezone, w.nextRun, now),
      running: w.running,
      paused: paused.has(w.name),
      error: w.error,
    })),
    invalid_files: (state.invalidFiles ?? []).map((f) => ({ file: f.file, workflow: f.workflow, problems: f.problems })),
  };
}

/**
 * The daemon writes a workflow's next trigger time when it fires; one that has passed has
 * fired since (a write may have failed), so the following trigger of the same schedule (the
 * daemon's schedule) is shown.
 */
function currentNextRun(schedule: string | null, tz: string | null, reported: string | null, now: Date): string | null {
  if (!schedule || !reported) return reported;
  if (Date.parse(reported) > now.getTime()) return reported;
  try {
    return nextRunAt(schedule, tz ?? undefined, now)?.toISOString() ?? null;
  } catch {
    return reported;
  }
}

/** "42s", "5m07s", "3h05m", "2d04h". */
function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const p = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${p(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${p(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${p(Math.floor(s / 3600) % 24)}h`;
}

function mib(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? "-" : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function renderStatus(r: StatusReport): string {
  if (r.status === "stopped") {
    return `Daemon:    stopped (${r.note})\nPID file:  ${r.pid_file}\n` + (r.hint ? `Hint:      ${r.hint}\n` : "");
  }
  let s = `Daemon:    running\nPID:       ${r.pid}\nPID file:  ${r.pid_file}\n`;
  if (!r.workflows) return s + `Memory:    ${mib(r.rss_bytes)} resident\nNote:      ${r.note}\n`;
  s += `Started:   ${localTime(r.started_at)} (up ${formatUptime(r.uptime_seconds ?? 0)})\n`;
  s += `Memory:    ${mib(r.rss_bytes)} resident\n`;
  s += `Version:   ${r.version}${r.commit ? ` (${buildLabel(r.commit, r.commit_date ?? null)})` : ""}\n`;
  // Live: asked through the control socket; else the state row the daemon last wrote.
  s += r.source === "daemon" ? `State:     live from the daemon\n` : `Updated:   ${localTime(r.updated_at)} (from the database)\n`;
  if (r.metrics_url) s += `Metrics:   ${r.metrics_url}\n`;
  const scheduled = r.workflows.filter((w) => w.schedule).length;
  const invalid = r.invalid_files ?? [];
  const bad = invalid.length ? `, ${invalid.length} invalid file${invalid.length === 1 ? "" : "s"}` : "";
  s += `Workflows: ${r.workflows.length} loaded, ${scheduled} scheduled${bad}\n`;
  if (r.workflows.length) s += "\n" + workflowTable(r.workflows);
  const going = r.workflows.filter((w) => w.execution_id);
  if (going.length) {
    s += "\nRunning now:\n";
    for (const w of going) s += `  ${w.name}: execution ${w.execution_id}${w.running_tasks?.length ? `, tasks ${w.running_tasks.join(", ")}` : ""}\n`;
  }
  if (invalid.length) s += "\n" + invalidFiles(invalid);
  return s;
}

function workflowTable(workflows: NonNullable<StatusReport["workflows"]>): string {
  const rows = workflows.map((w) => [
    w.name,
    w.schedule ?? "(none)",
    w.timezone ?? "local",
    w.schedule ? localTime(w.next_run) : "-",
    [w.running ? "running" : w.paused ? "" : "idle", w.paused ? "paused" : ""].filter(Boolean).join(", "),
    w.error ? `invalid on reload, last good version kept: ${w.error.split("\n")[0]}` : w.file,
  ]);
  return table(["WORKFLOW", "SCHEDULE", "TIMEZONE", "NEXT RUN", "STATE", "FILE"], rows);
}

/** Each invalid file, what became of it, and its problems (masked by the loader, as in `validate`). */
function invalidFiles(files: NonNullable<StatusReport["invalid_files"]>): string {
  let s = "Invalid files (fix them, then reload with SIGHUP):\n";
  for (const f of files) {
    s += `  ${f.file}: ${f.workflow === null ? "not loaded" : `last good version of '${f.workflow}' still scheduled`}\n`;
    for (const p of f.problems) s += `    ${p}\n`;
  }
  return s;
}

/** How long `daemon status` waits for the daemon's answer before it reads the database instead. */
const LIVE_STATUS_WAIT_MS = 3000;

/**
 * The daemon's live state through its control socket, or null when it does not answer (none
 * running, an older daemon without a socket, a socket we may not use): the caller falls back
 * to the state row. Pauses are read from the database, where they are kept.
 */
async function liveStatus(ctx: CliContext, pidFile: string): Promise<StatusReport | null> {
  let live: Record<string, any> | undefined;
  try {
    await askDaemon(socketPathFor(pidFile), { op: "status" }, (a) => ((live = a), true), "", LIVE_STATUS_WAIT_MS);
  } catch (err) {
    if (err instanceof DaemonUnreachable || err instanceof PicoflowError) return null;
    throw err;
  }
  if (!live) return null;
  return liveReport(live, pidFile, pausedNow(ctx.settings.dbPath));
}

/** `daemon status --format json` from the daemon's live status (the control op's answer); the API's GET /api/v1/daemon too. */
export function liveReport(live: Record<string, any>, pidFile: string, paused: Map<string, string>): StatusReport {
  return {
    status: "running",
    pid: live.pid,
    pid_file: pidFile,
    started_at: live.started_at,
    uptime_seconds: live.uptime_seconds,
    rss_bytes: live.rss_bytes,
    version: live.version,
    ...(typeof live.commit === "string" ? { commit: live.commit, commit_date: live.commit_date ?? null } : {}),
    metrics_url: live.metrics_url,
    workflows: (live.workflows ?? []).map((w: Record<string, any>) => ({
      name: w.name,
      file: w.file,
      schedule: w.schedule,
      timezone: w.timezone,
      next_run: w.next_run,
      running: w.running,
      paused: paused.has(w.name),
      error: w.error,
      execution_id: w.execution_id ?? null,
      running_tasks: w.running_tasks ?? [],
    })),
    invalid_files: live.invalid_files ?? [],
    source: "daemon",
  };
}

/**
 * The paused workflows as the database says; none when it cannot be read (or predates pauses),
 * after telling `unreadable` why. Also the API's GET /api/v1/daemon.
 */
export function pausedNow(dbPath: string, unreadable: (err: unknown) => void = () => {}): Map<string, string> {
  try {
    const db = openDatabase(dbPath, { readonly: true });
    try {
      return pausedWorkflows(db);
    } finally {
      db.close();
    }
  } catch (err) {
    unreadable(err);
    return new Map();
  }
}

/** `daemon reload`: the daemon reads its config and workflow files again and says what became of each. */
async function reload(ctx: CliContext, pidFile: string, format: string | undefined): Promise<void> {
  if (format !== undefined && format !== "table" && format !== "json") {
    throw new ConfigError(`--format: '${format}' is not one of table, json`);
  }
  let report: ReloadReport | undefined;
  const socket = socketPathFor(pidFile);
  const hint = `is the daemon running? ('picoflow daemon status'); a daemon without a control socket reloads on SIGHUP`;
  await askDaemon(socket, { op: "reload" }, (a) => ((report = a as unknown as ReloadReport), true), hint, 60_000);
  if (!report) throw new PicoflowError(`the daemon on ${socket} closed the connection without an answer`, 1);
  const { config, files } = report;
  if (format === "json") ctx.out(JSON.stringify({ config, files }, null, 2) + "\n");
  else ctx.out(renderReload(report));
  // The last good version of each workflow is kept either way; the exit code says whether all is well.
  if (files.some((f) => f.result === "invalid")) process.exitCode = 2;
  else if (config.error !== null) process.exitCode = 4;
}

function renderReload(r: ReloadReport): string {
  let s = "";
  if (r.config.error !== null) s += `Config file: invalid, settings in use kept: ${r.config.error}\n`;
  else s += `Config file: ${r.config.file ?? "(none)"} reloaded\n`;
  for (const name of r.config.restart_needed) s += `  ${name}: changed; restart the daemon to apply it\n`;
  const counts = (["loaded", "unchanged", "removed", "invalid"] as const).map((k) => [k, r.files.filter((f) => f.result === k).length] as const);
  s += `Workflow files: ${counts.map(([k, n]) => `${n} ${k}`).join(", ")}\n\n`;
  const rows = r.files.map((f) => [f.result, f.workflow ?? "-", f.file, note(f)]);
  s += table(["RESULT", "WORKFLOW", "FILE", "NOTE"], rows);
  const detailed = r.files.filter((f) => f.messages.length);
  for (const f of detailed) {
    s += `\n${f.file}:\n`;
    for (const m of f.messages) s += `  ${m}\n`;
  }
  return s;
}

function note(f: ReloadReport["files"][number]): string {
  if (f.result === "invalid") return f.workflow === null ? "not loaded" : "last good version kept";
  if (f.result === "removed") return "unscheduled";
  return f.messages.length ? `${f.messages.length} warning${f.messages.length === 1 ? "" : "s"}` : "";
}
