// The workflow file as written, for export: the parsed YAML before ${VAR} expansion (so the
// exporter sees which strings hold variables, and never needs their values), positions of
// paths for FILE:LINE:COL, and the split of a string into its text and its ${VAR} references.
// The loader (workflow/load.ts) has already accepted the file: nothing here reports YAML errors.

import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from "yaml";
import { expandString } from "../workflow/expand.ts";

export type Path = (string | number)[];

export interface RawSource {
  /** The parsed file, aliases and merge keys resolved, no ${VAR} expanded. */
  data: Record<string, unknown>;
  /** `FILE:LINE:COL` of the deepest node on `path` that exists. */
  where(path: Path): string;
}

export function readRawSource(text: string, file: string): RawSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: false });
  const data = (doc.toJS({ maxAliasCount: -1 }) ?? {}) as Record<string, unknown>;
  return {
    data,
    where(path) {
      const { line, col } = lines.linePos(offsetOf(doc, path));
      return `${file}:${line}:${col}`;
    },
  };
}

/** Offset of the deepest node on `path` (a key merged in from an anchor falls back to its mapping). */
function offsetOf(doc: Document, path: Path): number {
  let node: unknown = doc.contents;
  let offset = (node as YamlNode | null)?.range?.[0] ?? 0;
  for (const key of path) {
    let next: unknown;
    if (isMap(node)) next = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value) === String(key))?.value;
    else if (isSeq(node) && typeof key === "number") next = node.items[key];
    if (!next || typeof next !== "object" || !(next as YamlNode).range) break;
    node = next;
    offset = (node as YamlNode).range![0];
  }
  return offset;
}

/** A piece of a string as written: literal text (`$$` already `$`), or a ${VAR} reference. */
export type Segment = { text: string } | { variable: string; hasDefault: boolean };

const MARK = "\u0000";

/**
 * `s` cut at its ${VAR} references, with the loader's own parser (expand.ts), so every form
 * (`${A:-word}`, `${A:?message}`, `$$`) is read exactly as PicoFlow reads it. A default or
 * message is dropped: the reference stands for the variable.
 */
export function segmentsOf(s: string): Segment[] {
  if (!s.includes("$")) return s ? [{ text: s }] : [];
  const names: string[] = [];
  const env = new Proxy({} as Record<string, string>, {
    get: (_, name) => {
      if (typeof name !== "string") return undefined;
      names.push(name);
      return `${MARK}${names.length - 1}${MARK}`;
    },
  });
  const value = expandString(s, env).value;
  const out: Segment[] = [];
  value.split(MARK).forEach((part, i) => {
    if (i % 2 === 0) {
      if (part) out.push({ text: part });
    } else {
      const name = names[Number(part)]!;
      out.push({ variable: name, hasDefault: new RegExp(`\\$\\{${name}:?-`).test(s) });
    }
  });
  return out;
}

/** The variables `s` refers to, in order, each once. */
export function variablesOf(s: unknown): string[] {
  if (typeof s !== "string") return [];
  return [...new Set(segmentsOf(s).flatMap((p) => ("variable" in p ? [p.variable] : [])))];
}
