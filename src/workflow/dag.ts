// Pure DAG checks and ordering over task names. No I/O, no clocks: table tests cover it.

export interface DagNode {
  name: string;
  dependsOn: readonly string[];
}

/** A problem found in the graph. `path` is relative to the workflow's `tasks` list. */
export interface DagProblem {
  path: (string | number)[];
  message: string;
}

export interface DagCheckOptions {
  /** False for a graph known to be incomplete: unknown dependencies are then not reported. */
  unknownDependencies?: boolean;
  /** How a name is written into a message, quoted and bare (the loader marks them for masking). */
  quote?: (name: string) => string;
  bare?: (name: string) => string;
}

/** A cycle longer than this is shown by its first and last tasks and its length. */
const CYCLE_SHOWN = 10;

/** Suggestions cost a comparison with every name: a file full of unknown names gets a few. */
const MAX_SUGGESTIONS = 100;

/**
 * Every structural problem in one pass: duplicate names, a task depending on itself, a
 * dependency listed more than once (one problem, with the count), unknown dependencies
 * (unless `unknownDependencies` is false), and each cycle with its path.
 */
export function checkDag(nodes: readonly DagNode[], opts: DagCheckOptions = {}): DagProblem[] {
  const q = opts.quote ?? ((v: string) => `'${v}'`);
  const b = opts.bare ?? ((v: string) => v);
  const problems: DagProblem[] = [];
  const firstIndex = new Map<string, number>();
  nodes.forEach((n, i) => {
    const seen = firstIndex.get(n.name);
    if (seen === undefined) firstIndex.set(n.name, i);
    else problems.push({ path: [i, "name"], message: `duplicate task name ${q(n.name)} (first defined at tasks[${seen}])` });
  });

  // Edges that are sound enough to look for cycles in.
  const edges: number[][] = nodes.map(() => []);
  let suggestions = MAX_SUGGESTIONS;
  nodes.forEach((n, i) => {
    // Per name: where it is listed a second time, and how often in all.
    const listed = new Map<string, { again: number; count: number }>();
    n.dependsOn.forEach((dep, k) => {
      const at = [i, "depends_on", k];
      const seen = listed.get(dep);
      if (seen) {
        if (seen.count++ === 1) seen.again = k;
        return;
      }
      listed.set(dep, { again: -1, count: 1 });
      if (dep === n.name) {
        problems.push({ path: at, message: `task ${q(n.name)} depends on itself` });
        return;
      }
      const j = firstIndex.get(dep);
      if (j === undefined) {
        if (opts.unknownDependencies !== false) {
          const hint = suggestions-- > 0 ? suggest(dep, firstIndex.keys(), q) : "";
          problems.push({ path: at, message: `unknown task ${q(dep)}${hint}` });
        }
        return;
      }
      edges[i]!.push(j);
    });
    for (const [dep, { again, count }] of listed) {
      if (count > 1) problems.push({ path: [i, "depends_on", again], message: `${q(dep)} is listed ${count === 2 ? "twice" : `${count} times`}` });
    }
  });

  for (const cycle of findCycles(edges)) {
    let names = [...cycle, cycle[0]!].map((i) => b(nodes[i]!.name));
    if (names.length > CYCLE_SHOWN + 1) names = [...names.slice(0, CYCLE_SHOWN - 2), "…", ...names.slice(-2)];
    const length = cycle.length > CYCLE_SHOWN ? ` (${cycle.length} tasks)` : "";
    problems.push({ path: [cycle[0]!, "depends_on"], message: `dependency cycle: ${names.join(" -> ")}${length}` });
  }
  return problems;
}

/** One cycle per strongly connected tangle, each starting at its first-declared task. */
function findCycles(edges: number[][]): number[][] {
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Uint8Array(edges.length);
  const cycles: number[][] = [];
  for (let root = 0; root < edges.length; root++) {
    if (color[root] !== WHITE) continue;
    // Iterative DFS: a chain of 1000 tasks must not overflow the stack.
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    const onPath: number[] = [root];
    color[root] = GREY;
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const out = edges[top.node]!;
      if (top.next < out.length) {
        const child = out[top.next++]!;
        if (color[child] === WHITE) {
          color[child] = GREY;
          stack.push({ node: child, next: 0 });
          onPath.push(child);
        } else if (color[child] === GREY) {
          const cycle = onPath.slice(onPath.indexOf(child));
          // Rotate so the cycle starts at its first-declared task: stable, readable messages.
          const min = cycle.indexOf(Math.min(...cycle));
          cycles.push([...cycle.slice(min), ...cycle.slice(0, min)]);
        }
      } else {
        color[top.node] = BLACK;
        stack.pop();
        onPath.pop();
      }
    }
  }
  return cycles;
}

/**
 * Levels by longest path from a root: level 0 has no dependencies, level k depends on
 * something in level k-1. Assumes a checked, acyclic graph.
 */
export function dagLevels(nodes: readonly DagNode[]): string[][] {
  const index = new Map(nodes.map((n, i) => [n.name, i]));
  const level = new Array<number>(nodes.length).fill(-1);
  for (const i of topoOrder(nodes)) {
    let l = 0;
    for (const d of nodes[i]!.dependsOn) l = Math.max(l, level[index.get(d)!]! + 1);
    level[i] = l;
  }
  const out: string[][] = [];
  nodes.forEach((n, i) => (out[level[i]!] ??= []).push(n.name));
  return out;
}

/** Indexes in a dependency-respecting order; among ready tasks, declaration order. */
export function topoOrder(nodes: readonly DagNode[]): number[] {
  const index = new Map(nodes.map((n, i) => [n.name, i]));
  const waiting = nodes.map((n) => n.dependsOn.length);
  const dependants: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => n.dependsOn.forEach((d) => dependants[index.get(d)!]!.push(i)));
  const order: number[] = [];
  // A sorted ready list keeps declaration order among ready tasks.
  const ready = waiting.flatMap((w, i) => (w === 0 ? [i] : []));
  while (ready.length) {
    const i = ready.shift()!;
    order.push(i);
    for (const d of dependants[i]!) if (--waiting[d]! === 0) insertSorted(ready, d);
  }
  return order;
}

export function insertSorted(list: number[], value: number): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, value);
}

/** " (did you mean 'x'?)" for a near miss, else "". */
export function suggest(word: string, candidates: Iterable<string>, quote = (v: string) => `'${v}'`): string {
  let best: string | undefined;
  let bestDist = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    // The distance is at least the difference in length: skip the work when that is too far.
    if (Math.abs(word.length - c.length) >= bestDist) continue;
    const d = editDistance(word, c);
    // A "suggestion" that shares nothing with the word helps nobody.
    if (d < bestDist && d < word.length) {
      best = c;
      bestDist = d;
    }
  }
  return best === undefined ? "" : ` (did you mean ${quote(best)}?)`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
