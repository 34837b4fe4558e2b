// The DAG's ready queue: which tasks can start, first declared first, as the tasks they depend
// on succeed. Pure bookkeeping by task index; the runner decides when to start a task and
// what its result means for the rest.

import { insertSorted } from "../workflow/dag.ts";
import type { Task } from "../workflow/types.ts";

export class ReadyQueue {
  /** Dependencies each task still waits for. */
  private readonly waiting: number[];
  private readonly dependants: number[][];
  private readonly ready: number[] = [];

  constructor(tasks: Task[]) {
    const index = new Map(tasks.map((t, i) => [t.name, i]));
    this.waiting = tasks.map((t) => t.dependsOn.length);
    this.dependants = tasks.map(() => []);
    tasks.forEach((t, i) => t.dependsOn.forEach((d) => this.dependants[index.get(d)!]!.push(i)));
    this.waiting.forEach((w, i) => w === 0 && this.ready.push(i));
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
    for (const d of this.dependants[i]!) if (--this.waiting[d]! === 0) insertSorted(this.ready, d);
  }
}
