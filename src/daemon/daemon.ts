// The daemon: loads workflow files, triggers scheduled runs (one at a time per workflow),
// bounds tasks across all runs with one Limiter, writes its state row for `daemon status`
// whenever that state changes (and never while idle), serves /metrics and /healthz, applies
// log retention, reloads workflow files and the config file on SIGHUP and stops gracefully
// on SIGTERM/SIGINT. Runs in the foreground (systemd Type=simple).

import { RunEvents } from "../engine/events.ts";
import { DEFAULT_MAX_PARALLEL, Limiter } from "../engine/limiter.ts";
import { OUTPUT_LIMIT, runWorkflow } from "../engine/runner.ts";
import type { Settings } from "../config.ts";
import { DatabaseError, messageOf, NetworkError } from "../errors.ts";
import { executors } from "../executors/index.ts";
import type { StopReason } from "../executors/types.ts";
import type { Logger } from "../log.ts";
import type { LoadOptions } from "../workflow/load.ts";
import type { Metrics } from "../metrics.ts";
import {
  clearDaemonState,
  recordSkippedRun,
  writeDaemonState,
  type DaemonInvalidFile,
  type DaemonWorkflowState,
} from "../store/daemon-state.ts";
import { openDatabase, type Database } from "../store/db.ts";
import { closeFailedRecording, recoverOrphans, SqliteRecorder, type Owner } from "../store/recorder.ts";
import { abandonDatabase } from "../store/abandon.ts";
import { applyRetention } from "../store/retention.ts";
import { isProcessAlive, residentBytes, selfIdentity } from "../sys/proc.ts";
import { stopLeftovers } from "../sys/process.ts";
import { onSignals, STRAY_SIGNALS, type SignalName } from "../sys/signals.ts";
import type { Workflow } from "../workflow/types.ts";
import { DatabaseGuard } from "./db-guard.ts";
import { applicableSettings, compareSettings, switchableLogger } from "./live-settings.ts";
import { OwedRuns } from "./owed-runs.ts";
import { acquirePidFile, type PidFileHandle } from "./pidfile.ts";
import { compileSchedule, planTick, type Schedule } from "./scheduler.ts";
import { expandArguments } from "./sources.ts";
import { loadFiles, startRefusal, type InvalidFile } from "./workflow-files.ts";

/** The daemon's global max_parallel when [execution] max_parallel is not set: the same default as `run`'s. */
export const DEFAULT_DAEMON_MAX_PARALLEL = DEFAULT_MAX_PARALLEL;

/** How often the daemon looks whether log retention is due. */
const CLEANUP_CHECK_MS = 60_000;

export interface DaemonOptions {
  /** Workflow arguments as given: files, directories or unexpanded patterns. */
  args: string[];
  cwd: string;
  settings: Settings;
  log: Logger;
  env: Record<string, string | undefined>;
  /** How workflow files are loaded under these settings (their retry and timeout defaults). */
  loadOptionsFor: (s: Settings) => LoadOptions;
  /**
   * Read the config file again (SIGHUP) as at start: the settings, and a logger for their
   * level and format. Throws a ConfigError when the file is broken.
   */
  reloadConfig: () => { settings: Settings; log: Logger };
  /** Refuse to start when any workflow file is invalid (else only when none is valid). */
  strict: boolean;
  pidFile: string;
  version: string;
}

interface Entry {
  file: string;
  /** The last good version: what is scheduled and run. */
  wf: Workflow;
  schedule: Schedule | null;
  due: Date | null;
  timer?: ReturnType<typeof setTimeout>;
  /** Why the file's current content was rejected at the last reload. */
  error: string | null;
}

interface Running {
  runId?: string;
  startedAt: Date;
  done: Promise<void>;
}

/** Why the daemon stops: a signal, or its database file deleted or replaced under it. */
type StopCause = { kind: "signal"; sig: SignalName } | { kind: "database"; problem: string };

/**
 * Load every file given at start. Invalid files are left out (the daemon logs and reports
 * them); the start is refused before anything runs (exit 2, or 5 for unreadable files) when
 * no file is valid, or with --strict when any file is invalid.
 */
function loadAtStart(o: DaemonOptions, log: Logger): { entries: Map<string, Entry>; invalid: InvalidFile[] } {
  const exp = expandArguments(o.args, o.cwd);
  for (const a of exp.empty) log.warn("no workflow files match", { argument: a });
  const outcomes = loadFiles(exp.files, o.loadOptionsFor(o.settings), new Map());
  const refusal = startRefusal(outcomes, o.strict);
  if (refusal) throw refusal;
  const entries = new Map<string, Entry>();
  const invalid: InvalidFile[] = [];
  for (const x of outcomes) {
    if (x.wf) entries.set(x.file, newEntry(x.file, x.wf));
    else invalid.push(x);
    if (x.wf) logWarnings(log, x.file, x.wf);
  }
  return { entries, invalid };
}

/** The loader's warnings (an unset ${VAR}, a program not found), one log line each, at every load. */
function logWarnings(log: Logger, file: string, wf: Workflow): void {
  for (const w of wf.warnings ?? []) log.warn("workflow file has a warning", { workflow: wf.name, file, warning: w });
}

function newEntry(file: string, wf: Workflow): Entry {
  return { file, wf, schedule: wf.schedule ? compileSchedule(wf.schedule, wf.timezone) : null, due: null, error: null };
}

/**
 * Run the daemon until SIGTERM/SIGINT. Returns the exit code: 0 graceful, 9 if runs had to be
 * killed. Throws a DatabaseError (exit 6) when its database file was deleted or replaced.
 */
export async function runDaemon(o: DaemonOptions): Promise<number> {
  // Both change on SIGHUP (the config file is read again); everything holds on to `log`.
  let settings = o.settings;
  const log = switchableLogger(o.log);
  const loaded = loadAtStart(o, log);
  const entries = loaded.entries;
  // The files that failed the last load (start or reload), with their problems.
  let invalid = loaded.invalid;

  // The database first: a wrong --db-path is reported as such, not as a PID file problem.
  const database: Database = openDatabase(settings.dbPath);
  let pid: PidFileHandle;
  let guard: DatabaseGuard;
  try {
    guard = new DatabaseGuard(settings.dbPath);
    pid = acquirePidFile(o.pidFile);
  } catch (err) {
    database.close();
    throw err;
  }
  if (pid.replaced) log.warn("replaced a stale PID file", { pid_file: pid.path, reason: pid.replaced.why });

  let stopServer: (() => Promise<void>) | undefined;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let unsubscribe: (() => void) | undefined;
  // Set when the database file was deleted or replaced: closes the connection without a write.
  let closeAbandoned: (() => void) | undefined;
  // A stray SIGUSR1/SIGUSR2/SIGALRM would otherwise kill the daemon and every schedule with
  // it; systemd stops it with SIGTERM. Ignored (and logged) from the start.
  const unsubscribeStray = onSignals(STRAY_SIGNALS, (sig) => log.warn("signal ignored (stop the daemon with SIGTERM)", { signal: sig }));
  const owner: Owner = { pid: process.pid, identity: selfIdentity() };
  try {
    const path = settings.dbPath;
    const closed = await recoverOrphans(database, path, isProcessAlive, stopLeftovers);
    if (closed.length) log.warn("closed runs whose process is gone", { executions: closed });

    let stopping = false;
    let requestStop!: (cause: StopCause) => void;
    const stopped = new Promise<StopCause>((resolve) => (requestStop = resolve));
    // Set once the database file is no longer the one opened: nothing is written after that.
    let lost: string | null = null;
    /** Is the open database still the file at its path? If not: log, stop, exit 6. */
    const databaseIntact = (): boolean => {
      if (lost !== null) return false;
      const problem = guard.problem();
      if (problem === null) return true;
      lost = problem;
      closeAbandoned = abandonDatabase(database, path);
      log.error("database file deleted or replaced; the daemon stops", { db_path: path, problem });
      stopping = true;
      requestStop({ kind: "database", problem });
      return false;
    };

    const cleanup = () => {
      if (!settings.logs.cleanupEnabled || !databaseIntact()) return;
      try {
        const r = applyRetention(database, path, settings.logs, new Date());
        log.info("log retention applied", {
          deleted_by_age: r.deletedByAge,
          deleted_by_size: r.deletedBySize,
          bytes_before: r.bytesBefore,
          bytes_after: r.bytesAfter,
        });
      } catch (err) {
        log.error("log retention failed", { error: messageOf(err) });
      }
    };
    cleanup();

    const recorder = new SqliteRecorder(database, owner, path);
    for (const e of entries.values()) recorder.noteWorkflow(e.wf);
    // Retried on a timer of its own, only while something is owed, as often as the database is checked.
    const owed = new OwedRuns((runId, reason, endedAt, seconds) => closeFailedRecording(database, path, runId, reason, endedAt, seconds), log, {
      everyMs: () => settings.daemon.databaseCheckSeconds * 1000,
      mayWrite: databaseIntact,
    });

    // Changed by a reload: runs that start later use the new value, the shared slots are resized.
    let maxParallel = settings.execution.maxParallel ?? DEFAULT_DAEMON_MAX_PARALLEL;
    const slots = new Limiter(maxParallel);
    const stopRuns = new AbortController();
    const running = new Map<string, Running>();
    const startedAt = new Date();

    let metrics: Metrics | undefined;
    let metricsUrl: string | null = null;
    if (settings.metrics.enabled) {
      // Loaded only when enabled: prom-client costs memory on a Pi.
      const [{ createMetrics }, { startMetricsServer }] = await Promise.all([import("../metrics.ts"), import("../sys/http-server.ts")]);
      const m = createMetrics();
      metrics = m;
      let server;
      try {
        server = await startMetricsServer({
          metrics: m,
          port: settings.metrics.port,
          hostname: settings.metrics.bindAddress,
          log,
          health: () => health(),
        });
      } catch (err) {
        // Exit 7, the spec's code for a network problem: a port taken (by Prometheus, say) is one.
        throw new NetworkError(
          `cannot serve metrics on ${settings.metrics.bindAddress}:${settings.metrics.port}: ${messageOf(err)} (check [metrics] port and bind_address, or set enabled = false)`,
        );
      }
      stopServer = () => server.stop();
      const host = settings.metrics.bindAddress.includes(":") ? `[${settings.metrics.bindAddress}]` : settings.metrics.bindAddress;
      metricsUrl = `http://${host}:${server.port}/metrics`;
      log.info("serving metrics", { url: metricsUrl, health: metricsUrl.replace(/metrics$/, "healthz") });
    }

    const workflowStates = (): DaemonWorkflowState[] =>
      [...entries.values()].map((e) => ({
        name: e.wf.name,
        file: e.file,
        schedule: e.wf.schedule ?? null,
        timezone: e.wf.timezone ?? null,
        nextRun: e.due?.toISOString() ?? null,
        running: running.has(e.wf.name),
        error: e.error,
      }));

    // Files that failed the last load; `workflow` names the last good version still scheduled.
    const invalidStates = (): DaemonInvalidFile[] =>
      invalid.map((x) => ({ file: x.file, problems: x.problems, workflow: entries.get(x.file)?.wf.name ?? null }));

    const health = () => ({
      // Degraded: some workflow file failed to load, so something meant to run may not.
      status: stopping ? "stopping" : invalid.length ? "degraded" : "ok",
      pid: process.pid,
      version: o.version,
      started_at: startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      running_workflows: [...running.keys()],
      // Field names as in `daemon status --format json` (the state row keeps its own,
      // camelCase), but no error text: /healthz may be read by anyone who can reach the port,
      // and a reload error can quote a workflow's values. Whether a file is invalid is enough.
      workflows: workflowStates().map(({ nextRun, error, ...w }) => ({ ...w, next_run: nextRun, invalid: error !== null })),
      invalid_files: invalid.length,
    });

    // Set when writing the state failed: the database check retries it.
    let stateUnsaved = false;
    /**
     * Write the state row. Called whenever what it holds changes (start, run start and end, a
     * skip, a reload, stopping) and at no other time: `daemon status` is current, and an idle
     * daemon writes nothing (every write wears an SD card).
     */
    const saveState = () => {
      if (!databaseIntact()) return;
      stateUnsaved = false;
      try {
        writeDaemonState(database, path, {
          pidFile: pid.path,
          pid: owner.pid,
          identity: owner.identity,
          startedAt: startedAt.toISOString(),
          heartbeatAt: new Date().toISOString(),
          rssBytes: residentBytes(),
          version: o.version,
          metricsUrl,
          workflows: workflowStates(),
          invalidFiles: invalidStates(),
        });
      } catch (err) {
        stateUnsaved = true;
        log.error("cannot update daemon state", { error: messageOf(err) });
      }
    };

    const trigger = (e: Entry, due: Date) => {
      const wf = e.wf;
      // Never start a run into a database file that is gone or replaced.
      if (!databaseIntact()) return;
      owed.settle();
      const current = running.get(wf.name);
      if (current) {
        const reason = `skipped: previous run ${current.runId ?? "(starting)"} started ${current.startedAt.toISOString()} was still running`;
        log.warn("trigger skipped: previous run still running", { workflow: wf.name, scheduled_for: due.toISOString(), execution_id: current.runId });
        metrics?.skippedRun(wf.name);
        try {
          recordSkippedRun(database, path, wf, owner, reason);
        } catch (err) {
          log.error("cannot record skipped trigger", { workflow: wf.name, error: messageOf(err) });
        }
        saveState(); // its next run moved on
        return;
      }
      log.info("trigger", { workflow: wf.name, scheduled_for: due.toISOString() });
      const events = new RunEvents();
      metrics?.observe(events);
      const entry: Running = { startedAt: new Date(), done: Promise.resolve() };
      events.on("run:start", (ev) => (entry.runId = ev.runId));
      running.set(wf.name, entry);
      saveState();
      entry.done = runWorkflow(wf, {
        executors,
        recorder,
        events,
        log,
        trigger: "schedule",
        signal: stopRuns.signal,
        env: o.env,
        maxParallel: Math.min(wf.maxParallel, maxParallel),
        sharedSlots: slots,
        backoff: { multiplier: settings.retry.backoffMultiplier, maxSeconds: settings.retry.maxBackoffSeconds },
        killGraceMs: settings.timeout.killGraceSeconds * 1000,
        outputLimit: OUTPUT_LIMIT,
      })
        .then(
          () => {},
          (err) => {
            log.error("scheduled run could not be recorded", { workflow: wf.name, execution_id: entry.runId, error: messageOf(err) });
            // Its rows say "running" (or show unfinished attempts): owed an end once writes work.
            if (entry.runId && lost === null) owed.add(entry.runId, err, new Date(), (Date.now() - entry.startedAt.getTime()) / 1000);
          },
        )
        .finally(() => {
          running.delete(wf.name);
          saveState();
        });
    };

    const arm = (e: Entry) => {
      clearTimeout(e.timer);
      e.timer = undefined;
      if (!e.schedule) {
        e.due = null;
        metrics?.setNextRun(e.wf.name, null);
        return;
      }
      const schedule = e.schedule;
      const tick = () => {
        if (stopping || entries.get(e.file) !== e || e.schedule !== schedule) return;
        let sleepMs = 1000;
        try {
          const due = e.due;
          const t = planTick(schedule, due, new Date());
          sleepMs = t.sleepMs;
          if (t.missed > 0) log.warn("triggers missed (clock jump or suspended machine)", { workflow: e.wf.name, missed: t.missed });
          if (t.next?.getTime() !== due?.getTime()) metrics?.setNextRun(e.wf.name, t.next);
          e.due = t.next;
          if (t.fire && due) trigger(e, due);
        } catch (err) {
          // Never let one bad trigger end the schedule.
          log.error("scheduling error", { workflow: e.wf.name, error: messageOf(err) });
        } finally {
          e.timer = setTimeout(tick, sleepMs);
        }
      };
      e.due = schedule.next(new Date());
      metrics?.setNextRun(e.wf.name, e.due);
      if (e.due === null) log.warn("schedule never fires again", { workflow: e.wf.name, schedule: schedule.expr });
      tick();
    };

    const describe = (e: Entry) => ({
      workflow: e.wf.name,
      file: e.file,
      schedule: e.wf.schedule,
      timezone: e.wf.timezone,
      next_run: e.due?.toISOString(),
    });

    /** Log the files that failed the last load; count them for /metrics, /healthz and status. */
    const reportInvalid = (files: InvalidFile[]) => {
      invalid = files;
      metrics?.setLoadErrors(files.length);
      for (const x of files) {
        const kept = entries.get(x.file);
        const error = x.problems.join("\n");
        if (kept) log.error("workflow file is invalid; keeping the last good version scheduled", { workflow: kept.wf.name, file: x.file, error });
        else log.error("workflow file is invalid; not loaded", { file: x.file, error });
      }
    };

    reportInvalid(invalid);
    for (const e of entries.values()) {
      arm(e);
      if (e.schedule) log.info("workflow scheduled", describe(e));
      else log.info("workflow loaded without a schedule; it will not run", { workflow: e.wf.name, file: e.file });
    }

    /** Unschedule a workflow whose file is gone; a run of it that is going finishes. */
    const unschedule = (e: Entry) => {
      clearTimeout(e.timer);
      entries.delete(e.file);
      metrics?.setNextRun(e.wf.name, null);
      log.info("workflow removed", { workflow: e.wf.name, file: e.file });
    };

    /** Schedule a valid file's workflow: a new one, or the new version of a loaded one. */
    const adopt = (old: Entry | undefined, file: string, wf: Workflow) => {
      try {
        if (lost === null) recorder.noteWorkflow(wf);
      } catch (err) {
        log.error("cannot record workflow", { workflow: wf.name, error: messageOf(err) });
      }
      if (!old) {
        const e = newEntry(file, wf);
        entries.set(file, e);
        arm(e);
        log.info(e.schedule ? "workflow added" : "workflow added without a schedule; it will not run", describe(e));
        return;
      }
      const scheduleChanged = old.wf.schedule !== wf.schedule || old.wf.timezone !== wf.timezone || old.wf.name !== wf.name;
      if (old.wf.name !== wf.name) metrics?.setNextRun(old.wf.name, null);
      old.wf = wf;
      old.error = null;
      if (scheduleChanged) {
        old.schedule = wf.schedule ? compileSchedule(wf.schedule, wf.timezone) : null;
        arm(old);
      }
      log.info("workflow reloaded", { ...describe(old), schedule_changed: scheduleChanged });
    };

    const reloadWorkflows = () => {
      log.info("reloading workflow files", { arguments: o.args });
      const exp = expandArguments(o.args, o.cwd);
      for (const a of exp.empty) log.warn("no workflow files match", { argument: a });
      const present = new Set(exp.files);
      // Files no longer there (or no longer matched) are unscheduled.
      for (const e of [...entries.values()]) if (!present.has(e.file)) unschedule(e);
      const names = new Map([...entries].map(([file, e]) => [file, e.wf.name]));
      const failed: InvalidFile[] = [];
      for (const x of loadFiles(exp.files, o.loadOptionsFor(settings), names)) {
        const old = entries.get(x.file);
        if (x.wf) {
          logWarnings(log, x.file, x.wf);
          adopt(old, x.file, x.wf);
        } else if (old && x.gone) {
          // Deleted since the listing: a removal, not a problem.
          unschedule(old);
        } else {
          // Invalid: a loaded workflow keeps its last good version scheduled.
          if (old) old.error = x.problems.join("\n");
          failed.push(x);
        }
      }
      reportInvalid(failed);
    };

    // Retention and the database check run on timers, re-armed when a reload changes them.
    const armTimers = () => {
      for (const t of timers.splice(0)) clearInterval(t);
      // Timers hold at most 2^31-1 ms (24.8 days; longer ones fire at once, every millisecond),
      // and a Pi may sleep or set its clock: look at least every minute, clean when it is due.
      // Elapsed time from the monotonic clock: setting the wall clock back must not delay it.
      const cleanupEveryMs = settings.daemon.cleanupIntervalSeconds * 1000;
      let cleanedAt = performance.now();
      const cleanupTimer =
        cleanupEveryMs <= CLEANUP_CHECK_MS
          ? setInterval(cleanup, cleanupEveryMs)
          : setInterval(() => {
              if (performance.now() - cleanedAt < cleanupEveryMs) return;
              cleanedAt = performance.now();
              cleanup();
            }, CLEANUP_CHECK_MS);
      // Also checked before each run and each write; this catches it while the daemon is idle.
      // It only reads, unless a state write failed: that one is retried here.
      const databaseTimer = setInterval(() => {
        if (databaseIntact() && stateUnsaved) saveState();
      }, settings.daemon.databaseCheckSeconds * 1000);
      timers.push(cleanupTimer, databaseTimer);
    };

    /**
     * Read the config file again, as `daemon start` did. What can change live changes now;
     * what cannot (the database, the metrics server) is logged, one line per setting, and keeps
     * its value until a restart. A broken file changes nothing.
     */
    const reloadSettings = () => {
      let next: { settings: Settings; log: Logger };
      try {
        next = o.reloadConfig();
      } catch (err) {
        log.error("config file is invalid; keeping the settings in use", { error: messageOf(err) });
        return;
      }
      const changes = compareSettings(settings, next.settings);
      for (const r of changes.restart) {
        log.warn("setting changed in the config file; restart the daemon to apply it", { setting: r.setting, in_use: r.running, configured: r.configured });
      }
      // Said with the logger in use, so a lower log level still shows that it was lowered.
      log.info("settings reloaded", { config_file: next.settings.configFile, changed: changes.live });
      const before = settings;
      settings = applicableSettings(before, next.settings);
      log.use(next.log);
      const cap = settings.execution.maxParallel ?? DEFAULT_DAEMON_MAX_PARALLEL;
      if (cap !== maxParallel) {
        maxParallel = cap;
        slots.resize(cap);
      }
      if (
        before.daemon.cleanupIntervalSeconds !== settings.daemon.cleanupIntervalSeconds ||
        before.daemon.databaseCheckSeconds !== settings.daemon.databaseCheckSeconds
      ) {
        armTimers();
      }
    };

    const reload = () => {
      reloadSettings();
      reloadWorkflows();
      saveState();
    };

    saveState();
    armTimers();

    unsubscribe = onSignals(["SIGINT", "SIGTERM", "SIGHUP"], (sig) => {
      if (sig === "SIGHUP") {
        if (stopping) return;
        try {
          reload();
        } catch (err) {
          // Whatever went wrong, the daemon keeps what it had scheduled.
          log.error("reload failed; keeping the workflows scheduled before it", { error: messageOf(err) });
        }
        return;
      }
      if (stopping) {
        if (!stopRuns.signal.aborted && running.size) {
          log.warn("second stop signal: stopping running workflows now", { signal: sig });
          stopRuns.abort({ kind: "interrupt", signal: `${sig} (second stop signal)` } satisfies StopReason);
        }
        return;
      }
      stopping = true;
      requestStop({ kind: "signal", sig });
    });

    const scheduled = [...entries.values()].filter((e) => e.schedule).length;
    log.info("daemon started", {
      pid: process.pid,
      pid_file: pid.path,
      db_path: settings.dbPath,
      workflows: entries.size,
      scheduled,
      invalid_files: invalid.length,
      max_parallel: maxParallel,
      version: o.version,
    });

    // Loading and validating the files left garbage behind; an idle daemon should not keep it.
    Bun.gc(true);

    // ---- Run until a stop signal (or the database file is gone). ----
    const cause = await stopped;
    for (const e of entries.values()) clearTimeout(e.timer);
    for (const t of timers) clearInterval(t);
    owed.dispose();
    if (cause.kind === "database") {
      // What the running runs record goes to a file nobody will read again, and the restarted
      // daemon would start the same workflows beside them: stop them now.
      if (running.size) {
        log.warn("stopping running workflows: their records cannot be kept", { running: [...running.keys()] });
        stopRuns.abort({ kind: "interrupt", signal: "the database file was deleted or replaced" } satisfies StopReason);
        await Promise.all([...running.values()].map((r) => r.done));
      }
      log.info("daemon stopped", { reason: "database file deleted or replaced" });
      throw new DatabaseError(`${cause.problem}; stopped (a restart creates a new database there, or refuses a file that is not one)`);
    }
    const sig = cause.sig;
    const grace = settings.daemon.shutdownGraceSeconds;
    const waitAll = () => Promise.all([...running.values()].map((r) => r.done));
    let killed = false;
    if (running.size) {
      log.info("stopping: waiting for running workflows", { signal: sig, running: [...running.keys()], grace_seconds: grace });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = await Promise.race([
        waitAll().then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), grace * 1000))),
      ]);
      clearTimeout(timer);
      if (expired && running.size) {
        killed = true;
        log.warn("shutdown grace period over; stopping running workflows", { running: [...running.keys()], grace_seconds: grace });
        stopRuns.abort({ kind: "interrupt", signal: `${sig} (daemon stopping, ${grace}s grace expired)` } satisfies StopReason);
      }
      if (stopRuns.signal.aborted) killed = true;
      await waitAll();
    } else {
      log.info("stopping", { signal: sig });
    }
    if (databaseIntact()) {
      owed.settle();
      try {
        clearDaemonState(database, path, pid.path, owner.pid, owner.identity);
      } catch (err) {
        log.error("cannot clear daemon state", { error: messageOf(err) });
      }
    }
    log.info("daemon stopped", { signal: sig, killed_running_workflows: killed });
    return killed ? 9 : 0;
  } finally {
    unsubscribe?.();
    unsubscribeStray();
    for (const t of timers) clearInterval(t);
    if (stopServer) {
      try {
        await stopServer();
      } catch {}
    }
    if (closeAbandoned) closeAbandoned();
    else database.close();
    pid.release();
  }
}
