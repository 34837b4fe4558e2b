// GET /api/v1/overview (docs/api.md "For the dashboard"): every workflow of GET /workflows,
// each with its next run (from the daemon's schedule) and a strip of its last runs, in one
// answer read from one snapshot. One indexed lookup per workflow (idx_workflow_started), so it
// stays quick with many runs recorded.

import { workflowList } from "../cli/workflow.ts";
import type { History, RecentRun, WorkflowSummary } from "../store/queries.ts";

/** Runs in each workflow's strip. */
export const RECENT_RUNS = 30;

export interface OverviewRow extends WorkflowSummary {
  paused: boolean;
  next_run: string | null;
  recent: RecentRun[];
}

/**
 * The overview. `live`: the daemon's live status (its workflows' next_run), undefined without
 * a daemon (`picoflow dashboard`) or while it starts.
 */
export function overview(h: History, live: Record<string, unknown> | undefined): { generated_at: string; workflows: OverviewRow[] } {
  const next = nextRuns(live);
  const workflows = h.snapshot(() =>
    workflowList(h, false).map((w) => ({
      ...w,
      // A paused schedule does not fire: no next run, whatever the daemon last computed.
      next_run: w.paused ? null : (next.get(w.name) ?? null),
      recent: h.recentRuns(w.name, RECENT_RUNS),
    })),
  );
  return { generated_at: new Date().toISOString(), workflows };
}

/** Each loaded workflow's next fire time, from the daemon's live status. */
function nextRuns(live: Record<string, unknown> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const list = live?.workflows;
  if (!Array.isArray(list)) return out;
  for (const w of list as Record<string, unknown>[]) {
    if (typeof w?.name === "string" && typeof w.next_run === "string") out.set(w.name, w.next_run);
  }
  return out;
}
