// What the daemon publishes about itself: its state row for `daemon status` (written whenever
// what it holds changes, and never while idle: every write wears an SD card), /healthz, and
// the metrics server that serves both /metrics and /healthz.

import type { Settings } from "../config.ts";
import { messageOf, NetworkError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { clearDaemonState, writeDaemonState, type DaemonInvalidFile, type DaemonWorkflowState } from "../store/daemon-state.ts";
import type { Owner } from "../store/recorder.ts";
import { residentBytes } from "../sys/proc.ts";
import type { DaemonDatabase } from "./db-guard.ts";
import type { Loaded } from "./reload.ts";
import type { WebHandler } from "../web/handler.ts";
import { COMMIT, COMMIT_DATE } from "../version.ts";

export interface StateOptions {
  db: DaemonDatabase;
  log: Logger;
  owner: Owner;
  pidFile: string;
  version: string;
  startedAt: Date;
  /** Where /metrics is served; null when it is not. */
  metricsUrl: string | null;
  loaded: Loaded;
  /** The runs going now, by workflow name. */
  running: ReadonlyMap<string, { runId?: string; startedAt: Date; tasks?: ReadonlySet<string> }>;
  stopping: () => boolean;
}

export class DaemonState {
  /** Set when writing the state failed: the database check retries it. */
  private unsaved = false;

  constructor(private readonly o: StateOptions) {}

  /**
   * Write the state row. Called whenever what it holds changes (start, run start and end, a
   * skip, a reload, stopping) and at no other time: `daemon status` is current, and an idle
   * daemon writes nothing (every write wears an SD card).
   */
  save(): void {
    const { db, owner } = this.o;
    if (!db.intact()) return;
    this.unsaved = false;
    try {
      writeDaemonState(db.db, db.path, {
        pidFile: this.o.pidFile,
        pid: owner.pid,
        identity: owner.identity,
        startedAt: this.o.startedAt.toISOString(),
        heartbeatAt: new Date().toISOString(),
        rssBytes: residentBytes(),
        version: this.o.version,
        commit: COMMIT,
        commitDate: COMMIT_DATE,
        metricsUrl: this.o.metricsUrl,
        workflows: this.workflows(),
        invalidFiles: this.invalidFiles(),
      });
    } catch (err) {
      this.unsaved = true;
      this.o.log.error("cannot update daemon state", { error: messageOf(err) });
    }
  }

  /** A write of the state that failed is tried again. */
  saveIfUnsaved(): void {
    if (this.unsaved) this.save();
  }

  /** The daemon stopped: `daemon status` says so. */
  clear(): void {
    const { db, owner } = this.o;
    try {
      clearDaemonState(db.db, db.path, this.o.pidFile, owner.pid, owner.identity);
    } catch (err) {
      this.o.log.error("cannot clear daemon state", { error: messageOf(err) });
    }
  }

  /**
   * The live state for `daemon status` through the control socket: what the state row holds,
   * plus each running workflow's execution and tasks, and the memory in use now. Field names
   * as in `daemon status --format json`.
   */
  live(): Record<string, unknown> {
    const { startedAt, running } = this.o;
    return {
      pid: process.pid,
      pid_file: this.o.pidFile,
      started_at: startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      rss_bytes: residentBytes() ?? process.memoryUsage().rss,
      version: this.o.version,
      commit: COMMIT,
      commit_date: COMMIT_DATE,
      metrics_url: this.o.metricsUrl,
      stopping: this.o.stopping(),
      workflows: this.workflows().map(({ nextRun, ...w }) => {
        const run = running.get(w.name);
        return { ...w, next_run: nextRun, execution_id: run?.runId ?? null, running_tasks: run?.tasks ? [...run.tasks] : [] };
      }),
      invalid_files: this.invalidFiles(),
    };
  }

  /** GET /healthz. */
  health() {
    const { loaded, startedAt } = this.o;
    return {
      // Degraded: some workflow file failed to load, so something meant to run may not.
      status: this.o.stopping() ? "stopping" : loaded.invalid.length ? "degraded" : "ok",
      pid: process.pid,
      version: this.o.version,
      commit: COMMIT,
      commit_date: COMMIT_DATE,
      started_at: startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      running_workflows: [...this.o.running.keys()],
      // Field names as in `daemon status --format json` (the state row keeps its own,
      // camelCase), but no error text: /healthz may be read by anyone who can reach the port,
      // and a reload error can quote a workflow's values. Whether a file is invalid is enough.
      workflows: this.workflows().map(({ nextRun, error, ...w }) => ({ ...w, next_run: nextRun, invalid: error !== null })),
      invalid_files: loaded.invalid.length,
    };
  }

  private workflows(): DaemonWorkflowState[] {
    return [...this.o.loaded.entries.values()].map((e) => ({
      name: e.wf.name,
      file: e.file,
      schedule: e.wf.schedule ?? null,
      timezone: e.wf.timezone ?? null,
      nextRun: e.due?.toISOString() ?? null,
      running: this.o.running.has(e.wf.name),
      error: e.error,
    }));
  }

  // Files that failed the last load; `workflow` names the last good version still scheduled.
  private invalidFiles(): DaemonInvalidFile[] {
    const { entries, invalid } = this.o.loaded;
    return invalid.map((x) => ({ file: x.file, problems: x.problems, workflow: entries.get(x.file)?.wf.name ?? null }));
  }
}

export interface MetricsServing {
  metrics: Metrics;
  url: string;
  stop: () => Promise<void>;
}

/**
 * Serve /metrics and /healthz as [metrics] says, and /api/ when `api` is given ([web] enabled).
 * A port that cannot be bound is exit 7.
 */
export async function serveMetrics(s: Settings["metrics"], log: Logger, health: () => unknown, web?: WebHandler): Promise<MetricsServing> {
  // Loaded only when enabled: prom-client costs memory on a Pi.
  const [{ createMetrics }, { startMetricsServer }] = await Promise.all([import("../metrics.ts"), import("../sys/http-server.ts")]);
  const metrics = createMetrics();
  let server;
  try {
    server = await startMetricsServer({ metrics, port: s.port, hostname: s.bindAddress, log, health, web });
  } catch (err) {
    // Exit 7, the spec's code for a network problem: a port taken (by Prometheus, say) is one.
    throw new NetworkError(
      `cannot serve metrics on ${s.bindAddress}:${s.port}: ${messageOf(err)} (check [metrics] port and bind_address, or set enabled = false)`,
    );
  }
  const host = s.bindAddress.includes(":") ? `[${s.bindAddress}]` : s.bindAddress;
  const url = `http://${host}:${server.port}/metrics`;
  log.info("serving metrics", { url, health: url.replace(/metrics$/, "healthz") });
  return { metrics, url, stop: () => server.stop() };
}
