// The `graph` of GET /api/v1/executions/ID: the run's DAG as it ran, from the dependencies it
// recorded (task_needs), in the levels PicoFlow runs by (workflow/dag.ts, as `picoflow graph`).
// A run recorded before task_needs existed has no edges: all its tasks in one level.

import { dagLevels } from "../workflow/dag.ts";

export interface RunGraph {
  levels: string[][];
  /** [dependency, dependant] pairs. */
  edges: [string, string][];
  /** False for a run whose dependencies were not recorded. */
  known: boolean;
}

/** `tasks`: the run's DAG tasks, in order (its handlers are not part of the DAG). */
export function runGraph(tasks: string[], needs: Record<string, string[]> | null): RunGraph {
  if (needs === null) return { levels: tasks.length ? [tasks] : [], edges: [], known: false };
  const names = new Set(tasks);
  // Only dependencies between tasks of the run, once each: the level algorithm expects a checked graph.
  const nodes = tasks.map((name) => ({ name, dependsOn: [...new Set(needs[name] ?? [])].filter((d) => names.has(d) && d !== name) }));
  const edges = nodes.flatMap((n) => n.dependsOn.map((d): [string, string] => [d, n.name]));
  const levels = dagLevels(nodes);
  // A value that is not a DAG (edited by hand) leaves tasks out of the levels: shown flat instead.
  if (levels.reduce((n, l) => n + l.length, 0) !== tasks.length) {
    return { levels: [tasks], edges: [], known: false };
  }
  return { levels, edges, known: true };
}
