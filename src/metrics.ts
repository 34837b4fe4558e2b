// Prometheus metrics of runs (prom-client), fed by the runner's typed events. Bounded by design:
// labels are workflow names, task names and statuses from workflow definitions, never ids or
// output. No default process metrics (they cost ~16 MB in a compiled binary); resident memory
// comes from /proc when scraped. Import this module only where metrics are served.

// One module at a time: prom-client's index also loads the default metrics, the push gateway
// and cluster support (~9 MB of RSS in a compiled binary, measured; see docs/inspecting.md).
import Counter from "prom-client/lib/counter";
import Gauge from "prom-client/lib/gauge";
import Histogram from "prom-client/lib/histogram";
import Registry from "prom-client/lib/registry";
import type { RunEvents } from "./engine/events.ts";
import { residentBytes } from "./sys/proc.ts";

export interface Metrics {
  /** Subscribe to one run's events; the subscription ends with the run. */
  observe(events: RunEvents): void;
  /** A scheduled trigger skipped because the previous run of the workflow still runs. */
  skippedRun(workflow: string): void;
  /** When the workflow runs next (null: not scheduled any more; the series is removed). */
  setNextRun(workflow: string, at: Date | null): void;
  /** A notification or healthcheck ping ended (after all its attempts). */
  delivered(result: "success" | "failed"): void;
  /** The last success or failure of a workflow, from the database (a daemon starting). */
  setLastOutcome(workflow: string, status: "success" | "failed", unixSeconds: number): void;
  /** How many workflow files failed to load at the daemon's last load (start or reload). */
  setLoadErrors(files: number): void;
  /**
   * picoflow_workflow_paused{workflow}, 1 or 0 for each workflow `read` returns, read at each
   * scrape: a pause is made by another process, and the daemon keeps no copy of it.
   */
  watchPaused(read: () => Iterable<[workflow: string, paused: boolean]>): void;
  /** Prometheus text exposition format. */
  render(): Promise<string>;
  readonly contentType: string;
}

/** Duration buckets for runs and tasks: a second to an hour. */
export const DURATION_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600];

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const executions = new Counter({
    name: "picoflow_workflow_executions_total",
    help: "Workflow runs that finished, by workflow and final status.",
    labelNames: ["workflow", "status"] as const,
    registers,
  });
  const attempts = new Counter({
    name: "picoflow_task_attempts_total",
    help: "Task attempts that finished, by workflow, task and status (success, failed, timeout).",
    labelNames: ["workflow", "task", "status"] as const,
    registers,
  });
  const runDuration = new Histogram({
    name: "picoflow_workflow_duration_seconds",
    help: "Duration of finished workflow runs.",
    labelNames: ["workflow"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const taskDuration = new Histogram({
    name: "picoflow_task_duration_seconds",
    help: "Duration of finished task attempts.",
    labelNames: ["workflow", "task"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const tasksRunning = new Gauge({
    name: "picoflow_tasks_running",
    help: "Task attempts running now.",
    labelNames: ["workflow"] as const,
    registers,
  });
  const runsRunning = new Gauge({
    name: "picoflow_workflows_running",
    help: "Workflow runs in progress now.",
    labelNames: ["workflow"] as const,
    registers,
  });
  const retries = new Counter({
    name: "picoflow_task_retries_total",
    help: "Retries scheduled after a failed or timed-out attempt.",
    labelNames: ["workflow", "task"] as const,
    registers,
  });
  const timeouts = new Counter({
    name: "picoflow_task_timeouts_total",
    help: "Task attempts stopped by their timeout.",
    labelNames: ["workflow", "task"] as const,
    registers,
  });
  const handlerRuns = new Counter({
    name: "picoflow_handler_runs_total",
    help: "Handlers run after a workflow's DAG (on_failure, on_success, on_exit), by their final status.",
    labelNames: ["workflow", "handler", "list", "status"] as const,
    registers,
  });
  const skipped = new Counter({
    name: "picoflow_skipped_runs_total",
    help: "Scheduled runs skipped because the previous run of the workflow was still running.",
    labelNames: ["workflow"] as const,
    registers,
  });
  const nextRun = new Gauge({
    name: "picoflow_next_run_timestamp_seconds",
    help: "When the workflow is scheduled to run next, in Unix seconds.",
    labelNames: ["workflow"] as const,
    registers,
  });
  const notifications = new Counter({
    name: "picoflow_notifications_total",
    help: "Notifications and healthcheck pings that ended, by result (success, failed), after all their attempts.",
    labelNames: ["result"] as const,
    registers,
  });
  // "No success for 25 h" is an alert on these: time() - picoflow_workflow_last_success_timestamp_seconds > 90000.
  const lastSuccess = new Gauge({
    name: "picoflow_workflow_last_success_timestamp_seconds",
    help: "When the workflow's last successful run finished, in Unix seconds.",
    labelNames: ["workflow"] as const,
    registers,
  });
  const lastFailure = new Gauge({
    name: "picoflow_workflow_last_failure_timestamp_seconds",
    help: "When the workflow's last failed (or interrupted) run finished, in Unix seconds.",
    labelNames: ["workflow"] as const,
    registers,
  });
  // Registered only when the daemon sets it: `run --metrics-port` loads no files of its own.
  let loadErrors: InstanceType<typeof Gauge> | undefined;
  new Gauge({
    name: "picoflow_process_resident_memory_bytes",
    help: "Resident memory of this PicoFlow process (VmRSS).",
    registers,
    collect() {
      const rss = residentBytes();
      if (rss !== null) this.set(rss);
    },
  });
  new Gauge({
    name: "picoflow_process_start_time_seconds",
    help: "Start time of this PicoFlow process, in Unix seconds.",
    registers,
  }).set(Math.round(performance.timeOrigin / 1000));

  return {
    observe(events) {
      // Attempts running in this run, so the gauge is put right even if a run ends abruptly.
      const running = new Map<string, number>();
      let workflow: string | undefined;
      const offs = [
        events.on("run:start", (e) => {
          workflow = e.workflow;
          runsRunning.inc({ workflow: e.workflow });
          tasksRunning.inc({ workflow: e.workflow }, 0);
        }),
        events.on("task:start", (e) => {
          tasksRunning.inc({ workflow: e.workflow });
          running.set(e.task, (running.get(e.task) ?? 0) + 1);
        }),
        events.on("task:finish", (e) => {
          const n = running.get(e.task) ?? 0;
          if (n > 0) {
            running.set(e.task, n - 1);
            tasksRunning.dec({ workflow: e.workflow });
          }
          attempts.inc({ workflow: e.workflow, task: e.task, status: e.result.status });
          taskDuration.observe({ workflow: e.workflow, task: e.task }, e.durationSeconds);
          if (e.result.status === "timeout") timeouts.inc({ workflow: e.workflow, task: e.task });
          // A handler's final attempt is its outcome (counted at once, not at the run's end).
          if (e.final && e.handler) handlerRuns.inc({ workflow: e.workflow, handler: e.task, list: e.handler, status: e.result.status });
        }),
        events.on("task:retry", (e) => retries.inc({ workflow: e.workflow, task: e.task })),
        events.on("run:finish", (s) => {
          for (const off of offs) off();
          const left = [...running.values()].reduce((a, b) => a + b, 0);
          if (left > 0) tasksRunning.dec({ workflow: s.workflow }, left);
          if (workflow !== undefined) runsRunning.dec({ workflow });
          executions.inc({ workflow: s.workflow, status: s.status });
          runDuration.observe({ workflow: s.workflow }, s.durationSeconds);
          (s.status === "success" ? lastSuccess : lastFailure).set({ workflow: s.workflow }, Math.round(Date.now() / 1000));
        }),
      ];
    },
    delivered(result) {
      notifications.inc({ result });
    },
    setLastOutcome(workflow, status, unixSeconds) {
      const g = status === "success" ? lastSuccess : lastFailure;
      g.set({ workflow }, unixSeconds);
    },
    skippedRun(workflow) {
      skipped.inc({ workflow });
    },
    setNextRun(workflow, at) {
      if (at === null || Number.isNaN(at.getTime())) nextRun.remove({ workflow });
      else nextRun.set({ workflow }, Math.round(at.getTime() / 1000));
    },
    setLoadErrors(files) {
      loadErrors ??= new Gauge({
        name: "picoflow_workflow_load_errors",
        help: "Workflow files that failed to load at the daemon's last load (start or SIGHUP reload).",
        registers,
      });
      loadErrors.set(files);
    },
    watchPaused(read) {
      new Gauge({
        name: "picoflow_workflow_paused",
        help: "1 while the workflow's schedule is paused (picoflow workflow pause), else 0; by loaded workflow.",
        labelNames: ["workflow"] as const,
        registers,
        collect() {
          this.reset();
          for (const [workflow, paused] of read()) this.set({ workflow }, paused ? 1 : 0);
        },
      });
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
