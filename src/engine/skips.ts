// Why the tasks of a run that never started did not: an upstream failure (propagated down the
// graph to its root), the run's interrupt, or the first failure that stopped new starts.

import type { Workflow } from "../workflow/types.ts";
import type { TaskSummary } from "./runner.ts";

/**
 * Fills in a `skipped` summary for every task without one (or skipped), in declaration order,
 * and returns them with their reasons. A task the interrupt stopped did not fail on its own:
 * its dependants were interrupted, not skipped for it.
 */
export function skipReasons(
  wf: Workflow,
  summaries: (TaskSummary | undefined)[],
  interruptedBy: string | undefined,
  firstFailure: string | undefined,
): { task: string; reason: string }[] {
  const index = new Map(wf.tasks.map((t, i) => [t.name, i]));
  const skipped: { task: string; reason: string }[] = [];
  const upstream = new Map<number, string>();
  wf.tasks.forEach((t, i) => {
    if (summaries[i] && summaries[i]!.status !== "skipped") return;
    let reason: string;
    // A dependency outside a partial run (--only, --from) is not there to have failed.
    const deps = t.dependsOn.flatMap((d) => (index.has(d) ? [index.get(d)!] : []));
    const failedDep = deps.find((j) => {
      const s = summaries[j];
      return (s && s.status !== "success" && s.status !== "skipped" && !s.tolerated && !s.interrupted) || upstream.has(j);
    });
    if (failedDep !== undefined) {
      const root = upstream.get(failedDep) ?? wf.tasks[failedDep]!.name;
      upstream.set(i, root);
      reason = `skipped: upstream '${root}' failed`;
    } else if (interruptedBy) {
      reason = `not started: run interrupted by ${interruptedBy}`;
    } else if (firstFailure) {
      reason = `skipped: run stopped after '${firstFailure}' failed`;
    } else {
      reason = "not started";
    }
    summaries[i] = { name: t.name, status: "skipped", attempts: 0, durationSeconds: 0, exitCode: null, reason, tolerated: false };
    skipped.push({ task: t.name, reason });
  });
  return skipped;
}
