// Reading workflow YAML fast, in any style: the data comes from Bun's native parser
// (Bun.YAML, milliseconds for a 1000-task file), checked against a second, independent
// reading of the text, so a valid file never pays for the `yaml` package's Document with
// positions (hundreds of milliseconds, and a second on a Pi). `yaml` stays the reference:
// it alone reads a file whose reading is not confirmed here, and it places every problem.
//
// The check is double entry. One pass over the text (block and flow style alike, no
// recursion) reads what `yaml` would read into a flat list of events: mapping and list
// opens and ends, each key, each scalar's value resolved as `yaml`'s core schema does. Then
// Bun's data is walked against that list. Any difference, in either direction, means "ask
// `yaml`" (undefined): a false alarm costs time, never correctness.
//
// What Bun.YAML and `yaml` read differently (test/quick-yaml.test.ts) is caught that way or
// refused while scanning:
// - duplicate keys: Bun keeps the last one, `yaml` refuses; the walk finds a key missing;
// - anchors, aliases and merge keys (`&a`, `*a`, `<<`), tags (`!`), directives (`%`), a
//   second document, complex keys (`?`): refused (aliases also need the billion-laughs bound
//   that only the slow path computes);
// - scalars: a plain scalar's value is resolved as `yaml`'s core schema does (`yes`, `on`
//   stay strings, `0o12` is 10, `null` as a key is ""), so Bun reading one otherwise is a
//   mismatch; a key that is not a string is refused, as is `__proto__`;
// - indentation Bun forgives and `yaml` does not (a key at an odd column, a flow collection's
//   lines not indented past their parent): refused by the scan, which follows `yaml`'s rules;
// - subtle scalars (multi-line plain or quoted scalars, block scalars with an indentation
//   indicator or more-indented folded lines, tabs, CR, control characters): refused;
// - nesting deeper than MAX_NESTING: refused before Bun.YAML (a recursive parser) sees it.

import { MAX_NESTING } from "./types.ts";

const MAP = Symbol("map");
const SEQ = Symbol("seq");
const END = Symbol("end");
type Event = typeof MAP | typeof SEQ | typeof END | string | number | boolean | null;

/** Thrown (one shared object) to give up a scan: "not confirmed, ask `yaml`". */
const NO = new Error("not confirmed");
function no(): never {
  throw NO;
}

/**
 * The data of `text` read by Bun.YAML, when it is exactly what `yaml` reads and a mapping;
 * undefined means "use the slow path".
 */
export function parseFastYaml(text: string): Record<string, unknown> | undefined {
  const events = scanYaml(text);
  if (events === undefined) return undefined;
  let data: unknown;
  try {
    data = Bun.YAML.parse(text);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) return undefined;
  return walk(data, events, 0) === events.length ? (data as Record<string, unknown>) : undefined;
}

/** The events of `text` as `yaml` reads it, or undefined if it is outside what the scan confirms. */
export function scanYaml(text: string): Event[] | undefined {
  // Tabs, CR, a BOM, control characters and the YAML 1.1 line breaks: refused outright.
  if (/[\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]/.test(text)) return undefined;
  try {
    return new Scanner(text).run();
  } catch (err) {
    if (err === NO) return undefined;
    throw err;
  }
}

/** Index after the event list matched `v` from `k`, or -1. Depth is bounded by the scan. */
function walk(v: unknown, ev: Event[], k: number): number {
  const e = ev[k++];
  if (e === MAP) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return -1;
    const keys = Object.keys(v);
    let n = 0;
    while (ev[k] !== END) {
      const key = ev[k++] as string;
      if (keys[n++] !== key) return -1;
      k = walk((v as Record<string, unknown>)[key], ev, k);
      if (k < 0) return -1;
    }
    return n === keys.length ? k + 1 : -1;
  }
  if (e === SEQ) {
    if (!Array.isArray(v)) return -1;
    let n = 0;
    while (ev[k] !== END) {
      if (n >= v.length) return -1;
      k = walk(v[n++], ev, k);
      if (k < 0) return -1;
    }
    return n === v.length ? k + 1 : -1;
  }
  return Object.is(v, e) ? k : -1;
}

/** A plain scalar's value under `yaml`'s core schema (YAML 1.2): yaml/dist/schema/core. */
export function resolvePlain(s: string): string | number | boolean | null {
  const c = s.charCodeAt(0);
  // Fast exits for words and paths (most values): only numbers start with one of .+-0-9.
  if (!(c === 46 || c === 43 || c === 45 || (c >= 48 && c <= 57))) {
    if (s.length > 5) return s;
    if (/^(?:~|[Nn]ull|NULL)?$/.test(s)) return null;
    if (/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s)) return s[0] === "t" || s[0] === "T";
    return s;
  }
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^[-+]?[0-9]+$/.test(s)) return parseInt(s, 10);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s)) return s.slice(-3).toLowerCase() === "nan" ? NaN : s[0] === "-" ? -Infinity : Infinity;
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s) || /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)) return parseFloat(s);
  return s;
}

/** A key as `yaml` makes it a property name: strings only (others differ between the parsers). */
function keyOf(s: string, plain: boolean): string {
  if (plain && resolvePlain(s) !== s) no();
  // `__proto__` is no plain property in every reader; `<<` is a merge key for `yaml`.
  if (s === "__proto__" || s === "<<") no();
  return s;
}

const ESCAPES: Record<string, string> = {
  "0": "\0", a: "\x07", b: "\b", t: "\t", n: "\n", v: "\v", f: "\f", r: "\r", e: "\x1b", " ": " ",
  '"': '"', "/": "/", "\\": "\\", N: "\x85", _: "\xa0", L: "\u2028", P: "\u2029",
};
const HEX_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 };

/** A quoted scalar starting at `i` on one line: its value and the index after it. */
function quoted(line: string, i: number): { value: string; end: number } {
  const q = line[i];
  let value = "";
  let from = i + 1;
  for (let j = i + 1; j < line.length; j++) {
    const c = line[j];
    if (q === "'" && c === "'") {
      if (line[j + 1] === "'") {
        value += line.slice(from, j + 1);
        from = ++j + 1;
        continue;
      }
      return { value: value + line.slice(from, j), end: j + 1 };
    }
    if (q === '"' && c === '"') return { value: value + line.slice(from, j), end: j + 1 };
    if (q === '"' && c === "\\") {
      value += line.slice(from, j);
      const e = line[j + 1] ?? no();
      const n = HEX_LENGTH[e];
      if (n) {
        const hex = line.slice(j + 2, j + 2 + n);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) no();
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) no();
        value += String.fromCodePoint(cp);
        j += 1 + n;
      } else {
        value += ESCAPES[e] ?? no();
        j++;
      }
      from = j + 1;
    }
  }
  return no(); // not closed on this line: multi-line quoted scalars are left to `yaml`
}

/** Only spaces, or spaces and a comment, from `i` on. */
function restIsEmpty(s: string, i: number): boolean {
  while (s.charCodeAt(i) === 32) i++;
  return i >= s.length || (s.charCodeAt(i) === 35 && (i === 0 || s.charCodeAt(i - 1) === 32));
}

/** Without trailing spaces; not trimEnd(), which also takes Unicode spaces that are content for YAML. */
function trimSpaces(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 32) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** A "-" that starts a list item at `i` ("- " or a lone "-"). */
function dashAt(line: string, i: number): boolean {
  return line.charCodeAt(i) === 45 && (i + 1 === line.length || line.charCodeAt(i + 1) === 32);
}

function indentOf(line: string): number {
  let n = 0;
  while (line.charCodeAt(n) === 32) n++;
  return n;
}

/** A plain key and its ": " (sticky: matched at an offset of the line). */
const PLAIN_KEY = /([^\s#&*!|>'"%@`?:,[\]{}-][^\s:#]*(?::[^\s:#]+)*) *:(?: +|$)/y;
const AFTER_QUOTED_KEY = / *:(?: +|$)/y;
const BLOCK_HEADER = /^([|>])([+-]?)(?: +#.*| *)$/;
/** Characters that may not start a scalar here (anchors, aliases, tags, reserved, complex keys...). */
const BAD_START = new Set([..."&*!%@`?,]}#|>"]);
const FLOW_END = new Set([..."[]{},"]);
/**
 * A plain scalar in a flow collection, up to what ends it: a flow indicator, ": " (or ":"
 * before an indicator or the line's end), " #". Sticky; one regex instead of a loop per character.
 */
const PLAIN_IN_FLOW = /(?:[^,[\]{}:# ]|:(?=[^ ,[\]{}])| +(?!#)|#)*/y;

interface Frame {
  indent: number;
  kind: "map" | "seq";
}

/**
 * The scan: block structure line by line with a stack of open mappings and lists (as `yaml`
 * indents them), flow collections token by token, possibly over several lines.
 */
class Scanner {
  private readonly ev: Event[] = [];
  private readonly lines: string[];
  private readonly endsWithNewline: boolean;
  private readonly stack: Frame[] = [];
  /** The line being read. */
  private i = 0;
  /** A key or "-" whose value is on the lines below: its column, and whether it is a key. */
  private pending: { col: number; key: boolean } | null = null;
  /** After a value on a key's or dash's line: a line indented past this would continue it. */
  private valueCol = -1;
  /** The name of the key key() found last (a field, not an object per line). */
  private keyName = "";

  constructor(text: string) {
    this.endsWithNewline = text.endsWith("\n");
    this.lines = text.split("\n");
    if (this.endsWithNewline) this.lines.pop();
  }

  run(): Event[] {
    let started = false;
    for (; this.i < this.lines.length; this.i++) {
      const line = this.lines[this.i]!;
      const indent = indentOf(line);
      if (indent === line.length || line.charCodeAt(indent) === 35) continue; // blank or comment
      if (line.startsWith("---") || line.startsWith("...")) {
        if (line.length === 3 || line.charCodeAt(3) === 32) {
          // One document, an optional "---" before it.
          if (started || line[0] === "." || !restIsEmpty(line, 3)) no();
          started = true;
          continue;
        }
      }
      if (line.charCodeAt(0) === 37 /* % */) no();
      started = true;
      this.line(line, indent);
    }
    if (this.pending) this.ev.push(null);
    if (!this.stack.length) no(); // empty, or a lone scalar: `yaml` says what is wrong
    this.closeTo(-1);
    return this.ev;
  }

  private push(indent: number, kind: Frame["kind"]): void {
    this.stack.push({ indent, kind });
    if (this.stack.length > MAX_NESTING) no();
    this.ev.push(kind === "map" ? MAP : SEQ);
  }

  /** End every open collection indented past `indent`. */
  private closeTo(indent: number): void {
    while (this.stack.length && this.stack[this.stack.length - 1]!.indent > indent) {
      this.stack.pop();
      this.ev.push(END);
    }
  }

  private line(line: string, indent: number): void {
    const isDash = dashAt(line, indent);
    if (indent > this.valueCol && this.valueCol >= 0) no(); // a multi-line scalar, or worse
    this.valueCol = -1;
    let opens = false;
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      opens = indent > p.col || (isDash && p.key && indent === p.col);
      if (!opens) this.ev.push(null);
    }
    if (!opens) this.closeTo(indent);

    // Offsets into `line`, not slices: this runs for every line of the file, in a cold process.
    let col = indent;
    let inline = false; // after "- " on this line
    while (dashAt(line, col)) {
      if (inline || opens) this.push(col, "seq");
      else {
        const top = this.stack[this.stack.length - 1];
        if (!top || top.indent !== col || top.kind !== "seq") no();
      }
      opens = false;
      if (restIsEmpty(line, col + 1)) {
        this.pending = { col, key: false };
        return;
      }
      col++;
      while (line.charCodeAt(col) === 32) col++;
      inline = true;
    }

    const key = this.key(line, col);
    if (key >= 0) {
      // The top level's mapping opens with its first key.
      if (inline || opens || (!this.stack.length && !this.ev.length)) this.push(col, "map");
      else {
        // A key at a list's column ends that list (a list as a key's value, not indented).
        let top = this.stack[this.stack.length - 1];
        while (top && top.kind === "seq" && top.indent === col) {
          this.stack.pop();
          this.ev.push(END);
          top = this.stack[this.stack.length - 1];
        }
        if (!top || top.indent !== col || top.kind !== "map") no();
      }
      this.ev.push(this.keyName);
      this.value(line, key, col, true);
      return;
    }
    if (!inline) no(); // a scalar where a key or "- " belongs
    this.value(line, col, this.stack[this.stack.length - 1]!.indent, false);
  }

  /** A block key at `col`: where its value starts, or -1; its name goes to keyName. */
  private key(line: string, col: number): number {
    const c = line.charCodeAt(col);
    if (c === 34 || c === 39) {
      const q = quoted(line, col);
      AFTER_QUOTED_KEY.lastIndex = q.end;
      if (!AFTER_QUOTED_KEY.test(line)) return -1;
      this.keyName = keyOf(q.value, false);
      return AFTER_QUOTED_KEY.lastIndex;
    }
    PLAIN_KEY.lastIndex = col;
    const m = PLAIN_KEY.exec(line);
    if (!m) return -1;
    this.keyName = keyOf(m[1]!, true);
    return PLAIN_KEY.lastIndex;
  }

  /** The value on this line from `at`; `col` is the column of its key or dash. */
  private value(line: string, at: number, col: number, isKey: boolean): void {
    while (line.charCodeAt(at) === 32) at++;
    if (restIsEmpty(line, at)) {
      this.pending = { col, key: isKey };
      return;
    }
    const c = line[at]!;
    this.valueCol = col;
    if (c === '"' || c === "'") {
      const q = quoted(line, at);
      if (!restIsEmpty(line, q.end)) no();
      this.ev.push(q.value);
    } else if (c === "[" || c === "{") {
      const end = this.flow(at, col);
      if (!restIsEmpty(this.lines[this.i]!, end)) no();
    } else if (c === "|" || c === ">") {
      this.block(line.slice(at), col);
      this.valueCol = -1;
    } else {
      if (BAD_START.has(c) || (c === "-" && (at + 1 === line.length || line[at + 1] === " "))) no();
      let end = line.indexOf(" #", at);
      if (end < 0) end = line.length;
      const body = trimSpaces(line.slice(at, end));
      if (body.includes(": ") || body.endsWith(":")) no(); // an error for `yaml`; don't let Bun guess
      this.ev.push(resolvePlain(body));
    }
  }

  /** A block scalar (`|` or `>`) whose header is `header`, inside a node at column `parent`. */
  private block(header: string, parent: number): void {
    const h = BLOCK_HEADER.exec(header) ?? no(); // an indentation indicator: left to `yaml`
    const lines = this.lines;
    let j = this.i + 1;
    let leading = 0;
    while (j < lines.length && indentOf(lines[j]!) === lines[j]!.length) leading = Math.max(leading, lines[j++]!.length);
    if (j >= lines.length) no();
    const ci = indentOf(lines[j]!);
    if (ci <= parent || leading > ci) no();
    const content: string[] = [];
    for (let k = this.i + 1; k < j; k++) content.push("");
    let trailing = 0;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      const ind = indentOf(l);
      if (ind === l.length) {
        if (ind > ci) no(); // spaces that are content: left to `yaml`
        content.push("");
        trailing++;
        continue;
      }
      if (ind < ci) {
        if (ind > parent) no();
        break;
      }
      const text = l.slice(ci);
      if (h[1] === ">" && text[0] === " ") no(); // more-indented folded lines: left to `yaml`
      content.push(text);
      trailing = 0;
    }
    if (j >= lines.length && !this.endsWithNewline) no();
    const body = content.slice(0, content.length - trailing);
    let value: string;
    if (h[1] === "|") value = body.join("\n");
    else {
      value = "";
      let blank = 0;
      body.forEach((l, n) => {
        if (l === "") blank++;
        else {
          value += n === 0 ? l : blank ? "\n".repeat(blank) + l : " " + l;
          blank = 0;
        }
      });
    }
    if (h[2] === "+") value += "\n".repeat(1 + trailing);
    else if (h[2] === "") value += "\n";
    this.ev.push(value);
    this.i = j - 1;
  }

  /**
   * A flow collection starting at `at` on the current line, possibly over the lines after it
   * (each indented past `parent`, as `yaml` wants). Returns the index after its end on the
   * line it ends on (this.i moves there).
   */
  private flow(at: number, parent: number): number {
    // One frame per open collection: '[' or '{', and what it expects next.
    const kinds: string[] = [];
    const states: ("node" | "key" | "colon" | "value" | "sep")[] = [];
    let line = this.lines[this.i]!;
    let p = at;
    for (;;) {
      if (p >= line.length) {
        // Next line: indented past the parent, not a document marker.
        if (++this.i >= this.lines.length) no();
        line = this.lines[this.i]!;
        const ind = indentOf(line);
        if (ind === line.length) {
          p = ind;
          continue;
        }
        if (ind <= parent) no();
        p = ind;
        continue;
      }
      const c = line[p]!;
      if (c === " ") {
        p++;
        continue;
      }
      if (c === "#") {
        if (p > 0 && line[p - 1] !== " ") no();
        p = line.length;
        continue;
      }
      const depth = kinds.length;
      const state = states[depth - 1];
      const kind = kinds[depth - 1];
      if (c === "[" || c === "{") {
        if (depth && state !== "node" && state !== "value") no();
        if (depth) states[depth - 1] = "sep";
        kinds.push(c);
        states.push(c === "[" ? "node" : "key");
        if (this.stack.length + kinds.length > MAX_NESTING) no();
        this.ev.push(c === "[" ? SEQ : MAP);
        p++;
        continue;
      }
      if (c === "]" || c === "}") {
        if ((c === "]") !== (kind === "[")) no();
        if (state === "colon" || state === "value") this.ev.push(null);
        kinds.pop();
        states.pop();
        this.ev.push(END);
        p++;
        if (!kinds.length) return p;
        continue;
      }
      if (c === ",") {
        if (state === "colon" || state === "value") this.ev.push(null);
        else if (state !== "sep") no();
        states[depth - 1] = kind === "[" ? "node" : "key";
        p++;
        continue;
      }
      if (c === ":") {
        const n = line[p + 1];
        if (state !== "colon" || !(n === undefined || n === " " || FLOW_END.has(n))) no();
        states[depth - 1] = "value";
        p++;
        continue;
      }
      // A scalar: where a node, a key or a value is expected.
      if (state !== "node" && state !== "key" && state !== "value") no();
      let value: string;
      let plain = false;
      if (c === '"' || c === "'") {
        const q = quoted(line, p);
        value = q.value;
        p = q.end;
      } else {
        if (BAD_START.has(c) || ((c === "-" || c === ":") && (p + 1 === line.length || line[p + 1] === " " || FLOW_END.has(line[p + 1]!)))) no();
        const start = p;
        PLAIN_IN_FLOW.lastIndex = p;
        PLAIN_IN_FLOW.test(line);
        p = PLAIN_IN_FLOW.lastIndex;
        value = trimSpaces(line.slice(start, p));
        plain = true;
      }
      if (state === "key") {
        this.ev.push(keyOf(value, plain));
        states[depth - 1] = "colon";
      } else {
        this.ev.push(plain ? resolvePlain(value) : value);
        states[depth - 1] = "sep";
      }
    }
  }
}
