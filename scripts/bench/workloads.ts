// The benchmark workloads as files: each graph once as a PicoFlow workflow and once as a
// Makefile with the same edges, so both tools run exactly the same processes.

import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Graph {
  name: string;
  /** Task names in declaration order with their dependencies. */
  tasks: { name: string; deps: string[] }[];
  maxParallel: number;
}

/** `levels` levels of `width` tasks; each task depends on two tasks of the previous level. */
export function layered(levels = 10, width = 100, maxParallel = 8): Graph {
  const tasks: Graph["tasks"] = [];
  for (let l = 0; l < levels; l++) {
    for (let i = 0; i < width; i++) {
      const deps = l === 0 ? [] : [`t${l - 1}_${i}`, `t${l - 1}_${(i + 1) % width}`];
      tasks.push({ name: `t${l}_${i}`, deps });
    }
  }
  return { name: "layered", tasks, maxParallel };
}

/** `n` tasks, each depending on the one before. */
export function chain(n = 200): Graph {
  const tasks = Array.from({ length: n }, (_, i) => ({ name: `c${i}`, deps: i ? [`c${i - 1}`] : [] }));
  return { name: "chain", tasks, maxParallel: 1 };
}

/** Every task runs /bin/true directly (argv, no shell), as make does for a simple recipe. */
export function workflowYaml(g: Graph): string {
  let y = `name: ${g.name}\nconfig:\n  max_parallel: ${g.maxParallel}\n  retry_default: 0\n  timeout_default: 0\ntasks:\n`;
  for (const t of g.tasks) {
    y += `  - name: ${t.name}\n    type: shell\n`;
    if (t.deps.length) y += `    depends_on: [${t.deps.join(", ")}]\n`;
    y += `    config:\n      command: /bin/true\n`;
  }
  return y;
}

/**
 * The same workflow with each task as a flow mapping on one line
 * (`- { name: a, type: shell, config: { command: /bin/true } }`), a style users write too:
 * `validate` must be as fast for it as for block style.
 */
export function workflowFlowYaml(g: Graph): string {
  let y = `name: ${g.name}\nconfig:\n  max_parallel: ${g.maxParallel}\n  retry_default: 0\n  timeout_default: 0\ntasks:\n`;
  for (const t of g.tasks) {
    const deps = t.deps.length ? ` depends_on: [${t.deps.join(", ")}],` : "";
    y += `  - { name: ${t.name}, type: shell,${deps} config: { command: /bin/true } }\n`;
  }
  return y;
}

/** The 1000-task layered graph in flow style (see workflowFlowYaml), for the `validate` figure. */
export function layeredFlowYaml(levels = 10, width = 100, maxParallel = 8): string {
  return workflowFlowYaml(layered(levels, width, maxParallel));
}

/**
 * The same graph for make. Phony targets run once per invocation, and a recipe without shell
 * metacharacters is exec'd directly by make (no /bin/sh), like PicoFlow's argv tasks.
 */
export function makefile(g: Graph): string {
  const sinks = new Set(g.tasks.map((t) => t.name));
  for (const t of g.tasks) for (const d of t.deps) sinks.delete(d);
  let m = `.PHONY: all ${g.tasks.map((t) => t.name).join(" ")}\nall: ${[...sinks].join(" ")}\n`;
  for (const t of g.tasks) m += `${t.name}:${t.deps.map((d) => ` ${d}`).join("")}\n\t@/bin/true\n`;
  return m;
}

/** One task printing `bytes` bytes to stdout. */
export function outputYaml(bytes: number): string {
  return `name: output_${bytes}
config:
  retry_default: 0
  timeout_default: 0
tasks:
  - name: print
    type: shell
    config:
      command: /bin/sh
      args: ["-c", "yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c ${bytes}"]
`;
}

/** `n` shell tasks sleeping `seconds` at once. */
export function parallelSleepYaml(n: number, seconds: number): string {
  let y = `name: parallel_${n}\nconfig:\n  max_parallel: ${n}\n  retry_default: 0\n  timeout_default: 0\ntasks:\n`;
  for (let i = 0; i < n; i++) y += `  - name: sleep${i}\n    type: shell\n    config:\n      command: /bin/sleep\n      args: ["${seconds}"]\n`;
  return y;
}

/** One scheduled shell workflow for the idle daemon. */
export function scheduledYaml(schedule: string): string {
  return `name: nightly
description: One scheduled shell task, for the idle-memory benchmark
schedule: "${schedule}"
config:
  retry_default: 0
tasks:
  - name: stamp
    type: shell
    config:
      command: /bin/echo
      args: ["tick"]
`;
}

export function writeGraph(dir: string, g: Graph): { yaml: string; makefile: string; json: string } {
  const yaml = join(dir, `${g.name}.yaml`);
  const mk = join(dir, `${g.name}.mk`);
  const json = join(dir, `${g.name}.json`);
  writeFileSync(yaml, workflowYaml(g));
  writeFileSync(mk, makefile(g));
  writeFileSync(json, JSON.stringify(g));
  return { yaml, makefile: mk, json };
}
