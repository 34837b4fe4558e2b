// A run's DAG as SVG, drawn here from the levels and edges the API gives (`graph` of
// GET /api/v1/executions/ID): levels are columns left to right, each task a node coloured by its
// status in this run; the handlers that ran sit apart, below, in their own group. On a narrow
// screen the drawing takes whichever direction (columns or rows) is narrower, and the SVG scales
// down to the screen's width (viewBox, max-width 100%), so it never scrolls sideways.
//
// Nodes are focusable buttons (Enter or Space selects, like a click). Every text is Preact text:
// a task name can never become markup.

import { useEffect, useState } from "preact/hooks";
import { html } from "../lib.ts";
import type { Graph, TaskState } from "../types.ts";
import "./dag.css";

const W = 150; // node width
const H = 44; // node height
const GAP_LEVEL = 56; // between levels (where the edges run)
const GAP_SIBLING = 14; // between nodes of one level
const PAD = 8;
const HANDLER_GAP = 34; // between the DAG and its handlers (room for their caption)
const LABEL_CHARS = 18;

interface Box {
  name: string;
  x: number;
  y: number;
}

export interface Layout {
  width: number;
  height: number;
  nodes: Box[];
  handlers: Box[];
  /** The handlers' caption position, when there are handlers. */
  caption: { x: number; y: number } | null;
  vertical: boolean;
}

/**
 * Where every node goes. Levels run along the main axis (x, or y when vertical); the nodes of a
 * level are centred across it. Handlers follow in run order, along the main axis, below the DAG.
 */
export function layout(levels: string[][], handlers: string[], vertical: boolean): Layout {
  const along = vertical ? H + GAP_LEVEL : W + GAP_LEVEL;
  const across = vertical ? W + GAP_SIBLING : H + GAP_SIBLING;
  const widest = Math.max(1, ...levels.map((l) => l.length));
  const nodes: Box[] = [];
  levels.forEach((level, i) => {
    const offset = ((widest - level.length) * across) / 2;
    level.forEach((name, j) => {
      const a = PAD + i * along;
      const c = PAD + offset + j * across;
      nodes.push(vertical ? { name, x: c, y: a } : { name, x: a, y: c });
    });
  });
  // The DAG's extent: main axis by level count, cross axis by the widest level.
  const mainLen = levels.length * along - GAP_LEVEL;
  const crossLen = widest * across - GAP_SIBLING;
  let width = PAD * 2 + (vertical ? crossLen : mainLen);
  let height = PAD * 2 + (vertical ? mainLen : crossLen);
  const placed: Box[] = [];
  let caption = null;
  if (handlers.length) {
    caption = { x: PAD, y: height + HANDLER_GAP / 2 + 4 };
    const top = height + HANDLER_GAP;
    handlers.forEach((name, i) => placed.push(vertical ? { name, x: PAD, y: top + i * (H + GAP_SIBLING) } : { name, x: PAD + i * (W + GAP_SIBLING), y: top }));
    const last = placed[placed.length - 1]!;
    width = Math.max(width, last.x + W + PAD);
    height = last.y + H + PAD;
  }
  return { width, height, nodes, handlers: placed, caption, vertical };
}

/** The graph to draw: the API's, or (a server without `graph`) every task in one level. */
export function graphOf(graph: Graph | undefined, tasks: TaskState[]): Graph {
  return graph ?? { levels: [tasks.map((t) => t.task_name)], edges: [], known: false };
}

/** True while the screen is phone-sized (follows rotation and resizing). */
function useNarrow(): boolean {
  const query = "(max-width: 40rem)";
  const [narrow, setNarrow] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const m = matchMedia(query);
    const on = () => setNarrow(m.matches);
    m.addEventListener("change", on);
    return () => m.removeEventListener("change", on);
  }, []);
  return narrow;
}

function truncate(name: string): string {
  return name.length > LABEL_CHARS ? `${name.slice(0, LABEL_CHARS - 1)}…` : name;
}

function cls(status: string): string {
  return `status-${status.replace(/\W+/g, "-")}`;
}

/** The second line of a node: its status, and the attempts when there were several. */
function detail(t: TaskState | undefined, handler: boolean): string {
  const status = t?.status ?? "pending";
  const parts = [handler && t?.handler ? t.handler : null, t?.tolerated ? `${status} (tolerated)` : status, t && t.attempts > 1 ? `${t.attempts} tries` : null];
  return parts.filter(Boolean).join(" · ");
}

interface NodeProps {
  box: Box;
  task: TaskState | undefined;
  handler: boolean;
  selected: boolean;
  onSelect: (name: string) => void;
}

function Node({ box, task, handler, selected, onSelect }: NodeProps) {
  const status = task?.status ?? "pending";
  const key = (e: KeyboardEvent) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      onSelect(box.name);
    }
  };
  return html`<g
    class=${`node ${cls(status)}${handler ? " handler" : ""}${selected ? " selected" : ""}`}
    data-task=${box.name}
    transform=${`translate(${box.x} ${box.y})`}
    tabindex="0"
    role="button"
    aria-pressed=${selected ? "true" : "false"}
    aria-label=${`${handler ? "handler" : "task"} ${box.name}: ${status}`}
    onClick=${() => onSelect(box.name)}
    onKeyDown=${key}
  >
    <title>${box.name}</title>
    <rect class="box" width=${W} height=${H} rx="6" />
    <rect class="bar" width="6" height=${H} rx="3" />
    <text class="name" x="14" y="18">${truncate(box.name)}</text>
    <text class="detail" x="14" y="35">${detail(task, handler)}</text>
  </g>`;
}

/** A dependency as a curve from the end of `a`'s box to the start of `b`'s. */
function edgePath(a: Box, b: Box, vertical: boolean): string {
  if (vertical) {
    const [x1, y1, x2, y2] = [a.x + W / 2, a.y + H, b.x + W / 2, b.y];
    const m = (y1 + y2) / 2;
    return `M${x1} ${y1} C${x1} ${m} ${x2} ${m} ${x2} ${y2 - 3}`;
  }
  const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
  const m = (x1 + x2) / 2;
  return `M${x1} ${y1} C${m} ${y1} ${m} ${y2} ${x2 - 3} ${y2}`;
}

export interface DagProps {
  graph: Graph;
  tasks: TaskState[];
  handlers: TaskState[];
  selected: string | null;
  onSelect: (name: string) => void;
}

export function Dag({ graph, tasks, handlers, selected, onSelect }: DagProps) {
  const narrow = useNarrow();
  const names = handlers.map((h) => h.task_name);
  // On a phone, the direction that needs less width, so the nodes stay readable when scaled.
  let l = layout(graph.levels, names, false);
  if (narrow) {
    const v = layout(graph.levels, names, true);
    if (v.width < l.width) l = v;
  }
  const byName = new Map(tasks.map((t) => [t.task_name, t]));
  const handlerByName = new Map(handlers.map((t) => [t.task_name, t]));
  const at = new Map(l.nodes.map((b) => [b.name, b]));
  return html`<svg
    class="dag"
    viewBox=${`0 0 ${l.width} ${l.height}`}
    width=${l.width}
    height=${l.height}
    role="group"
    aria-label="The run's tasks and their dependencies"
  >
    <defs>
      <marker id="dag-arrow" viewBox="0 0 8 8" refX="5" refY="4" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">
        <path d="M0 0 L8 4 L0 8 z" class="arrow" />
      </marker>
    </defs>
    <g class="edges">
      ${graph.edges.map(([from, to]) => {
        const a = at.get(from);
        const b = at.get(to);
        if (!a || !b) return null;
        const lit = selected === from || selected === to;
        return html`<path class=${`edge${lit ? " lit" : ""}`} data-from=${from} data-to=${to} d=${edgePath(a, b, l.vertical)} marker-end="url(#dag-arrow)" />`;
      })}
    </g>
    <g class="tasks">
      ${l.nodes.map((b) => html`<${Node} key=${b.name} box=${b} task=${byName.get(b.name)} handler=${false} selected=${selected === b.name} onSelect=${onSelect} />`)}
    </g>
    ${l.caption
      ? html`<g class="handlers">
          <text class="caption" x=${l.caption.x} y=${l.caption.y}>handlers</text>
          ${l.handlers.map((b) => html`<${Node} key=${b.name} box=${b} task=${handlerByName.get(b.name)} handler=${true} selected=${selected === b.name} onSelect=${onSelect} />`)}
        </g>`
      : null}
  </svg>`;
}
