// A built workflow's DAG as text, for `picoflow graph`: ascii (levels, for a terminal), Graphviz
// dot, Mermaid, and JSON for scripts. Pure: no I/O. Labels are task names and types only, never
// a config value, so nothing here can show a secret.

import { dagLevels } from "./dag.ts";
import { HANDLER_KINDS, type HandlerKind, type Task, type Workflow } from "./types.ts";

export const GRAPH_FORMATS = ["ascii", "dot", "mermaid", "json"] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** What every format draws: the levels PicoFlow runs by, the edges, and the handlers apart. */
export interface GraphModel {
  workflow: string;
  /** Task names by level (dag.ts): level k depends on something in level k-1. */
  levels: string[][];
  /** [dependency, dependant], by dependant in declaration order, then its depends_on order. */
  edges: [string, string][];
  /** Handler names by kind, in the order they run; every kind present, maybe empty. */
  handlers: Record<HandlerKind, string[]>;
  /** The type of every task and handler (names are unique across both). */
  types: Record<string, Task["type"]>;
}

export function graphModel(wf: Workflow): GraphModel {
  const list = wf.handlers ?? [];
  const handlers = Object.fromEntries(HANDLER_KINDS.map((k) => [k, list.filter((h) => h.handler === k).map((h) => h.name)])) as Record<HandlerKind, string[]>;
  const types: Record<string, Task["type"]> = {};
  for (const t of [...wf.tasks, ...(wf.handlers ?? [])]) types[t.name] = t.type;
  return {
    workflow: wf.name,
    levels: dagLevels(wf.tasks),
    edges: wf.tasks.flatMap((t) => t.dependsOn.map((d): [string, string] => [d, t.name])),
    handlers,
    types,
  };
}

/** Styling hooks for the ascii form (the CLI colours on a terminal; identity otherwise). */
export interface AsciiStyle {
  heading: (text: string) => string;
  type: (text: string) => string;
}

const PLAIN: AsciiStyle = { heading: (s) => s, type: (s) => s };

export function renderGraph(wf: Workflow, format: GraphFormat, style: AsciiStyle = PLAIN): string {
  const m = graphModel(wf);
  switch (format) {
    case "ascii":
      return renderAscii(m, style);
    case "dot":
      return renderDot(m);
    case "mermaid":
      return renderMermaid(m);
    case "json":
      return renderJson(m);
  }
}

/**
 * The model as one pretty-printed JSON document, each list of names on one line (a level, an
 * edge), so a long workflow stays readable and greppable.
 */
export function renderJson(m: GraphModel): string {
  const list = (items: readonly unknown[]) => `[${items.map((v) => JSON.stringify(v)).join(", ")}]`;
  const lines = (items: readonly string[], indent: string) => (items.length ? `[\n${items.map((v) => `${indent}  ${v}`).join(",\n")}\n${indent}]` : "[]");
  const handlers = HANDLER_KINDS.map((k) => `    ${JSON.stringify(k)}: ${list(m.handlers[k])}`).join(",\n");
  const types = Object.entries(m.types).map(([n, t]) => `    ${JSON.stringify(n)}: ${JSON.stringify(t)}`).join(",\n");
  return (
    `{\n  "workflow": ${JSON.stringify(m.workflow)},\n` +
    `  "levels": ${lines(m.levels.map(list), "  ")},\n` +
    `  "edges": ${lines(m.edges.map(list), "  ")},\n` +
    `  "handlers": {\n${handlers}\n  },\n` +
    `  "types": {\n${types}\n  }\n}\n`
  );
}

// ---- ascii ----

/** The width the ascii form wraps dependency lists at. */
const WIDTH = 80;
/** A longer name widens only its own line, not the whole name column. */
const NAME_COLUMN_MAX = 24;
/** "shell", the longest type. */
const TYPE_COLUMN = 5;

/**
 * One block per level, each task with its type and what it waits for ("← a, b"), then the
 * handlers by kind. A long dependency list wraps under its first name, within 80 columns.
 */
export function renderAscii(m: GraphModel, style: AsciiStyle = PLAIN): string {
  const deps = new Map<string, string[]>();
  for (const [from, to] of m.edges) (deps.get(to) ?? deps.set(to, []).get(to)!).push(from);
  const handlerCount = HANDLER_KINDS.reduce((n, k) => n + m.handlers[k].length, 0);
  const nameWidth = Math.max(1, ...Object.keys(m.types).map((n) => n.length).filter((n) => n <= NAME_COLUMN_MAX));
  const taskCount = m.levels.reduce((n, l) => n + l.length, 0);
  const counts = [plural(taskCount, "task"), `in ${plural(m.levels.length, "level")}`].join(" ");
  let out = `${style.heading(`Workflow '${m.workflow}'`)}: ${counts}${handlerCount ? `, ${plural(handlerCount, "handler")}` : ""}\n`;
  out += `A task starts when everything after its ← has succeeded.\n`;
  m.levels.forEach((names, i) => {
    out += `\n${style.heading(`Level ${i + 1}`)}\n`;
    for (const name of names) out += taskLine("  ", name, m.types[name]!, deps.get(name) ?? [], nameWidth, style);
  });
  if (handlerCount) {
    out += `\n${style.heading("Handlers")} (not part of the DAG: they run after it, by its outcome)\n`;
    for (const kind of HANDLER_KINDS) {
      if (!m.handlers[kind].length) continue;
      out += `  ${style.heading(kind)}\n`;
      for (const name of m.handlers[kind]) out += taskLine("    ", name, m.types[name]!, [], nameWidth, style);
    }
  }
  return out;
}

function taskLine(indent: string, name: string, type: string, deps: string[], nameWidth: number, style: AsciiStyle): string {
  const head = `${indent}${name.padEnd(nameWidth)}  `;
  // Padded (outside the colour) only when the dependencies follow: no trailing blanks.
  if (!deps.length) return `${head}${style.type(type)}\n`;
  const start = `${head}${" ".repeat(TYPE_COLUMN)}  ← `.length;
  return `${head}${style.type(type)}${" ".repeat(TYPE_COLUMN - type.length)}  ← ${wrapList(deps, start, " ".repeat(start))}\n`;
}

/** "a, b, c" from column `start`, continued on lines of `pad` when it would pass WIDTH. */
function wrapList(items: string[], start: number, pad: string): string {
  let out = "";
  let col = start;
  items.forEach((item, i) => {
    const word = i < items.length - 1 ? `${item},` : item;
    if (i > 0) {
      if (col + 1 + word.length > WIDTH) {
        out += `\n${pad}`;
        col = pad.length;
      } else {
        out += " ";
        col += 1;
      }
    }
    out += word;
    col += word.length;
  });
  return out;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// ---- Graphviz dot ----

/** A DOT double-quoted string: every identifier and label goes through this. */
function dotQuote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}

/** A DOT label of two centred lines, "name" over "(type)". */
function dotLabel(name: string, type: string): string {
  return `${dotQuote(name).slice(0, -1)}\\n(${type})"`;
}

/**
 * A `digraph`, left to right: each level a rank (`rank=same`), so the picture shows the levels
 * PicoFlow runs by; edges dependency -> dependant. Handlers sit in a dashed `cluster_handlers`
 * box (one inner box per kind) with no edges; invisible edges from the last level keep that
 * box to the right of the DAG.
 */
export function renderDot(m: GraphModel): string {
  const lines = [
    `digraph ${dotQuote(m.workflow)} {`,
    `  rankdir=LR;`,
    `  graph [fontname="Helvetica"];`,
    `  node [shape=box, style=rounded, fontname="Helvetica"];`,
    `  edge [fontname="Helvetica"];`,
  ];
  for (const name of m.levels.flat()) lines.push(`  ${dotQuote(name)} [label=${dotLabel(name, m.types[name]!)}];`);
  m.levels.forEach((names) => lines.push(`  { rank=same; ${names.map((n) => `${dotQuote(n)};`).join(" ")} }`));
  for (const [from, to] of m.edges) lines.push(`  ${dotQuote(from)} -> ${dotQuote(to)};`);
  const kinds = HANDLER_KINDS.filter((k) => m.handlers[k].length);
  if (kinds.length) {
    lines.push(`  subgraph cluster_handlers {`, `    label="handlers (after the DAG)";`, `    style=dashed;`);
    for (const kind of kinds) {
      lines.push(`    subgraph ${dotQuote(`cluster_${kind}`)} {`, `      label=${dotQuote(kind)};`, `      style=dashed;`);
      for (const name of m.handlers[kind]) lines.push(`      ${dotQuote(name)} [label=${dotLabel(name, m.types[name]!)}, style="rounded,dashed"];`);
      lines.push(`    }`);
    }
    lines.push(`  }`);
    // Layout only: without an edge the box would be ranked first, left of the DAG.
    const last = m.levels[m.levels.length - 1]![0]!;
    for (const kind of kinds) lines.push(`  ${dotQuote(last)} -> ${dotQuote(m.handlers[kind][0]!)} [style=invis];`);
  }
  lines.push(`}`);
  return `${lines.join("\n")}\n`;
}

// ---- Mermaid ----

/**
 * Mermaid label text in double quotes: `"` and the characters Mermaid reads as entities or
 * markup are written as entity codes.
 */
function mermaidText(s: string): string {
  return s.replace(/[#"<>&]/g, (c) => `#${c.charCodeAt(0)};`);
}

/**
 * A `flowchart LR`. Node ids are generated (t0, t1, ... level by level, then the handlers)
 * and the name is the label, so a task named `end`, `graph` or `class` cannot break
 * the diagram. Handlers are in a `handlers` subgraph, one inner subgraph per kind, dashed.
 */
export function renderMermaid(m: GraphModel): string {
  const ids = new Map<string, string>();
  const kinds = HANDLER_KINDS.filter((k) => m.handlers[k].length);
  [...m.levels.flat(), ...kinds.flatMap((k) => m.handlers[k])].forEach((name, i) => ids.set(name, `t${i}`));
  const node = (name: string) => `${ids.get(name)}["${mermaidText(name)}<br/>(${m.types[name]})"]`;
  const lines = [`flowchart LR`, `%% workflow: ${m.workflow}`];
  for (const name of m.levels.flat()) lines.push(`  ${node(name)}`);
  for (const [from, to] of m.edges) lines.push(`  ${ids.get(from)} --> ${ids.get(to)}`);
  if (kinds.length) {
    lines.push(`  subgraph handlers["handlers (after the DAG)"]`, `    direction TB`);
    for (const kind of kinds) {
      lines.push(`    subgraph handlers_${kind}["${kind}"]`);
      for (const name of m.handlers[kind]) lines.push(`      ${node(name)}`);
      lines.push(`    end`);
    }
    lines.push(`  end`);
    lines.push(`  style handlers stroke-dasharray: 5 5`);
    for (const kind of kinds) lines.push(`  style handlers_${kind} stroke-dasharray: 5 5`);
  }
  return `${lines.join("\n")}\n`;
}
