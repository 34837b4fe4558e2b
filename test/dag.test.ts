// The DAG module is pure: table tests, no files or processes.

import { describe, expect, test } from "bun:test";
import { checkDag, dagLevels, topoOrder, type DagNode } from "../src/workflow/dag.ts";

const g = (spec: Record<string, string[]>): DagNode[] => Object.entries(spec).map(([name, dependsOn]) => ({ name, dependsOn }));

describe("checkDag", () => {
  const cases: { name: string; graph: DagNode[]; expect: { path: (string | number)[]; message: string }[] }[] = [
    { name: "a valid diamond", graph: g({ a: [], b: ["a"], c: ["a"], d: ["b", "c"] }), expect: [] },
    {
      name: "an unknown dependency, with a suggestion for a near miss",
      graph: g({ fetch: [], parse: ["fetc"], store: ["zzz"] }),
      expect: [
        { path: [1, "depends_on", 0], message: "unknown task 'fetc' (did you mean 'fetch'?)" },
        { path: [2, "depends_on", 0], message: "unknown task 'zzz'" },
      ],
    },
    { name: "a self-dependency", graph: g({ a: ["a"] }), expect: [{ path: [0, "depends_on", 0], message: "task 'a' depends on itself" }] },
    {
      name: "a duplicate task name",
      graph: [
        { name: "a", dependsOn: [] },
        { name: "a", dependsOn: [] },
      ],
      expect: [{ path: [1, "name"], message: "duplicate task name 'a' (first defined at tasks[0])" }],
    },
    { name: "a dependency listed twice", graph: g({ a: [], b: ["a", "a"] }), expect: [{ path: [1, "depends_on", 1], message: "'a' is listed twice" }] },
    {
      name: "a two-task cycle",
      graph: g({ a: ["b"], b: ["a"] }),
      expect: [{ path: [0, "depends_on"], message: "dependency cycle: a -> b -> a" }],
    },
    {
      name: "a longer cycle, named from its first-declared task",
      graph: g({ start: [], x: ["start", "z"], y: ["x"], z: ["y"] }),
      expect: [{ path: [1, "depends_on"], message: "dependency cycle: x -> z -> y -> x" }],
    },
    {
      name: "two separate cycles",
      graph: g({ a: ["b"], b: ["a"], c: ["d"], d: ["c"] }),
      expect: [
        { path: [0, "depends_on"], message: "dependency cycle: a -> b -> a" },
        { path: [2, "depends_on"], message: "dependency cycle: c -> d -> c" },
      ],
    },
  ];
  for (const c of cases) test(c.name, () => expect(checkDag(c.graph)).toEqual(c.expect));

  test("a 1000-task chain does not overflow the stack", () => {
    const chain = Array.from({ length: 1000 }, (_, i) => ({ name: `t${i}`, dependsOn: i ? [`t${i - 1}`] : [] }));
    expect(checkDag(chain)).toEqual([]);
    chain[0]!.dependsOn = ["t999"];
    const [p] = checkDag(chain);
    expect(p!.message).toStartWith("dependency cycle: t0 -> t999 -> t998");
  });
});

describe("ordering", () => {
  test("levels by longest path", () => {
    expect(dagLevels(g({ a: [], b: ["a"], c: [], d: ["b", "c"], e: ["a"] }))).toEqual([["a", "c"], ["b", "e"], ["d"]]);
  });
  test("topological order keeps declaration order among ready tasks", () => {
    const nodes = g({ late: ["early"], early: [], free: [], last: ["late", "free"] });
    expect(topoOrder(nodes).map((i) => nodes[i]!.name)).toEqual(["early", "late", "free", "last"]);
  });
});
