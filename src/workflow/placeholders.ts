// Run-time placeholders: `{{ run.id }}`, `{{ workflow.name }}`... in task and handler configs,
// checked when the file loads and filled in when the task starts.
//
// A placeholder is `{{`, optional spaces, a dotted name, optional spaces, `}}`. `{{ "{{" }}`
// is a literal `{{`. Any other text between braces (`{{.State.Running}}` of `docker inspect`,
// `{{json .}}`) is not a placeholder and stays as written, so existing commands keep working.
// `${VAR}` is expanded first, at load time; a `{{` a variable's value brings in is escaped by
// expand.ts (written as `{{ "{{" }}`), so the environment can never inject a placeholder.

import { suggest } from "./dag.ts";

/** Every placeholder, and whether a task of the DAG may use it (the others exist only once the run has ended). */
export const PLACEHOLDERS: Readonly<Record<string, { inTasks: boolean }>> = {
  "workflow.name": { inTasks: true },
  "run.id": { inTasks: true },
  "run.trigger": { inTasks: true },
  "run.started_at": { inTasks: true },
  "run.host": { inTasks: true },
  "run.status": { inTasks: false },
  "run.duration_seconds": { inTasks: false },
  "run.failed_tasks": { inTasks: false },
};

/** The escape for a literal `{{`. */
export const LITERAL_BRACES = '{{ "{{" }}';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;

type Part = { text: string } | { name: string };

/** Split a string into text and placeholders; null when it holds none (and no escape). */
function parse(s: string): Part[] | null {
  let from = 0;
  let parts: Part[] | null = null;
  let text = "";
  while (true) {
    const open = s.indexOf("{{", from);
    if (open < 0) break;
    const close = s.indexOf("}}", open + 2);
    if (close < 0) break;
    const inner = s.slice(open + 2, close).trim();
    if (inner === '"{{"') {
      text += s.slice(from, open) + "{{";
    } else if (NAME.test(inner)) {
      parts ??= [];
      text += s.slice(from, open);
      if (text) parts.push({ text });
      text = "";
      parts.push({ name: inner });
    } else {
      // Not ours: keep it, and look for a placeholder after its opening braces.
      text += s.slice(from, open + 2);
      from = open + 2;
      continue;
    }
    parts ??= [];
    from = close + 2;
  }
  if (parts === null) return null;
  text += s.slice(from);
  if (text) parts.push({ text });
  return parts;
}

/** True when `s` needs filling in at run time (cheap: one scan for `{{`). */
export function hasPlaceholders(s: string): boolean {
  return s.includes("{{") && parse(s) !== null;
}

/**
 * What is wrong with the placeholders of `s`: an unknown name, or (in a task of the DAG) one
 * that has no value until the run has ended. One message per problem.
 */
export function placeholderProblems(s: string, handler: boolean): string[] {
  if (!s.includes("{{")) return [];
  const out: string[] = [];
  for (const p of parse(s) ?? []) {
    if (!("name" in p)) continue;
    const known = PLACEHOLDERS[p.name];
    if (!known) {
      const hint = suggest(p.name, Object.keys(PLACEHOLDERS), (v) => `{{ ${v} }}`);
      out.push(`unknown placeholder {{ ${p.name} }}${hint || ` (known: ${Object.keys(PLACEHOLDERS).join(", ")})`}; write ${LITERAL_BRACES} for a literal {{`);
    } else if (!known.inTasks && !handler) {
      out.push(`{{ ${p.name} }} has a value only in a handler (on_failure, on_success, on_exit), once the run has ended`);
    }
  }
  return out;
}

/** `s` with its placeholders filled in from `values` (a name without a value becomes ""). */
export function fill(s: string, values: Readonly<Record<string, string>>): string {
  if (!s.includes("{{")) return s;
  const parts = parse(s);
  if (!parts) return s;
  return parts.map((p) => ("name" in p ? (values[p.name] ?? "") : p.text)).join("");
}

/** A copy of a config with every string value filled in (keys are left as they are). */
export function fillTree<T>(node: T, values: Readonly<Record<string, string>>): T {
  if (typeof node === "string") return fill(node, values) as T;
  if (node === null || typeof node !== "object") return node;
  if (Array.isArray(node)) return node.map((v) => fillTree(v, values)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = fillTree(v, values);
  return out as T;
}

/** Calls `fn` with the path and value of every string in `node` that holds `{{`. */
export function eachBracedString(node: unknown, path: (string | number)[], fn: (path: (string | number)[], s: string) => void): void {
  if (typeof node === "string") {
    if (node.includes("{{")) fn(path, node);
    return;
  }
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node)) node.forEach((v, i) => eachBracedString(v, [...path, i], fn));
  else for (const [k, v] of Object.entries(node)) eachBracedString(v, [...path, k], fn);
}
