// The loader's fast path (Bun.YAML's data, confirmed by an independent scan of the text) must
// never read a file differently from the `yaml` package: whatever it accepts reads the same
// both ways; whatever it cannot confirm, it refuses, and the slow path (with line numbers)
// takes over. It must accept the styles people write, block and flow alike.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { parseFastYaml, scanYaml } from "../src/workflow/quick-yaml.ts";
import { parseWorkflow, type LoadOptions } from "../src/workflow/load.ts";
import { ValidationError } from "../src/errors.ts";
import { MAX_NESTING } from "../src/workflow/types.ts";

const opts: LoadOptions = { env: { HOME: "/home/pi" }, home: "/home/pi", defaultRetry: 0, defaultTimeout: 300, maxTimeout: 0 };

/** What the slow path reads: one document, no errors, merge keys and unique keys as load.ts. */
function reference(text: string): { ok: true; data: unknown } | { ok: false } {
  try {
    const docs = parseAllDocuments(text, { merge: true, uniqueKeys: true, prettyErrors: false });
    if (!Array.isArray(docs) || docs.length !== 1 || docs[0]!.errors.length) return { ok: false };
    return { ok: true, data: docs[0]!.toJS({ maxAliasCount: -1 }) };
  } catch {
    return { ok: false };
  }
}

/** The one rule: accepted means valid for `yaml` and the same data. */
function expectNeverDiffers(text: string): boolean {
  const fast = parseFastYaml(text);
  if (fast === undefined) return false;
  const ref = reference(text);
  expect({ text, ok: ref.ok }).toEqual({ text, ok: true });
  expect(fast as unknown).toEqual((ref as { data: unknown }).data);
  return true;
}

const ACCEPTED = [
  "name: a\ntasks:\n  - name: t\n    type: shell\n    config:\n      command: /bin/true\n",
  "name: a\ntasks:\n- name: t\n  type: shell\n  depends_on: [x, y]\n  config:\n    command: /bin/echo\n    args: [\"a b\", 'c''d', \"e\\\"f\", plain]\n",
  "# comment\n---\nname: a # trailing\ndescription: 'quoted: with colon'\nschedule: \"0 */5 * * * *\"\ntasks: []\n",
  "a:\n  b: 1\n  c:\n    - 1\n    - two\n    - \"3\"\n  d: yes\n  e: on\n  f: 010\n  g: 0o10\n  h: 0x1f\n  i: ~\n  j: 1e3\nk: true\n",
  "script: |\n  echo a: b\n  echo c\nnext: >-\n  folded\n  text\n\n  para\nlast: x\nkeep: |+\n  k\n\nstrip: |-\n  s\n",
  "url: http://127.0.0.1:8080/path?q=1#frag\nheader: Bearer ${TOKEN}\nbody_text: a,b[c]\n",
  "list:\n- - nested\n  - seq\n- x\n",
  "a: [[1, 2], [3]]\nb: []\nc: {}\n",
  // Flow style, one line and several.
  "name: f\ntasks:\n  - { name: a, type: shell, config: { command: /bin/true } }\n  - { name: b, type: shell, depends_on: [a], config: { command: /bin/echo, args: [\"x\", 'y', -1, .5, ~] } }\n",
  "name: f\ntasks:\n  - {\n      name: a, type: shell,\n      config: { command: /bin/true },  # a comment\n    }\n",
  "a: {b, c: , d: 1,}\ne: [1, 2,]\nf: { \"q\": 'r', s: \"\\u263A\\x41\\t\\/\" }\n",
  "env: {PATH: /usr/bin, URL: 'http://x:1/y', X: a:b}\n",
  "a: [-1, -x, .5, +.inf, -.Inf, .nan, 0o17, 0x1F, 1_000, ~, null, Null, yes, on, True, 1e3, 1.50]\n",
  "\"quoted key\": 1\n'it''s': 2\ntrue_ish: true\n",
  "a: x\u00a0\nb: [y\u2003, z]\n", // Unicode spaces are content, not trimmed
];

const REFUSED = [
  "a: 1\na: 2\n", // duplicate key
  "tasks:\n  - name: t\n    name: u\n", // duplicate in an item
  "tasks:\n- name: t\n  config:\n    command: x\n  name: u\n", // duplicate after a nested map
  "a: {b: 1, b: 2}\n", // duplicate in a flow mapping
  "x: &x {b: 1}\na:\n  <<: *x\n", // anchors, merge key
  "a:\n  <<: {b: 1}\n", // merge key without an alias
  "a: *x\n", // alias
  "a: [*x]\n",
  "a: !!str 1\n", // tag
  "%YAML 1.1\n---\na: yes\n", // directive
  "a: 1\n---\nb: 2\n", // two documents
  "? [a]\n: 1\n", // complex key
  "null: 1\n", // a key `yaml` makes "" and Bun "null"
  "1: a\n", // a key that is not a string
  "a: [1,\n2]\n", // flow lines not indented past the parent
  "a:\n  b: [1,\n ]\n",
  "a: \"multi\n  line\"\n", // multi-line quoted scalar
  "a: plain\n  continued\n", // multi-line plain scalar
  "a: [plain\n  continued]\n",
  "a:\n  b: 1\n c: 2\n", // key at an odd column
  "a: b: c\n", // nested compact mapping
  "a: - x\n", // sequence on a key's line
  "a:\r\n  b: 1\r\n", // CRLF
  "a:\n\tb: 1\n", // tab
  "- a\n- b\n", // top level not a mapping
  "a: |2\n   x\n", // indentation indicator
  "a: >\n  x\n    more\n  y\n", // more-indented folded lines
  "a: {\"b\":1}\n", // JSON-like adjacent value
  `a: ${"[".repeat(MAX_NESTING + 1)}${"]".repeat(MAX_NESTING + 1)}\n`, // deeper than MAX_NESTING
];

describe("fast path", () => {
  for (const text of ACCEPTED) {
    test(`accepted and read as yaml reads it: ${JSON.stringify(text).slice(0, 70)}`, () => {
      expect(scanYaml(text)).toBeDefined();
      expect(expectNeverDiffers(text)).toBe(true);
    });
  }
  for (const text of REFUSED) {
    test(`refused: ${JSON.stringify(text).slice(0, 70)}`, () => {
      expect(parseFastYaml(text)).toBeUndefined();
    });
  }

  test("every example workflow takes the fast path in block and in flow style, and reads the same as yaml", () => {
    const dir = join(import.meta.dir, "../examples");
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
      const text = readFileSync(join(dir, f), "utf8");
      const { tasks, ...rest } = (reference(text) as { data: { tasks: unknown[] } }).data;
      // All flow; block with each task a one-line flow mapping (as the flow benchmark writes it).
      const flow = `x-all: ${stringify({ tasks, ...rest }, { collectionStyle: "flow", lineWidth: 0 })}`;
      const mixed = `${stringify(rest, { lineWidth: 0 })}tasks:\n${tasks.map((t) => `  - ${stringify(t, { collectionStyle: "flow", lineWidth: 0 })}`).join("")}`;
      expect(mixed).toContain("  - { name: ");
      for (const t of [text, `${flow}${text}`, mixed]) {
        expect({ f, fast: expectNeverDiffers(t) }).toEqual({ f, fast: true });
      }
    }
  });

  test("whatever a mutated workflow reads as on the fast path, yaml reads the same (or the fast path refuses)", () => {
    // Deterministic: a small LCG. Each mutation deletes, duplicates or inserts one character.
    let seed = 14;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    const samples = [...ACCEPTED, readFileSync(join(import.meta.dir, "../examples/hello.yaml"), "utf8")];
    const alphabet = [..." \n-:[]{},#'\"|>&*!?%@`\\0aZ.~+\u00a0"];
    let accepted = 0;
    for (let n = 0; n < 2000; n++) {
      const s = samples[rand(samples.length)]!;
      const i = rand(s.length);
      const kind = rand(3);
      const t = kind === 0 ? s.slice(0, i) + s.slice(i + 1) : kind === 1 ? s.slice(0, i) + s[i] + s.slice(i) : s.slice(0, i) + alphabet[rand(alphabet.length)] + s.slice(i);
      if (expectNeverDiffers(t)) accepted++;
    }
    // The check has teeth only if many mutants are valid and read fast.
    expect(accepted).toBeGreaterThan(500);
  }, 30_000);
});

describe("loader with the fast path", () => {
  test("a duplicate key is still a validation error with its line and column, in block and flow style", () => {
    for (const [text, line] of [
      ["name: a\ntasks:\n  - name: t\n    type: shell\n    type: shell\n    config:\n      command: /bin/true\n", 5],
      ["name: a\ntasks:\n  - { name: t, type: shell, type: shell, config: { command: /bin/true } }\n", 3],
    ] as const) {
      let err: unknown;
      try {
        parseWorkflow(text, "wf.yaml", opts);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).problems.join("\n")).toMatch(new RegExp(`^wf\\.yaml:${line}:\\d+: .*unique`, "im"));
    }
  });

  test("a file with a schema problem is reported with positions, in block and flow style", () => {
    const block = "name: a\ntasks:\n  - name: t\n    type: shell\n    config:\n      command: /bin/true\n      colour: red\n";
    expect(parseFastYaml(block)).toBeDefined();
    expect(() => parseWorkflow(block, "wf.yaml", opts)).toThrow(/^wf\.yaml:7:7: tasks\[0\]\.config\.colour: unknown key/);
    const flow = "name: a\ntasks:\n  - { name: t, type: shell, config: { command: /bin/true, colour: red } }\n";
    expect(parseFastYaml(flow)).toBeDefined();
    expect(() => parseWorkflow(flow, "wf.yaml", opts)).toThrow(/^wf\.yaml:3:59: tasks\[0\]\.config\.colour: unknown key/);
  });

  test("fast and slow paths build the same workflow", () => {
    const plain =
      "name: same\nconfig:\n  max_parallel: 3\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/echo\n      args: [\"${HOME}\", x]\n" +
      "  - { name: b, type: http, depends_on: [a], config: { url: 'http://127.0.0.1:1/x', method: post, headers: { Authorization: Bearer s3cret }, body: { k: [1, 2] } } }\n";
    // An anchor forces the slow path on otherwise identical content.
    const slow = plain.replace("name: same", "name: &n same");
    expect(parseFastYaml(plain)).toBeDefined();
    expect(parseFastYaml(slow)).toBeUndefined();
    expect(parseWorkflow(plain, "wf.yaml", opts)).toEqual(parseWorkflow(slow, "wf.yaml", opts));
  });

  test("merge keys take the slow path and build what the written-out file builds", () => {
    const written = "name: m\ntasks:\n  - name: a\n    type: shell\n    retry: 1\n    config:\n      command: /bin/true\n  - name: b\n    type: shell\n    retry: 0\n    config:\n      command: /bin/true\n";
    const merged = "name: m\nx-base: &base\n  type: shell\n  retry: 1\n  config:\n    command: /bin/true\ntasks:\n  - <<: *base\n    name: a\n  - <<: *base\n    name: b\n    retry: 0\n";
    expect(parseFastYaml(merged)).toBeUndefined();
    expect(parseWorkflow(merged, "wf.yaml", opts)).toEqual(parseWorkflow(written, "wf.yaml", opts));
  });

  test("x- keys are ignored on the fast path too", () => {
    const text = "name: x\nx-note: kept for people, ignored by PicoFlow\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/true\n";
    expect(parseFastYaml(text)).toBeDefined();
    expect(parseWorkflow(text, "wf.yaml", opts)).toEqual(parseWorkflow(text.replace(/^x-note.*\n/m, ""), "wf.yaml", opts));
  });

  test("a file with a warning is read again, for its line and column", () => {
    const text = "name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/echo\n      args: [\"${NOT_SET_ANYWHERE}\"]\n";
    expect(parseFastYaml(text)).toBeDefined();
    expect(parseWorkflow(text, "wf.yaml", opts).warnings).toEqual([
      'wf.yaml:7:14: warning: tasks[0].config.args[0]: ${NOT_SET_ANYWHERE} is not set, so it becomes "" here; write ${NOT_SET_ANYWHERE:-} if that is meant',
    ]);
  });
});
