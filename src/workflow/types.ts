// The built workflow the engine runs: defaults applied, ${VAR} expanded, names resolved.

export const TASK_TYPES = ["shell", "ssh", "http"] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface ShellConfig {
  command: string;
  args: string[];
  workdir?: string;
  env: Record<string, string>;
}

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
}

interface TaskBase {
  name: string;
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
  /** Every secret value of the workflow, longest first (the list each task's `secrets` holds). */
  secrets?: readonly string[];
  /**
   * What the loader found that does not stop a run (an unset variable, a program not on this
   * machine): `FILE:LINE:COL: warning: path: message` lines, masked, in file order.
   */
  warnings?: readonly string[];
}

export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_TASKS = 1000;
/** Lists and mappings nested deeper than this are refused (a workflow needs about 6). */
export const MAX_NESTING = 64;
