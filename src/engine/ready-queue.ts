// The DAG's ready queue: which tasks can start, first declared first, as the tasks they depend
// on succeed. Pure bookkeeping by task index; the runner decides when to start a task and
// what its result means for the rest. A run of part of a workflow (plan.ts) starts only some
// tasks: a dependency that is not started in this run (reused by a retry, or left out by
// --only/--from) counts as satisfied.

import { insertSorted } from "../workflow/dag.ts";
import type { Task } from "../workflow/types.ts";

export class ReadyQueue {
  /** Dependencies each task still waits for. */
  private readonly waiting: number[];
  private readonly dependants: number[][];
  private readonly ready: number[] = [];

  /** `starts(i)`: task i is started by this run (default: all). */
  constructor(tasks: Task[], starts: (i: number) => boolean = () => true) {
    const index = new Map(tasks.map((t, i) => [t.name, i]));
    this.waiting = tasks.map(() => 0);
    this.dependants = tasks.map(() => []);
    tasks.forEach((t, i) => {
      if (!starts(i)) return;
      for (const d of t.dependsOn) {
        const j = index.get(d);
        if (j === undefined || !starts(j)) continue;
        this.waiting[i]!++;
        this.dependants[j]!.push(i);
      }
    });
    this.waiting.forEach((w, i) => w === 0 && starts(i) && this.ready.push(i));
  }

  get isEmpty(): boolean {
    return this.ready.length === 0;
  }

  /** The next task to start; only when not empty. */
  take(): number {
    return this.ready.shift()!;
  }

  /** Task `i` succeeded (or its failure is tolerated): dependants waiting for nothing else become ready. */
  release(i: number): void {
    for (const d of this.dependants[i]!) {
      if (--this.waiting[d]! !== 0) continue;
      // Declared after every ready task (a chain, the next level): at the end, no search.
      if (!this.ready.length || this.ready[this.ready.length - 1]! < d) this.ready.push(d);
      else insertSorted(this.ready, d);
    }
  }
}
