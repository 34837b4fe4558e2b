// `picoflow graph FILE`: the DAG drawn as ascii levels, Graphviz dot (checked by the real
// `dot -Tsvg`), Mermaid and JSON, handlers apart; loaded and refused exactly as `validate` does.

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { cli, picoflowCommand, sandboxMaker } from "./helpers.ts";

const sb = sandboxMaker()();

/** stderr without the JSON log lines: what a user reads as the error. */
const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l && !l.startsWith("{"));

const diamond = sb.workflow(
  `name: diamond
tasks:
  - {name: fetch, type: http, config: {url: "http://127.0.0.1:9/data", method: GET}}
  - {name: parse, type: shell, config: {command: /bin/true}, depends_on: [fetch]}
  - {name: check, type: shell, config: {command: /bin/true}, depends_on: [fetch]}
  - {name: store, type: shell, config: {command: /bin/true}, depends_on: [parse, check]}
on_failure:
  - {name: alert, type: http, config: {url: "http://127.0.0.1:9/alert", method: POST}}
on_exit:
  - {name: cleanup, type: shell, config: {command: /bin/true}}
  - {name: report, type: shell, config: {command: /bin/true}}
`,
  "diamond.yaml",
);

/** Names that are keywords in DOT (node, edge, graph, subgraph) or in Mermaid (end, graph, class). */
const keywords = sb.workflow(
  `name: keywords
tasks:
  - {name: node, type: shell, config: {command: /bin/true}}
  - {name: edge, type: shell, config: {command: /bin/true}}
  - {name: end, type: shell, config: {command: /bin/true}, depends_on: [node, edge]}
  - {name: graph, type: shell, config: {command: /bin/true}, depends_on: [end]}
  - {name: subgraph, type: shell, config: {command: /bin/true}, depends_on: [end]}
  - {name: class, type: shell, config: {command: /bin/true}, depends_on: [graph, subgraph, node]}
on_success:
  - {name: style, type: shell, config: {command: /bin/true}}
`,
  "keywords.yaml",
);

/** Every task and handler, with the dependencies each task declares. */
const KEYWORD_TASKS = ["node", "edge", "end", "graph", "subgraph", "class", "style"];
const KEYWORD_EDGES = [
  ["node", "end"],
  ["edge", "end"],
  ["end", "graph"],
  ["end", "subgraph"],
  ["graph", "class"],
  ["subgraph", "class"],
  ["node", "class"],
];

describe("ascii (the default)", () => {
  test("a diamond: its levels in order, each task with its type and what it waits for, then the handlers apart", async () => {
    const r = await cli(sb, ["--db-path", `${sb.dir}/graph.db`, "graph", diamond]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "Workflow 'diamond': 4 tasks in 3 levels, 3 handlers",
        "A task starts when everything after its ← has succeeded.",
        "",
        "Level 1",
        "  fetch    http",
        "",
        "Level 2",
        "  parse    shell  ← fetch",
        "  check    shell  ← fetch",
        "",
        "Level 3",
        "  store    shell  ← parse, check",
        "",
        "Handlers (not part of the DAG: they run after it, by its outcome)",
        "  on_failure",
        "    alert    http",
        "  on_exit",
        "    cleanup  shell",
        "    report   shell",
        "",
      ].join("\n"),
    );
    expect(errorLines(r.stderr)).toEqual([]);
    // Like validate, it never creates a database.
    expect(existsSync(`${sb.dir}/graph.db`)).toBe(false);
  });

  test("a long list of dependencies wraps under its first name within 80 columns; no colour when piped", async () => {
    const roots = Array.from({ length: 12 }, (_, i) => `extract-source-${String(i).padStart(2, "0")}`);
    const file = sb.workflow(
      `name: wide\ntasks:\n${roots.map((n) => `  - {name: ${n}, type: shell, config: {command: /bin/true}}\n`).join("")}` +
        `  - {name: load, type: shell, config: {command: /bin/true}, depends_on: [${roots.join(", ")}]}\n`,
    );
    const r = await cli(sb, ["graph", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\x1b[");
    const lines = r.stdout.split("\n");
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    const at = lines.findIndex((l) => l.startsWith("  load "));
    const arrow = lines[at]!.indexOf("← ") + 2;
    // Every name once, in order, each continuation line starting under the first name.
    const block = [lines[at]!.slice(arrow), ...lines.slice(at + 1).filter((l) => l.startsWith(" ".repeat(arrow)) && l.trim())];
    expect(block.length).toBeGreaterThan(1);
    for (const l of block.slice(1)) expect(l.slice(0, arrow).trim()).toBe("");
    expect(block.join(" ").split(/,?\s+/).filter(Boolean)).toEqual(roots);
  });

  test("on a terminal the headings and types are coloured, and the text is the same", async () => {
    const piped = await cli(sb, ["graph", diamond]);
    const p = Bun.spawn(["script", "-qec", `${picoflowCommand().join(" ")} graph ${diamond}`, "/dev/null"], {
      cwd: sb.dir,
      env: sb.env,
      stdin: "ignore",
      stdout: "pipe",
    });
    const out = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    expect(out).toContain("\x1b[1mLevel 1\x1b[0m");
    expect(out.replace(/\x1b\[[0-9;]*m/g, "").replaceAll("\r\n", "\n")).toBe(piped.stdout);
  });
});

/** Run Graphviz's `dot` on `text`; its exit code, SVG and errors. */
async function graphviz(text: string): Promise<{ code: number; svg: string; stderr: string }> {
  const p = Bun.spawn(["dot", "-Tsvg"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  p.stdin.write(text);
  await p.stdin.end();
  const [svg, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, svg, stderr };
}

/** The titles of the SVG's nodes (Graphviz writes each node's id as its <title>). */
const svgTitles = (svg: string, cls: string) =>
  [...svg.matchAll(new RegExp(`<g id="[^"]*" class="${cls}">\\s*<title>([^<]*)</title>`, "g"))].map((m) => m[1]!.replace(/&#45;/g, "-").replace(/&gt;/g, ">"));

describe("--format dot", () => {
  test("passes the real `dot -Tsvg`: a node per task and handler, an edge per dependency, handlers in a dashed cluster", async () => {
    for (const [file, names, edges] of [
      [diamond, ["fetch", "parse", "check", "store", "alert", "cleanup", "report"], [["fetch", "parse"], ["fetch", "check"], ["parse", "store"], ["check", "store"]]],
      [keywords, KEYWORD_TASKS, KEYWORD_EDGES],
    ] as [string, string[], string[][]][]) {
      const r = await cli(sb, ["graph", file, "--format", "dot"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith("digraph ");
      expect(r.stdout).toContain("rankdir=LR;");
      const g = await graphviz(r.stdout);
      expect({ code: g.code, stderr: g.stderr }).toEqual({ code: 0, stderr: "" });
      expect(svgTitles(g.svg, "node").sort()).toEqual([...names].sort());
      // The invisible layout edges to the handlers are not drawn.
      expect(svgTitles(g.svg, "edge").sort()).toEqual(edges.map(([a, b]) => `${a}->${b}`).sort());
      expect(svgTitles(g.svg, "cluster")).toContain("cluster_handlers");
    }
  });

  test("labels are the name over the type; handlers are dashed, grouped by kind", async () => {
    const r = await cli(sb, ["graph", diamond, "-o", "dot"]);
    expect(r.stdout).toContain(`"fetch" [label="fetch\\n(http)"];`);
    expect(r.stdout).toContain(`"fetch" -> "parse";`);
    expect(r.stdout).toMatch(/subgraph cluster_handlers \{\n\s+label="handlers \(after the DAG\)";\n\s+style=dashed;/);
    expect(r.stdout).toContain(`subgraph "cluster_on_exit"`);
    expect(r.stdout).not.toContain(`"cluster_on_success"`);
    expect(r.stdout).toContain(`"alert" [label="alert\\n(http)", style="rounded,dashed"];`);
  });
});

describe("--format mermaid", () => {
  test("a flowchart with a node per task, an edge per dependency, generated ids (a task named `end` is safe)", async () => {
    const r = await cli(sb, ["graph", keywords, "--format", "mermaid"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.filter((l) => !l.startsWith("%%"))[0]).toBe("flowchart LR");
    // id -> name, from the node lines.
    const nodes = new Map<string, string>();
    for (const l of lines) {
      const m = /^\s*(\w+)\["([^"]*)<br\/>\((shell|ssh|http)\)"\]$/.exec(l);
      if (m) nodes.set(m[1]!, m[2]!);
    }
    expect([...nodes.values()].sort()).toEqual([...KEYWORD_TASKS].sort());
    // No id is a task's name (Mermaid's keywords stay labels).
    for (const id of nodes.keys()) expect(id).toMatch(/^t\d+$/);
    const edges = lines.flatMap((l) => {
      const m = /^\s*(\w+) --> (\w+)$/.exec(l);
      return m ? [[nodes.get(m[1]!), nodes.get(m[2]!)]] : [];
    });
    expect(edges).toEqual(KEYWORD_EDGES);
    // Each subgraph is closed by its own `end`, and `end` appears nowhere else.
    const opened = lines.filter((l) => /^\s*subgraph /.test(l)).length;
    expect(opened).toBe(2);
    expect(lines.filter((l) => /\bend\b/.test(l.replace(/"[^"]*"/g, ""))).map((l) => l.trim())).toEqual(["end", "end"]);
  });

  test("handlers are in a dashed subgraph per kind, with no edges", async () => {
    const r = await cli(sb, ["graph", diamond, "-o", "mermaid"]);
    expect(r.stdout).toContain(`  subgraph handlers["handlers (after the DAG)"]\n    direction TB\n    subgraph handlers_on_failure["on_failure"]\n      t4["alert<br/>(http)"]\n    end\n`);
    expect(r.stdout).toContain(`    subgraph handlers_on_exit["on_exit"]\n      t5["cleanup<br/>(shell)"]\n      t6["report<br/>(shell)"]\n    end\n  end\n`);
    expect(r.stdout).toContain("style handlers stroke-dasharray: 5 5");
    expect(r.stdout).not.toMatch(/t[456]\b.*-->|-->.*t[456]\b/);
  });
});

describe("--format json", () => {
  test("workflow, levels, edges, handlers by kind, and each name's type", async () => {
    const r = await cli(sb, ["graph", diamond, "--format", "JSON"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      workflow: "diamond",
      levels: [["fetch"], ["parse", "check"], ["store"]],
      edges: [
        ["fetch", "parse"],
        ["fetch", "check"],
        ["parse", "store"],
        ["check", "store"],
      ],
      handlers: { on_failure: ["alert"], on_success: [], on_exit: ["cleanup", "report"] },
      types: { fetch: "http", parse: "shell", check: "shell", store: "shell", alert: "http", cleanup: "shell", report: "shell" },
    });
  });
});

describe("loaded as validate loads it", () => {
  test("an invalid file: every problem as FILE:LINE:COL, exit 2, nothing on stdout", async () => {
    const bad = sb.workflow(
      "name: bad\ntasks:\n  - {name: a, type: shell, retyr: 1, config: {command: /bin/true}, depends_on: [b]}\n  - {name: b, type: shell, config: {command: /bin/true}, depends_on: [a, c]}\n",
      "bad.yaml",
    );
    const validate = await cli(sb, ["validate", bad]);
    expect(errorLines(validate.stderr)).toEqual([
      `${bad}:3:28: tasks[0].retyr: unknown key`,
      `${bad}:3:80: tasks[0].depends_on: dependency cycle: a -> b -> a`,
      `${bad}:4:74: tasks[1].depends_on[1]: unknown task 'c'`,
    ]);
    for (const format of ["ascii", "dot", "mermaid", "json"]) {
      const r = await cli(sb, ["graph", bad, "--format", format]);
      expect({ code: r.code, err: errorLines(r.stderr), out: r.stdout }).toEqual({ code: 2, err: errorLines(validate.stderr), out: "" });
    }
  });

  test("a missing file is exit 5", async () => {
    const r = await cli(sb, ["graph", `${sb.dir}/missing.yaml`]);
    expect({ code: r.code, err: errorLines(r.stderr), out: r.stdout }).toEqual({ code: 5, err: [`picoflow: ${sb.dir}/missing.yaml: no such file`], out: "" });
  });

  test("warnings go to stderr and the graph is drawn (exit 0)", async () => {
    const file = sb.workflow("name: warned\ntasks:\n  - {name: a, type: shell, config: {command: /bin/echo, args: [\"${GRAPH_TEST_UNSET}\"]}}\n");
    const r = await cli(sb, ["graph", file, "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).levels).toEqual([["a"]]);
    expect(errorLines(r.stderr)).toEqual([
      `${file}:3:64: warning: tasks[0].config.args[0]: \${GRAPH_TEST_UNSET} is not set, so it becomes "" here; write \${GRAPH_TEST_UNSET:-} if that is meant`,
    ]);
  });

  test("an unknown --format is exit 4 with the formats and a near miss", async () => {
    const near = await cli(sb, ["graph", diamond, "--format", "mermiad"]);
    expect({ code: near.code, err: errorLines(near.stderr), out: near.stdout }).toEqual({
      code: 4,
      err: ["picoflow: --format: 'mermiad' is not one of ascii, dot, mermaid, json (did you mean 'mermaid'?)"],
      out: "",
    });
    const far = await cli(sb, ["graph", diamond, "-o", "svg"]);
    expect({ code: far.code, err: errorLines(far.stderr) }).toEqual({ code: 4, err: ["picoflow: --format: 'svg' is not one of ascii, dot, mermaid, json"] });
  });
});
