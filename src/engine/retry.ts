// A retry of an earlier execution, prepared: which execution, the workflow (from the file path
// recorded with it, or --file), what changed in that file since, and the plan (plan.ts). Used by
// `picoflow retry` and by the daemon for `picoflow trigger --retry`; both then run the plan
// with trigger `retry`. Reads the history only; the caller records the new run.

import { ConfigError, IoError, PicoflowError } from "../errors.ts";
import type { History } from "../store/queries.ts";
import type { Workflow } from "../workflow/types.ts";
import { changedTasks, retryPlan, type PastTask, type RunPlan } from "./plan.ts";

export interface RetryOptions {
  /** The workflow file to use instead of the one recorded with the execution. */
  file?: string;
  /** Re-run this task and everything downstream, whatever their status. */
  from?: string;
  /** Loads and validates a workflow file (the caller's settings and environment). */
  load: (file: string) => Workflow;
  /** Is the owner of a run marked running alive (pid + identity)? */
  isAlive: (pid: number, identity: string | null) => boolean;
}

export interface PreparedRetry {
  workflow: Workflow;
  plan: RunPlan;
  /** The execution retried (its full id). */
  original: string;
  /** What to tell the user before the run: the file changed since, and how. */
  notes: string[];
}

/** The execution for an id or unique prefix: exit 5 if none, exit 4 if ambiguous. */
function findExecution(h: History, idOrPrefix: string): string {
  const found = h.findExecutions(idOrPrefix.trim());
  if (found.length === 1) return found[0]!.id;
  if (!found.length) throw new IoError(`no execution with id '${idOrPrefix}' in ${h.path}`);
  throw new ConfigError(`execution id '${idOrPrefix}' is ambiguous: ${found.map((f) => f.id).join(", ")}`);
}

/**
 * Everything a retry of `idOrPrefix` needs, or the error that refuses it: the execution or
 * its workflow still running (exit 1), nothing left to retry (exit 1), no file known (exit 4),
 * a file of another workflow (exit 4), a task gone from the file or an unknown --from task (exit 5).
 */
export function planRetry(h: History, idOrPrefix: string, opts: RetryOptions): PreparedRetry {
  const id = findExecution(h, idOrPrefix);
  const run = h.runDetail(id)!;
  const running = h.latestRuns({ workflow: run.workflow_name, runningOnly: true }).filter((r) => r.owner_pid === null || opts.isAlive(r.owner_pid, r.owner_identity));
  if (running.length) {
    throw new PicoflowError(`workflow '${run.workflow_name}' is running now (execution ${running[0]!.id}); retry it once that run has finished`, 1);
  }
  const file = opts.file ?? run.workflow_file;
  if (!file) throw new ConfigError(`execution ${id} has no workflow file recorded; give it with --file`);
  const wf = opts.load(file);
  if (wf.name !== run.workflow_name) {
    throw new ConfigError(`${file} holds workflow '${wf.name}', not '${run.workflow_name}' of execution ${id}`);
  }
  const past = new Map<string, PastTask>(run.tasks.map((t) => [t.task_name, { status: t.status, reusedFrom: t.reused_from }]));
  const plan = retryPlan(wf, id, past, opts.from);
  if (!plan.run.size) {
    throw new PicoflowError(`execution ${id} of '${run.workflow_name}' succeeded: nothing to retry (--from TASK runs a task and its downstream again)`, 1);
  }
  const notes: string[] = [];
  const { changed, added } = changedTasks(wf, h.taskHashes(id));
  if (changed.length || added.length) {
    const parts = [changed.length ? `changed: ${changed.join(", ")}` : "", added.length ? `new: ${added.join(", ")}` : ""].filter(Boolean);
    notes.push(`${wf.file} changed since execution ${id} ran (${parts.join("; ")})`);
  }
  return { workflow: wf, plan, original: id, notes };
}
