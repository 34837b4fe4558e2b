// The JSON shapes the dashboard reads from the API (docs/api.md). Types only: nothing here is
// bundled.

/** GET /api/v1/session: what this visitor may do. */
export interface Session {
  /** A token is configured: every request needs it (cookie from the login form, or Bearer). */
  auth_required: boolean;
  /** This request carried the right token. */
  authenticated: boolean;
  /** Actions (trigger, retry, pause, resume) can work: a daemon serves this, and a token is configured. */
  actions: boolean;
  /** `picoflow dashboard`: a database without a daemon; no actions, no live daemon state. */
  read_only: boolean;
}

/** One run as GET /api/v1/executions lists it (`history --format json`). */
export interface Execution {
  id: string;
  workflow_name: string;
  started_at: string;
  finished_at: string | null;
  status: string;
  duration_seconds: number | null;
  total_tasks: number;
  successful_tasks: number;
  failed_tasks: number;
  trigger: string;
  error_message: string | null;
  retry_of: string | null;
}

/** A task (or handler) of a run, folded over its attempts. */
export interface TaskState {
  task_name: string;
  status: string;
  attempts: number;
  next_attempt: number | null;
  retry_at: string | null;
  tolerated: boolean;
  duration_seconds: number | null;
  exit_code: number | null;
  http_status: number | null;
  started_at: string | null;
  finished_at: string | null;
  error_message: string | null;
  /** Why it never ran ("skipped: upstream 'b' failed"). */
  reason: string | null;
  reused_from: string | null;
  /** A handler's list: on_failure, on_success, on_exit. */
  handler?: string;
}

/** The run's DAG as it ran: task names by level, and dependency edges [from, to]. */
export interface Graph {
  levels: string[][];
  edges: [string, string][];
  /** false for a run recorded before dependencies were kept: one level, no edges. */
  known: boolean;
}

/** GET /api/v1/executions/ID. */
export interface ExecutionDetail extends Execution {
  tasks: TaskState[];
  handlers: TaskState[];
  graph?: Graph;
}

/** An attempt's row, as the logs stream's `attempt` event carries it. */
export interface Attempt {
  id: string;
  task_name: string;
  attempt: number;
  status: string;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  http_status: number | null;
  error_message: string | null;
  duration_seconds: number | null;
  retry_at: string | null;
  handler: string | null;
  reused_from: string | null;
}
