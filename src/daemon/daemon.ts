// The daemon: loads workflow files, triggers scheduled runs (one at a time per workflow),
// bounds tasks across all runs with one Limiter, writes its state row for `daemon status`
// whenever that state changes (and never while idle), serves /metrics and /healthz, applies
// log retention, reloads workflow files and the config file on SIGHUP and stops gracefully
// on SIGTERM/SIGINT. Runs in the foreground (systemd Type=simple). This module opens what the
// daemon holds and ties its parts together: schedule-loop.ts (timers), launch.ts (runs),
// reload.ts (files and settings), state.ts (state row, /healthz, /metrics), housekeeping.ts
// (retention, the database check), stop.ts (drain) and control.ts (the control socket:
// `picoflow trigger`, `daemon reload`, `daemon status`).

import type { Settings } from "../config.ts";
import type { RunPlan } from "../engine/plan.ts";
import { planRetry } from "../engine/retry.ts";
import { ConfigError, DatabaseError, messageOf } from "../errors.ts";
import { History } from "../store/queries.ts";
import type { Workflow } from "../workflow/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { openDatabase, type Database } from "../store/db.ts";
import { lastOutcomes } from "../store/deliveries.ts";
import { scheduleHistory } from "../store/schedule-history.ts";
import { closeFailedRecording, recoverOrphans, SqliteRecorder, type Owner } from "../store/recorder.ts";
import { isProcessAlive, selfIdentity } from "../sys/proc.ts";
import { stopLeftovers } from "../sys/process.ts";
import { onSignals, STRAY_SIGNALS, type SignalName } from "../sys/signals.ts";
import type { LoadOptions } from "../workflow/load.ts";
import { daemonClock } from "./clock.ts";
import { DaemonDatabase, DatabaseGuard } from "./db-guard.ts";
import { socketPathFor, startControl } from "./control.ts";
import { applyRetentionNow, Housekeeping, idleMsFrom } from "./housekeeping.ts";
import { Launcher, maxParallelOf, pauseStates } from "./launch.ts";
import { switchableLogger, type SwitchableLogger } from "./live-settings.ts";
import { OwedRuns } from "./owed-runs.ts";
import { acquirePidFile, type PidFileHandle } from "./pidfile.ts";
import { loadAtStart, Reloader, type Loaded, type ReloadReport } from "./reload.ts";
import { describe, ScheduleLoop } from "./schedule-loop.ts";
import { refuseOpenApi, warnReadableToken } from "../web/exposure.ts";
import { webHandler } from "../web/handler.ts";
import { DaemonState, serveMetrics, type MetricsServing } from "./state.ts";
import { drainRuns, StopRequest, stopForLostDatabase, type StopCause } from "./stop.ts";
import { COMMIT } from "../version.ts";

export { DEFAULT_DAEMON_MAX_PARALLEL } from "./launch.ts";

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

/**
 * Run the daemon until SIGTERM/SIGINT. Returns the exit code: 0 graceful, 9 if runs had to be
 * killed. Throws a DatabaseError (exit 6) when its database file was deleted or replaced.
 */
export async function runDaemon(o: DaemonOptions): Promise<number> {
  // The settings change on SIGHUP (the config file is read again), and so does the logger's
  // level and format: everything holds on to `log`.
  const log = switchableLogger(o.log);
  refuseOpenWeb(o.settings);
  if (o.settings.metrics.enabled && o.settings.web.enabled) warnReadableToken(o.settings, o.env, log);
  // Until the daemon can act on them, stop and reload signals are held, not lost: their
  // default action would kill a half-started daemon (a SIGHUP from `systemctl reload`, or a
  // SIGTERM, right after start). Daemon.start() replays them.
  const early = new HeldSignals();
  try {
    const loaded = loadAtStart(o, log);
    const held = hold(o, log);
    held.early = early;
    try {
      const daemon = await Daemon.prepare(o, log, loaded, held);
      return await daemon.run();
    } finally {
      await held.release();
    }
  } finally {
    early.release();
  }
}

/** SIGINT, SIGTERM and SIGHUP received before the daemon's own handler is in place. */
class HeldSignals {
  readonly received: SignalName[] = [];
  private unsubscribe: (() => void) | undefined = onSignals(["SIGINT", "SIGTERM", "SIGHUP"], (sig) => this.received.push(sig));

  /** Stop holding; returns what came meanwhile, in order. */
  release(): SignalName[] {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    return this.received.splice(0);
  }
}

/** What the daemon holds from before its first run until it exits; released last. */
interface Held {
  db: DaemonDatabase;
  pid: PidFileHandle;
  owner: Owner;
  stop: StopRequest;
  /** Set once the metrics server listens. */
  stopServer?: () => Promise<void>;
  /** Signals held since the process started, replayed once the daemon handles its own. */
  early?: HeldSignals;
  release(): Promise<void>;
}

/** Open the database, take the PID file, and ignore stray signals from then on. */
function hold(o: DaemonOptions, log: Logger): Held {
  // The database first: a wrong --db-path is reported as such, not as a PID file problem.
  const database = openDatabase(o.settings.dbPath);
  let pid: PidFileHandle;
  let guard: DatabaseGuard;
  try {
    guard = new DatabaseGuard(o.settings.dbPath);
    pid = acquirePidFile(o.pidFile);
  } catch (err) {
    database.close();
    throw err;
  }
  if (pid.replaced) log.warn("replaced a stale PID file", { pid_file: pid.path, reason: pid.replaced.why });

  // A stray SIGUSR1/SIGUSR2/SIGALRM would otherwise kill the daemon and every schedule with
  // it; systemd stops it with SIGTERM. Ignored (and logged) from the start.
  const unsubscribeStray = onSignals(STRAY_SIGNALS, (sig) => log.warn("signal ignored (stop the daemon with SIGTERM)", { signal: sig }));
  const stop = new StopRequest();
  const held: Held = {
    db: new DaemonDatabase(database, o.settings.dbPath, guard, log, (problem) => stop.request({ kind: "database", problem })),
    pid,
    owner: { pid: process.pid, identity: selfIdentity() },
    stop,
    async release() {
      unsubscribeStray();
      if (held.stopServer) {
        try {
          await held.stopServer();
        } catch {}
      }
      held.db.close();
      pid.release();
    },
  };
  return held;
}

/** What Daemon.prepare made before the daemon starts. */
interface Prepared {
  recorder: SqliteRecorder;
  startedAt: Date;
  serving: MetricsServing | undefined;
}

class Daemon {
  /** Changed by a reload (SIGHUP): what the config file says, as far as it applies live. */
  private settings: Settings;
  private readonly owed: OwedRuns;
  private readonly launcher: Launcher;
  private readonly loop: ScheduleLoop;
  private readonly state: DaemonState;
  private readonly reloader: Reloader;
  private readonly housekeeping: Housekeeping;
  private unsubscribe: (() => void) | undefined;
  /** Stops the control socket (set once it listens). */
  private stopControl: (() => void) | undefined;

  /** Close the runs of dead daemons, apply retention, serve /metrics: all before the first run. */
  static async prepare(o: DaemonOptions, log: SwitchableLogger, loaded: Loaded, held: Held): Promise<Daemon> {
    const { db } = held;
    const closed = await recoverOrphans(db.db, db.path, isProcessAlive, stopLeftovers);
    if (closed.length) log.warn("closed runs whose process is gone", { executions: closed });
    applyRetentionNow(db, o.settings, log);
    const recorder = new SqliteRecorder(db.db, held.owner, db.path);
    for (const e of loaded.entries.values()) recorder.noteWorkflow(e.wf);
    const startedAt = new Date();
    let daemon: Daemon | undefined;
    let serving: MetricsServing | undefined;
    if (o.settings.metrics.enabled) {
      const web = o.settings.web.enabled
        ? webHandler({ dbPath: o.settings.dbPath, pidFile: held.pid.path, token: o.settings.web.token, live: () => daemon?.state.live(), log })
        : undefined;
      serving = await serveMetrics(o.settings.metrics, log, () => daemon?.state.health(), web);
      held.stopServer = serving.stop;
    }
    daemon = new Daemon(o, log, loaded, held, { recorder, startedAt, serving });
    return daemon;
  }

  private constructor(
    private readonly o: DaemonOptions,
    private readonly log: SwitchableLogger,
    private readonly loaded: Loaded,
    private readonly held: Held,
    p: Prepared,
  ) {
    this.settings = o.settings;
    const { db, owner, stop } = held;
    const metrics = p.serving?.metrics;
    if (metrics) seedLastOutcomes(metrics, db.db, log);
    // Retried on a timer of its own, only while something is owed, as often as the database is checked.
    // The run's queued writes land first: one landing after the close would leave a ghost.
    const close = (runId: string, reason: string, endedAt: Date, seconds: number | null) => {
      p.recorder.flushRun(runId);
      return closeFailedRecording(db.db, db.path, runId, reason, endedAt, seconds);
    };
    this.owed = new OwedRuns(close, log, {
      everyMs: () => this.settings.daemon.databaseCheckSeconds * 1000,
      mayWrite: () => db.intact(),
    });
    this.launcher = new Launcher({
      db,
      owner,
      recorder: p.recorder,
      owed: this.owed,
      log,
      metrics,
      env: o.env,
      settings: () => this.settings,
      changed: () => this.saveState(),
    });
    this.loop = new ScheduleLoop(loaded.entries, {
      log,
      metrics,
      stopping: () => stop.stopping,
      fire: (wf, due) => this.launcher.trigger(wf, due),
      clock: daemonClock(o.env),
      history: scheduleHistory(db.db, db.path),
      catchUp: (wf, times) => void this.launcher.catchUp(wf, times, () => stop.stopping),
    });
    metrics?.watchPaused(() => pauseStates([...loaded.entries.values()].map((e) => e.wf.name), db, log));
    this.state = new DaemonState({
      db,
      log,
      owner,
      pidFile: held.pid.path,
      version: o.version,
      startedAt: p.startedAt,
      metricsUrl: p.serving?.url ?? null,
      loaded,
      running: this.launcher.running,
      stopping: () => stop.stopping,
    });
    const { args, cwd, loadOptionsFor, reloadConfig } = o;
    this.reloader = new Reloader({ args, cwd, loadOptionsFor, reloadConfig, log, metrics, loaded, loop: this.loop, recorder: p.recorder, db });
    this.housekeeping = new Housekeeping({
      db,
      log,
      settings: () => this.settings,
      checked: () => this.state.saveIfUnsaved(),
      busy: () => this.launcher.size > 0,
      idleMs: idleMsFrom(o.env),
    });
  }

  /** Write the state row (what changed), and checkpoint once the daemon is quiet again. */
  private saveState(): void {
    this.state.save();
    this.housekeeping.settleLater();
  }

  /** Schedule the workflows and run until a stop; the exit code. */
  async run(): Promise<number> {
    try {
      this.start();
      // ---- Run until a stop signal (or the database file is gone). ----
      const cause = await this.held.stop.stopped;
      return await this.shutdown(cause);
    } finally {
      this.unsubscribe?.();
      this.housekeeping.stop();
      this.stopControl?.();
    }
  }

  /**
   * The control socket beside the PID file. Created only now, with the PID file held: no live
   * daemon owns a socket file left there, so a stale one may go. A socket that cannot be
   * created is logged and the daemon schedules without it (`trigger` then says none answers).
   */
  private openControl(): void {
    const path = socketPathFor(this.held.pid.path);
    try {
      const server = startControl(path, {
        log: this.log,
        stopping: () => this.held.stop.stopping,
        workflows: () => [...this.loaded.entries.values()].map((e) => e.wf),
        launch: (wf, attach, retry) => this.launcher.triggerNow(wf, attach, retry),
        planRetry: (wf, id) => this.planRetry(wf, id),
        reload: () => this.reload(),
        status: () => this.state.live(),
      });
      this.stopControl = () => server.stop();
    } catch (err) {
      this.log.error("control socket unavailable; trigger, daemon reload and live status will not work", { socket: path, error: messageOf(err) });
    }
  }

  private start(): void {
    const { log, loaded } = this;
    this.reloader.reportInvalid(loaded.invalid);
    for (const e of loaded.entries.values()) {
      this.loop.arm(e, true); // at start: catch up missed fire times
      if (e.schedule) log.info("workflow scheduled", describe(e));
      else log.info("workflow loaded without a schedule; it will not run", { workflow: e.wf.name, file: e.file });
    }
    this.housekeeping.arm();
    this.state.save();
    this.housekeeping.settleNow();
    this.openControl();
    this.unsubscribe = onSignals(["SIGINT", "SIGTERM", "SIGHUP"], (sig) => this.onSignal(sig));
    const early = this.held.early?.release() ?? [];

    const scheduled = [...loaded.entries.values()].filter((e) => e.schedule).length;
    log.info("daemon started", {
      pid: process.pid,
      pid_file: this.held.pid.path,
      db_path: this.settings.dbPath,
      workflows: loaded.entries.size,
      scheduled,
      invalid_files: loaded.invalid.length,
      max_parallel: this.launcher.maxParallel,
      version: this.o.version,
      commit: COMMIT,
    });

    for (const sig of early) {
      log.info("signal received during start-up, handled now", { signal: sig });
      this.onSignal(sig);
    }
    // Loading and validating the files left garbage behind; an idle daemon should not keep it.
    this.housekeeping.releaseNow();
  }

  private onSignal(sig: SignalName): void {
    if (sig !== "SIGHUP") {
      // A second stop signal once the runs have ended: the notifications still going are given up.
      if (this.held.stop.stopping && !this.launcher.size) this.launcher.stopDeliveries();
      return this.held.stop.onStopSignal(sig, this.launcher, this.log);
    }
    if (this.held.stop.stopping) return;
    try {
      this.reload();
    } catch (err) {
      // Whatever went wrong, the daemon keeps what it had scheduled.
      this.log.error("reload failed; keeping the workflows scheduled before it", { error: messageOf(err) });
    }
  }

  /**
   * `trigger WORKFLOW --retry ID`: as `picoflow retry ID`, but with the workflow the daemon has
   * loaded (not the file read again) and its database connection (read in one snapshot).
   */
  private planRetry(wf: Workflow, id: string): { plan: RunPlan; notes: string[] } {
    const { db } = this.held;
    if (!db.intact()) throw new DatabaseError(`the daemon's database is gone or replaced: ${db.lost}`);
    const history = new History(db.db, db.path);
    const found = history.findExecutions(id.trim());
    if (found.length === 1 && found[0]!.workflow_name !== wf.name) {
      throw new ConfigError(`execution ${found[0]!.id} is a run of '${found[0]!.workflow_name}', not of '${wf.name}'`);
    }
    const prepared = planRetry(history, id, { load: () => wf, isAlive: isProcessAlive });
    return { plan: prepared.plan, notes: prepared.notes };
  }

  /** SIGHUP or `daemon reload`: the config file, then the workflow files under the settings now in use. */
  private reload(): ReloadReport {
    const next = this.reloader.settings(this.settings);
    if (next) this.applySettings(next);
    const files = this.reloader.workflows(this.settings);
    this.saveState();
    return { config: this.reloader.lastConfig, files };
  }

  private applySettings(next: Settings): void {
    const before = this.settings;
    this.settings = next;
    this.launcher.setMaxParallel(maxParallelOf(next));
    if (
      before.daemon.cleanupIntervalSeconds !== next.daemon.cleanupIntervalSeconds ||
      before.daemon.databaseCheckSeconds !== next.daemon.databaseCheckSeconds
    ) {
      this.housekeeping.arm();
    }
  }

  private async shutdown(cause: StopCause): Promise<number> {
    this.loop.stop();
    this.housekeeping.stop();
    this.owed.dispose();
    if (cause.kind === "database") return stopForLostDatabase(cause.problem, this.launcher, this.log);
    const t0 = performance.now();
    const grace = this.settings.daemon.shutdownGraceSeconds;
    const killed = await drainRuns(cause.sig, grace, this.launcher, this.log);
    // The runs' last notifications: within what is left of the grace (see drainDeliveries).
    await this.launcher.drainDeliveries(grace - (performance.now() - t0) / 1000);
    if (this.held.db.intact()) {
      this.owed.settle();
      this.state.clear();
    }
    this.log.info("daemon stopped", { signal: cause.sig, killed_running_workflows: killed });
    return killed ? 9 : 0;
  }
}

/**
 * picoflow_workflow_last_{success,failure}_timestamp_seconds from the database: after a restart
 * (a reboot of the Pi) an alert on "no success for 25 h" still sees the runs before it.
 */
/**
 * The API without a token on an address others can reach would let anyone on the network read
 * every run: refused (exit 4) before anything starts, saying what to do instead (web/exposure.ts,
 * shared with `picoflow dashboard`).
 */
function refuseOpenWeb(s: Settings): void {
  if (!s.metrics.enabled || !s.web.enabled) return;
  refuseOpenApi(s.metrics.bindAddress, s.web.token, "[metrics] bind_address", ", or set [web] enabled = false");
}

function seedLastOutcomes(metrics: Metrics, db: Database, log: Logger): void {
  try {
    for (const o of lastOutcomes(db)) metrics.setLastOutcome(o.workflow, o.status, o.at);
  } catch (err) {
    log.warn("cannot read the last runs for metrics", { error: messageOf(err) });
  }
}
