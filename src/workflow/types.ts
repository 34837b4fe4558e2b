// The built workflow the engine runs: defaults applied, ${VAR} expanded, names resolved.

export const TASK_TYPES = ["shell", "ssh", "http"] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface ShellConfig {
  /** The program run: `command`, or for a script its `shell` (default /bin/sh). */
  command: string;
  /** `args`, or for a script `["-e", "-c", script]`. */
  args: string[];
  /** The inline script as written (also in args), for showing it; absent for `command`. */
  script?: string;
  workdir?: string;
  /** The task's own env (the workflow's `env` goes under it at run time: Workflow.env). */
  env: Record<string, string>;
}

/** The program that runs an inline `script:` when the task names no `shell`. */
export const DEFAULT_SCRIPT_SHELL = "/bin/sh";

export interface SshConfig {
  host: string;
  port: number;
  user: string;
  command: string;
  /** Absolute path, `~` already expanded. */
  keyPath: string;
  /** Connection timeout in seconds. */
  timeout: number;
}

export interface HttpConfig {
  url: string;
  method: HttpMethod;
  headers: Record<string, string>;
  /** Parsed JSON-able value, serialised at request time; undefined = no body. */
  body?: unknown;
  /** Request timeout in seconds (connect + read). */
  timeout: number;
  /** Statuses that count as success; absent: any 2xx. */
  expectStatus?: number[];
  /** A regular expression (JavaScript syntax) the response body must match. */
  expectBody?: string;
  /** Absolute path of a PEM file of CA certificates to trust. */
  caCert?: string;
  /** Skip TLS certificate verification (a warning once per run). */
  insecure: boolean;
  /** Basic auth; the password is in the workflow's secrets. */
  auth?: { username: string; password: string };
}

/** Which handler list a handler comes from (workflow-level on_failure/on_success/on_exit). */
export const HANDLER_KINDS = ["on_failure", "on_success", "on_exit"] as const;
export type HandlerKind = (typeof HANDLER_KINDS)[number];

interface TaskBase {
  name: string;
  /** Set on a handler: it runs after the DAG, by the rules of its list; never in the DAG. */
  handler?: HandlerKind;
  /** Its config holds run-time placeholders (`{{ run.id }}`...), filled in when it starts. */
  placeholders?: boolean;
  dependsOn: string[];
  /** Retries after the first attempt: up to retry + 1 attempts. */
  retry: number;
  /** Seconds; 0 = no timeout. */
  timeout: number;
  continueOnFailure: boolean;
  /**
   * Strings that must never be shown: the workflow's whole secret set (see
   * workflow/secrets.ts), the same list for every task, since one task may print what another
   * one uses. The runner masks each attempt's output, error and logs with it.
   */
  secrets: string[];
}

export type Task =
  | (TaskBase & { type: "shell"; config: ShellConfig })
  | (TaskBase & { type: "ssh"; config: SshConfig })
  | (TaskBase & { type: "http"; config: HttpConfig });

export interface Workflow {
  name: string;
  description?: string;
  schedule?: string;
  timezone?: string;
  maxParallel: number;
  tasks: Task[];
  /** Absolute path of the file it was loaded from. */
  file: string;
  /**
   * The workflow's env_file and env merged (env wins): the environment of every shell task and
   * handler, over the process environment and under the task's own env. Absent: none.
   */
  env?: Readonly<Record<string, string>>;
  /** The env_file, as an absolute path. */
  envFile?: string;
  /** Variables whose values are secret: the `secrets:` list, then every name the env_file sets. */
  secretNames?: readonly string[];
  /** Every secret value of the workflow, longest first (the list each task's `secrets` holds). */
  secrets?: readonly string[];
  /**
   * What the loader found that does not stop a run (an unset variable, a program not on this
   * machine): `FILE:LINE:COL: warning: path: message` lines, masked, in file order.
   */
  warnings?: readonly string[];
  /**
   * Handlers in the order they run, each with its `handler` kind: the on_failure ones, then
   * on_success, then on_exit (only those that apply to the run's status run). Absent: none.
   */
  handlers?: readonly Task[];
  /** false: a failure skips only its own dependants (config.fail_fast); absent or true: today's stop-everything. */
  failFast?: boolean;
  /** The workflow's `notify:` block (overrides [notify] in the config), or false to silence it. Absent: the config's. */
  notify?: NotifyTarget | false;
  /** healthchecks.io-style ping URL (`URL/start`, `URL`, `URL/fail`). */
  healthcheck?: string;
  /** Fire times missed while the daemon was not running: which are run, and how far back. Absent: `catchup: none`. */
  catchup?: { mode: Exclude<CatchupMode, "none">; windowMs: number };
}

export const CATCHUP_MODES = ["none", "latest", "all"] as const;
export type CatchupMode = (typeof CATCHUP_MODES)[number];
/** `catchup_window` when not given, and its largest value. */
export const DEFAULT_CATCHUP_WINDOW_MS = 24 * 3_600_000;
export const MAX_CATCHUP_WINDOW_MS = 7 * 24 * 3_600_000;

export const NOTIFY_EVENTS = ["failure", "recovery", "every_failure", "success", "always"] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
/** The no-spam policy: one message when a workflow breaks, one when it is fixed. */
export const DEFAULT_NOTIFY_ON: readonly NotifyEvent[] = ["failure", "recovery"];
export const NOTIFY_FORMATS = ["json", "ntfy"] as const;
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/** Where and when run outcomes are sent ([notify] in the config, or a workflow's notify:). */
export interface NotifyTarget {
  url: string;
  format: NotifyFormat;
  on: NotifyEvent[];
}

export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_TASKS = 1000;
/** Lists and mappings nested deeper than this are refused (a workflow needs about 6). */
export const MAX_NESTING = 64;
