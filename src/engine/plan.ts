// Which tasks of a workflow a run starts and which it reuses: `run --only`/`--from`, and a
// retry of an earlier execution (its failed, timed-out, skipped and never-started tasks and
// everything downstream; its successes reused). Pure: no I/O, no clocks; the runner and the
// CLI (and the daemon, for `trigger --retry`) take the plan it returns.

import { ConfigError, IoError, nearest } from "../errors.ts";
import type { Task, Workflow } from "../workflow/types.ts";
import { sha256Hex } from "../sys/hash.ts";

/** What a run does with each task of its workflow; a task in neither is not part of the run. */
export interface RunPlan {
  /** Tasks the run starts (their dependencies outside this set count as satisfied). */
  run: ReadonlySet<string>;
  /** Tasks a retry does not run again: task -> the execution whose success it reuses. */
  reused: ReadonlyMap<string, string>;
  /** The execution a retry re-runs (workflow_executions.retry_of). */
  retryOf?: string;
}

/** Exit 5 for a task name the workflow does not have, with the nearest name. */
function requireTask(wf: Workflow, name: string, flag: string): void {
  if (wf.tasks.some((t) => t.name === name)) return;
  const near = nearest(name, wf.tasks.map((t) => t.name));
  throw new IoError(`${flag}: workflow '${wf.name}' has no task '${name}'${near ? ` (did you mean '${near}'?)` : ""}`);
}

/** `names` and every task that depends on one of them, directly or not. */
export function downstream(wf: Workflow, names: Iterable<string>): Set<string> {
  const out = new Set(names);
  // Declaration order is not dependency order: repeat until nothing is added.
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of wf.tasks) {
      if (!out.has(t.name) && t.dependsOn.some((d) => out.has(d))) {
        out.add(t.name);
        grew = true;
      }
    }
  }
  return out;
}

/**
 * `run --only a,b` (those tasks, their dependencies ignored) or `run --from a` (a and all
 * downstream); both given: the tasks in both. Unknown names are exit 5.
 */
export function selectionPlan(wf: Workflow, sel: { only?: string[]; from?: string }): RunPlan {
  let run: Set<string> | undefined;
  if (sel.only) {
    for (const n of sel.only) requireTask(wf, n, "--only");
    run = new Set(sel.only);
  }
  if (sel.from !== undefined) {
    requireTask(wf, sel.from, "--from");
    const down = downstream(wf, [sel.from]);
    run = run ? new Set([...run].filter((n) => down.has(n))) : down;
    if (!run.size) throw new ConfigError(`--only and --from: none of ${sel.only!.map((n) => `'${n}'`).join(", ")} is '${sel.from}' or downstream of it`);
  }
  return { run: run ?? new Set(wf.tasks.map((t) => t.name)), reused: new Map() };
}

/** A task of the original execution as stored: its last status, and where a reused one came from. */
export interface PastTask {
  status: string;
  reusedFrom?: string | null;
}

/**
 * A retry of execution `originalId`: its successes are reused (a task it reused itself keeps
 * pointing at the run that really ran it); the rest, and everything downstream of what runs,
 * runs again. `from` adds that task and all downstream, whatever their status. A task of the
 * original run that the workflow no longer has is an error (exit 5): its place in the graph
 * is gone, and the retry could not say what it reuses.
 */
export function retryPlan(wf: Workflow, originalId: string, past: ReadonlyMap<string, PastTask>, from?: string): RunPlan {
  const names = new Set(wf.tasks.map((t) => t.name));
  const gone = [...past.keys()].filter((n) => !names.has(n));
  if (gone.length) {
    throw new IoError(
      `workflow '${wf.name}' in ${wf.file} no longer has task${gone.length === 1 ? "" : "s"} ${gone.map((n) => `'${n}'`).join(", ")} of execution ${originalId}` +
        ` (use --file for the file it ran from)`,
    );
  }
  if (from !== undefined) requireTask(wf, from, "--from");
  const ok = (n: string) => {
    const s = past.get(n)?.status;
    return s === "success" || s === "reused";
  };
  const seeds = wf.tasks.filter((t) => !ok(t.name)).map((t) => t.name);
  if (from !== undefined) seeds.push(from);
  const run = downstream(wf, seeds);
  const reused = new Map<string, string>();
  for (const t of wf.tasks) {
    if (!run.has(t.name)) reused.set(t.name, past.get(t.name)?.reusedFrom ?? originalId);
  }
  return { run, reused, retryOf: originalId };
}

/**
 * A fingerprint of what a task does (after ${VAR} expansion), stored per run so a retry can
 * say which tasks changed since. Hashed: the definition may hold secrets.
 */
export function taskHash(t: Task): string {
  const def = { type: t.type, config: t.config, dependsOn: t.dependsOn, retry: t.retry, timeout: t.timeout, continueOnFailure: t.continueOnFailure };
  return sha256Hex(JSON.stringify(def)).slice(0, 16);
}

export function taskHashes(wf: Workflow): Record<string, string> {
  return Object.fromEntries(wf.tasks.map((t) => [t.name, taskHash(t)]));
}

/** Tasks whose definition differs from the stored fingerprints, and tasks new since; none when nothing was stored. */
export function changedTasks(wf: Workflow, stored: Record<string, string> | null): { changed: string[]; added: string[] } {
  if (!stored) return { changed: [], added: [] };
  const changed: string[] = [];
  const added: string[] = [];
  for (const t of wf.tasks) {
    const h = stored[t.name];
    if (h === undefined) added.push(t.name);
    else if (h !== taskHash(t)) changed.push(t.name);
  }
  return { changed, added };
}
