// Task markers: every local task process gets its run and attempt id in its environment, and
// inherits them to its children. Crash recovery finds a dead run's processes by scanning
// /proc/*/environ for them, even those whose pid was never recorded or that left their
// process group with setsid.

import { readdirSync, readFileSync } from "node:fs";
import { readStat } from "./proc.ts";

/** Environment variable naming the run a task process belongs to. */
export const RUN_ID_VAR = "PICOFLOW_RUN_ID";
/** Environment variable naming the attempt a task process belongs to. */
export const ATTEMPT_ID_VAR = "PICOFLOW_ATTEMPT_ID";

/** The marker variables of one attempt. */
export function markerEnv(runId: string, attemptId: string): Record<string, string> {
  return { [RUN_ID_VAR]: runId, [ATTEMPT_ID_VAR]: attemptId };
}

export interface MarkedProcess {
  pid: number;
  /** Its process group, so what it started in its group can be stopped with it. */
  pgid: number;
  runId: string;
}

/**
 * Live processes whose environment marks them as belonging to one of `runIds`. Zombies are
 * left out (they have exited), and so are processes whose environment cannot be read (another
 * user's, unless we are root). A process's environment is what it was started with: a task that
 * changes its own variables later is still found; one that starts children with a cleared
 * environment (`env -i`) hides those children.
 */
export function findMarkedProcesses(runIds: ReadonlySet<string>): MarkedProcess[] {
  if (!runIds.size) return [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const prefix = `${RUN_ID_VAR}=`;
  const out: MarkedProcess[] = [];
  for (const d of entries) {
    const c = d.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${d}/environ`, "latin1");
    } catch {
      continue;
    }
    const at = env.startsWith(prefix) ? 0 : env.indexOf(`\0${prefix}`);
    if (at < 0) continue;
    const start = at === 0 ? prefix.length : at + 1 + prefix.length;
    const end = env.indexOf("\0", start);
    const runId = env.slice(start, end < 0 ? undefined : end);
    if (!runIds.has(runId)) continue;
    const st = readStat(d);
    if (!st || st.state === "Z" || st.state === "X") continue;
    out.push({ pid: Number(d), pgid: st.pgid, runId });
  }
  return out;
}
