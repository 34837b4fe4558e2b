// Every command and its options, as `--help` lists them. cac needs them all registered before
// it parses argv, but a command's implementation (and what it imports: the engine, SQLite
// queries, the YAML loader, the daemon) is loaded only when that command runs: `--version`,
// `--help` and each single command start without evaluating the others' modules. Keep this
// file free of imports beyond types: one here would load for every command.

import type { CAC } from "cac";
import type { DaemonFlags } from "./daemon.ts";
import type { DashboardOptions } from "./dashboard.ts";
import type { ExportOptions } from "./export.ts";
import type { GlobalOptions } from "./context.ts";
import type { GraphOptions } from "./graph.ts";
import type { HistoryOptions } from "./history.ts";
import type { LogsOptions } from "./logs.ts";
import type { RetryCliOptions } from "./retry.ts";
import type { RunOptions } from "./run.ts";
import type { StatsOptions } from "./stats.ts";
import type { StatusOptions } from "./status.ts";
import type { TriggerOptions } from "./trigger.ts";
import type { WorkflowOptions } from "./workflow.ts";

/** Statuses a run can be recorded with ("skipped": a scheduled trigger that overlapped a running run). */
export const RUN_STATUSES = ["success", "failed", "running", "pending", "skipped"] as const;
/** Without --all, a workflow is listed if a running daemon has it loaded, or it was loaded or run within this many days. */
export const ACTIVE_DAYS = 30;
/** `export --image` when not given (export/argo.ts uses it too). */
export const DEFAULT_EXPORT_IMAGE = "debian:bookworm-slim";

export function registerCommands(cli: CAC): void {
  cli
    .command("run <workflow_file>", "Run a workflow once")
    .option("--metrics-port <port>", "Serve Prometheus metrics on this port while the run lasts (0: any free port)")
    .option("--only <tasks>", "Run only these tasks (comma-separated), ignoring their dependencies")
    .option("--from <task>", "Run this task and everything downstream of it")
    .option("--dry-run", "Run nothing: print the plan (order, levels, commands, retries, timeouts, handlers)")
    .example("picoflow run backup.yaml")
    .example("picoflow run backup.yaml --from upload")
    .example("picoflow run backup.yaml --dry-run")
    .action(async (file: string, opts: RunOptions) => (await import("./run.ts")).runCommand(String(file), opts));

  cli
    .command("retry <execution_id>", "Run a failed execution again: what failed or never ran, and everything downstream")
    .option("--from <task>", "Also re-run this task and everything downstream, whatever their status")
    .option("--file <path>", "Workflow file to use instead of the one recorded with the execution")
    .example("picoflow retry 3f2a9c1e")
    .example("picoflow retry 3f2a9c1e --from upload")
    .action(async (id: unknown, opts: RetryCliOptions) => (await import("./retry.ts")).retryCommand(String(id), opts));

  cli
    .command("validate <workflow_file>", "Validate a workflow file and show its DAG")
    .example("picoflow validate backup.yaml")
    .action(async (file: string, opts: GlobalOptions) => (await import("./validate.ts")).validateCommand(String(file), opts));

  cli
    .command("status [workflow]", "Show the latest run of each workflow, or one workflow's run task by task")
    .option("-w, --workflow <name>", "Show this workflow's latest run task by task")
    .option("--running-only", "Show only runs that are still going")
    .option("--execution-id <id>", "Show this execution (id or unique prefix) task by task")
    .option("-o, --format <format>", "Output format: table, json (default: table)")
    .example("picoflow status")
    .example("picoflow status --workflow backup-workflow")
    .example("picoflow status --running-only")
    .action(async (workflow: unknown, opts: StatusOptions) => (await import("./status.ts")).statusCommand(workflow, opts));

  cli
    .command("history [workflow]", "Show past runs, newest first")
    .option("-w, --workflow <name>", "Only runs of this workflow")
    .option("--status <status>", `Only runs with this status: ${RUN_STATUSES.join(", ")}`)
    .option("-n, --limit <n>", "Show at most N runs; 0 shows all (default: 10)")
    .option("--since <date>", "Only runs started on or after this local date (YYYY-MM-DD)")
    .option("-o, --format <format>", "Output format: table, json (default: table)")
    .example("picoflow history --workflow backup-workflow --limit 20")
    .example("picoflow history --status failed --since 2025-11-01")
    .example("picoflow history --format json > history.json")
    .action(async (workflow: unknown, opts: HistoryOptions) => (await import("./history.ts")).historyCommand(workflow, opts));

  cli
    .command("stats [workflow]", "Show runs, success rate and durations per workflow and per task")
    .option("-w, --workflow <name>", "Only this workflow")
    .option("--period <days>", "Runs started in the last N days (default: 30)")
    .option("-o, --format <format>", "Output format: table, json (default: table)")
    .example("picoflow stats")
    .example("picoflow stats --workflow backup-workflow --period 7")
    .action(async (workflow: unknown, opts: StatsOptions) => (await import("./stats.ts")).statsCommand(workflow, opts));

  cli
    .command("logs [workflow]", "Show the stdout/stderr of each task attempt of a run (the latest by default)")
    .option("-w, --workflow <name>", "Workflow name (required unless --execution-id is given)")
    .option("--task <name>", "Only this task")
    .option("--execution-id <id>", "This execution (id or unique prefix) instead of the latest")
    .option(
      "--tail <n>",
      "Lines to show, counted from the end, per stream (stdout and stderr each) per attempt; 0 shows all (default: 100). With --follow, it cuts only the output already there",
    )
    .option("-f, --follow", "Keep printing output of running tasks until the run ends, then exit with the run's code: 0 success, 3 failed, 9 interrupted")
    .example("picoflow logs --workflow backup-workflow --task backup_database")
    .example("picoflow logs backup-workflow -f")
    .action(async (workflow: unknown, opts: LogsOptions) => (await import("./logs.ts")).logsCommand(workflow, opts));

  cli
    .command("workflow <action> [name]", "Workflows PicoFlow knows of; action: list, pause NAME, resume NAME")
    .option("--all", `list: include workflows neither loaded by a running daemon nor run in the last ${ACTIVE_DAYS} days`)
    .option("-o, --format <format>", "Output format: table, json (default: table)")
    .example("picoflow workflow list")
    .example("picoflow workflow list --all --format json")
    .example("picoflow workflow pause nightly-backup")
    .example("picoflow workflow resume nightly-backup")
    .action(async (action: unknown, name: unknown, opts: WorkflowOptions) => (await import("./workflow.ts")).workflowCommand(String(action), name, opts));

  cli
    .command("daemon <action> [...workflow_files]", "Run scheduled workflows: daemon start FILE..., daemon stop, daemon status, daemon reload")
    .option("--pid-file <path>", "PID file (default: picoflow.pid next to the database)")
    .option("--strict", "start: refuse to start if any workflow file is invalid (default: start with the valid ones)")
    .option("--timeout <seconds>", "stop: seconds to wait for the daemon to exit (default: its shutdown grace + kill grace + 15)")
    .option("-o, --format <format>", "status, reload: table or json (default: table)")
    .example("picoflow daemon start backup.yaml monitoring.yaml")
    .example("picoflow daemon start /etc/picoflow/workflows")
    .example("picoflow daemon status")
    .example("picoflow daemon reload")
    .example("picoflow daemon stop")
    .action(async (action: string, files: string[], opts: DaemonFlags) =>
      (await import("./daemon.ts")).daemonCommand(String(action), (files ?? []).map(String), opts),
    );

  cli
    .command("dashboard", "Serve the web dashboard and its API read-only from the database, without a daemon, until Ctrl-C")
    .option("--port <port>", "Port to listen on; 0 picks a free one (default: 9091, beside a daemon's 9090)")
    .option("--bind <address>", "Address to listen on (default: 127.0.0.1); any other needs [web] token or PICOFLOW_WEB_TOKEN")
    .option("-o, --format <format>", "Start line: table or json (default: table)")
    .example("picoflow dashboard --db-path /tmp/pi.db")
    .example("PICOFLOW_WEB_TOKEN=$(openssl rand -hex 24) picoflow dashboard --bind 0.0.0.0 --port 8080")
    .action(async (opts: DashboardOptions) => (await import("./dashboard.ts")).dashboardCommand(opts));

  cli
    .command("trigger <workflow>", "Start a run of a workflow now, through the running daemon")
    .option("--wait", "Follow the run and exit with its exit code (0, 3, 7, 8, 9)")
    .option("--retry <execution_id>", "Retry that execution of the workflow in the daemon: what failed or never ran, and its downstream")
    .option("-o, --format <format>", "table or json (default: table)")
    .option("--pid-file <path>", "The daemon's PID file; its control socket is beside it (default: picoflow.pid next to the database)")
    .example("picoflow trigger backup")
    .example("picoflow trigger backup --wait")
    .example("picoflow trigger backup --retry 3f2a9c1e --wait")
    .action(async (workflow: string, opts: TriggerOptions) => (await import("./trigger.ts")).triggerCommand(String(workflow), opts));

  cli
    .command("graph <workflow_file>", "Draw a workflow's DAG: levels in the terminal, or Graphviz, Mermaid, JSON")
    .option("-o, --format <format>", "Output format: ascii, dot, mermaid, json (default: ascii)")
    .example("picoflow graph backup.yaml")
    .example("picoflow graph backup.yaml --format dot | dot -Tsvg > backup.svg")
    .example("picoflow graph backup.yaml --format mermaid   # for a ```mermaid block in a README or wiki")
    .action(async (file: string, opts: GraphOptions) => (await import("./graph.ts")).graphCommand(String(file), opts));

  cli
    .command("schema", "Print the JSON Schema of workflow files, for editor completion and checks")
    // No -o: elsewhere -o is --format (`-o json`), which here would write a file named "json".
    .option("--output <file>", "Write it to this file (mode 0644, replaced atomically) instead of stdout")
    .example("picoflow schema --output ~/.config/picoflow/workflow.schema.json")
    .action(async (opts: { output?: unknown }) => (await import("./schema.ts")).schemaCommand(opts.output));

  cli
    .command("export <workflow_file>", "Write the workflow as a manifest for another engine (Argo Workflows)")
    .option("--to <engine>", "Target engine: argo (required)")
    .option("--image <image>", `Container image of shell tasks (default: ${DEFAULT_EXPORT_IMAGE})`)
    .option("--ssh-image <image>", "Container image of ssh tasks, with an ssh client (default: --image)")
    .option("-n, --namespace <namespace>", "Kubernetes namespace of the manifest (default: none, kubectl's)")
    .option("-o, --format <format>", "Output format: yaml, json (default: yaml)")
    .example("picoflow export backup.yaml --to argo > backup.argo.yaml")
    .example("picoflow export backup.yaml --to argo --image registry.local/tools:1 --namespace pis | kubectl apply -f -")
    .action(async (file: string, opts: ExportOptions) => (await import("./export.ts")).exportCommand(String(file), opts));
}
