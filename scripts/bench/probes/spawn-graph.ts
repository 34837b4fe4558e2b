// Reference for the per-task benchmarks: the same graph run with nothing but Bun.spawn, as
// PicoFlow spawns (argv, own process group, both pipes drained), with no recording, logging or
// retries. What it costs beyond make is the runtime's; what PicoFlow costs beyond it is ours.
//
//   probe-spawn-graph GRAPH.json      ({ maxParallel, tasks: [{ name, deps }] }, from workloads.ts)

import { readFileSync } from "node:fs";

const graph = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as { maxParallel: number; tasks: { name: string; deps: string[] }[] };
const index = new Map(graph.tasks.map((t, i) => [t.name, i]));
const waiting = graph.tasks.map((t) => t.deps.length);
const dependants: number[][] = graph.tasks.map(() => []);
graph.tasks.forEach((t, i) => t.deps.forEach((d) => dependants[index.get(d)!]!.push(i)));
const ready = graph.tasks.flatMap((_, i) => (waiting[i] === 0 ? [i] : []));
let running = 0;
let done = 0;

await new Promise<void>((finish) => {
  const start = () => {
    while (ready.length && running < graph.maxParallel) {
      const i = ready.shift()!;
      running++;
      const p = Bun.spawn(["/bin/true"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
      Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).arrayBuffer(), p.exited]).then(([, , code]) => {
        if (code !== 0) throw new Error(`task ${graph.tasks[i]!.name} exited ${code}`);
        running--;
        done++;
        for (const d of dependants[i]!) if (--waiting[d]! === 0) ready.push(d);
        if (done === graph.tasks.length) finish();
        else start();
      });
    }
  };
  start();
});
