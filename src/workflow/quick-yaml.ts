// A fast path for reading workflow YAML: Bun's native parser (Bun.YAML), used only for text
// in a plain subset where it is known to agree with the `yaml` package the loader reports
// errors with. On a Pi a 1000-task file takes about a second with `yaml` and milliseconds
// with Bun.YAML; a file outside the subset, or one that turns out invalid, simply takes the
// slow path, which alone knows line and column numbers.
//
// Where the two parsers differ (checked in test/quick-yaml.test.ts), the subset excludes it:
// duplicate keys (Bun keeps the last, `yaml` rightly refuses), merge keys, anchors and
// aliases, tags, directives, several documents, complex and quoted keys, flow mappings, and
// anything whose meaning depends on subtle indentation (multi-line plain or quoted scalars,
// multi-line flow sequences, keys at an unexpected column), and nesting deeper than
// MAX_NESTING (Bun.YAML, like any recursive parser, overflows the stack somewhere; the slow
// path reports it). The check is conservative: a false "not plain" costs time, never correctness.

import { MAX_NESTING } from "./types.ts";

type Frame = { indent: number; kind: "map" | "seq"; keys: Set<string> };

const KEY = /^([A-Za-z0-9_][A-Za-z0-9_.-]*) *:(?: +|$)/;
const BLOCK_SCALAR = /^[|>](?:[1-9][+-]?|[+-][1-9]?)? *(?:#.*)?$/;

/** Parse `text` with Bun.YAML if it is in the plain subset; undefined means "use the slow path". */
export function parsePlainYaml(text: string): Record<string, unknown> | undefined {
  if (!isPlainSubset(text)) return undefined;
  let data: unknown;
  try {
    data = Bun.YAML.parse(text);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) return undefined;
  return data as Record<string, unknown>;
}

/** End of a quoted scalar starting at `i` (index after the closing quote), or -1. */
function quotedEnd(s: string, i: number): number {
  const q = s[i];
  for (let j = i + 1; j < s.length; j++) {
    if (q === '"' && s[j] === "\\") j++;
    else if (s[j] === q) {
      if (q === "'" && s[j + 1] === "'") j++;
      else return j + 1;
    }
  }
  return -1;
}

/** Only spaces or a comment from `i` on. */
function restIsEmpty(s: string, i: number): boolean {
  const r = s.slice(i);
  return /^ *$/.test(r) || /^ +#/.test(r);
}

/** Characters that may not start a plain scalar in a flow sequence (in this subset). */
const FLOW_ITEM_BAD_START = new Set([..."&*!{}?%@`|>#"]);

/** A one-line flow sequence of plain or quoted scalars, nested at most `maxDepth` deep. */
function isPlainFlowSequence(s: string, maxDepth: number): boolean {
  let depth = 0;
  let itemStart = true;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === " ") continue;
    if (itemStart && FLOW_ITEM_BAD_START.has(c)) return false;
    if (c === '"' || c === "'") {
      if (!itemStart) return false;
      const end = quotedEnd(s, i);
      if (end < 0) return false;
      i = end - 1;
      itemStart = false;
      continue;
    }
    if (c === "{" || c === "}") return false;
    if (c === "#" && s[i - 1] === " ") return false;
    if (c === "[") {
      if (++depth > maxDepth) return false;
      itemStart = true;
    } else if (c === "]") {
      if (--depth === 0) return restIsEmpty(s, i + 1);
      itemStart = false;
    } else if (c === ",") itemStart = true;
    else if (c === ":" && (s[i + 1] === " " || s[i + 1] === "," || s[i + 1] === "]")) return false;
    else itemStart = false;
  }
  return false; // not closed on this line
}

type Value = "empty" | "scalar" | "block" | "bad";

/** Indicators that may not start a plain value (in this subset). */
const VALUE_BAD_START = new Set([..."&*!{}?%@`,]"]);

/**
 * What a value after `key:` or `- ` is, as far as the next lines are concerned. A flow
 * sequence may add at most `maxDepth` levels of nesting.
 */
function classify(v: string, maxDepth: number): Value {
  if (v === "" || v.startsWith("#")) return "empty";
  const c = v[0]!;
  if (c === '"' || c === "'") {
    const end = quotedEnd(v, 0);
    return end > 0 && restIsEmpty(v, end) ? "scalar" : "bad";
  }
  if (c === "[") return isPlainFlowSequence(v, maxDepth) ? "scalar" : "bad";
  if (c === "|" || c === ">") return BLOCK_SCALAR.test(v) ? "block" : "bad";
  if (VALUE_BAD_START.has(c)) return "bad";
  if (c === "-" && (v.length === 1 || v[1] === " ")) return "bad";
  // "a: b: c" and "a: b:" are errors for `yaml`; don't let Bun guess.
  const comment = v.indexOf(" #");
  const body = (comment < 0 ? v : v.slice(0, comment)).trimEnd();
  if (body.includes(": ") || body.endsWith(":")) return "bad";
  return "scalar";
}

/**
 * True if `text` is block-style YAML in the plain subset described above, with no key twice
 * in one mapping. Works line by line with a stack of open mappings and sequences.
 */
export function isPlainSubset(text: string): boolean {
  if (text.includes("\r") || text.includes("\t") || text.charCodeAt(0) === 0xfeff) return false;
  const stack: Frame[] = [];
  // What the previous content line left open.
  let pending: { kind: "empty" | "scalar"; col: number } | null = null;
  let blockParent = -1; // >= 0 while inside a block scalar whose parent is at this column
  let sawContent = false;

  const lines = text.split("\n");
  for (const line of lines) {
    let indent = 0;
    while (line.charCodeAt(indent) === 32) indent++;
    const rest = indent ? line.slice(indent) : line;
    if (blockParent >= 0) {
      if (rest === "" || indent > blockParent) continue;
      blockParent = -1;
    }
    if (rest === "" || rest.charCodeAt(0) === 35 /* # */) continue;
    const c0 = line.charCodeAt(0);
    if ((c0 === 45 /* - */ || c0 === 46) /* . */ && /^(---|\.\.\.)( |$)/.test(line)) {
      if (sawContent || !restIsEmpty(line, 3)) return false;
      sawContent = true;
      continue;
    }
    if (line.startsWith("%")) return false;
    sawContent = true;

    // Indentation against what the previous line opened.
    const isDash = rest === "-" || rest.startsWith("- ");
    if (pending?.kind === "scalar" && indent > pending.col) return false;
    const opensBlock = pending?.kind === "empty" && (indent > pending.col || (isDash && indent === pending.col));
    pending = null;

    let col = indent;
    let s = rest;
    let inlineAfterDash = false;
    while (s === "-" || s.startsWith("- ")) {
      while (stack.length && stack[stack.length - 1]!.indent > col) stack.pop();
      const top = stack[stack.length - 1];
      if (top && top.indent === col && top.kind === "seq") {
        // next item of an open sequence
      } else if (inlineAfterDash || (opensBlock && (!top || top.indent <= col))) {
        stack.push({ indent: col, kind: "seq", keys: new Set() });
        if (stack.length > MAX_NESTING) return false;
      } else return false;
      const after = s.slice(1);
      const pad = after.length - after.trimStart().length;
      if (after.trim() === "") {
        pending = { kind: "empty", col };
        s = "";
        break;
      }
      col += 1 + pad;
      s = after.slice(pad);
      inlineAfterDash = true;
    }
    if (s === "") continue;

    const key = KEY.exec(s);
    if (key) {
      // A key at a sequence's column ends that (compact) sequence.
      while (stack.length) {
        const top = stack[stack.length - 1]!;
        if (top.indent > col || (top.indent === col && top.kind === "seq")) stack.pop();
        else break;
      }
      const top = stack[stack.length - 1];
      if (top && top.indent === col) {
        if (top.keys.has(key[1]!)) return false;
        top.keys.add(key[1]!);
      } else if (inlineAfterDash || opensBlock || (!top && stack.length === 0 && col === 0)) {
        stack.push({ indent: col, kind: "map", keys: new Set([key[1]!]) });
        if (stack.length > MAX_NESTING) return false;
      } else return false;
      const kind = classify(s.slice(key[0].length), MAX_NESTING - stack.length);
      if (kind === "bad") return false;
      if (kind === "block") blockParent = col;
      else pending = { kind, col };
      continue;
    }
    // A scalar as a sequence item ("- value").
    if (!inlineAfterDash) return false;
    const kind = classify(s, MAX_NESTING - stack.length);
    if (kind === "bad" || kind === "empty") return false;
    const dashCol = stack[stack.length - 1]!.indent;
    if (kind === "block") blockParent = dashCol;
    else pending = { kind: "scalar", col: dashCol };
  }
  return true;
}
