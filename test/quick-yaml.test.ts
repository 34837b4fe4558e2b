// The loader's fast path (Bun.YAML on a plain subset) must never read a file differently
// from the `yaml` package: whatever it accepts, both parsers agree on; whatever they could
// disagree on, it refuses, and the slow path (with line numbers) takes over.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { isPlainSubset, parsePlainYaml } from "../src/workflow/quick-yaml.ts";
import { parseWorkflow, type LoadOptions } from "../src/workflow/load.ts";
import { ValidationError } from "../src/errors.ts";

const opts: LoadOptions = { env: { HOME: "/home/pi" }, home: "/home/pi", defaultRetry: 0, defaultTimeout: 300, maxTimeout: 0 };

const PLAIN = [
  "name: a\ntasks:\n  - name: t\n    type: shell\n    config:\n      command: /bin/true\n",
  "name: a\ntasks:\n- name: t\n  type: shell\n  depends_on: [x, y]\n  config:\n    command: /bin/echo\n    args: [\"a b\", 'c''d', \"e\\\"f\", plain]\n",
  "# comment\n---\nname: a # trailing\ndescription: 'quoted: with colon'\nschedule: \"0 */5 * * * *\"\ntasks: []\n",
  "a:\n  b: 1\n  c:\n    - 1\n    - two\n    - \"3\"\n  d: yes\n  e: on\n  f: 010\n  g: 0o10\n  h: 0x1f\n  i: ~\n  j: 1e3\nk: true\n",
  "script: |\n  echo a: b\n  echo c\nnext: >-\n  folded\n  text\nlast: x\n",
  "url: http://127.0.0.1:8080/path?q=1#frag\nheader: Bearer ${TOKEN}\nbody_text: a,b[c]\n",
  "list:\n- - nested\n  - seq\n- x\n",
  "a: [[1, 2], [3]]\nb: []\n",
];

const NOT_PLAIN = [
  "a: 1\na: 2\n", // duplicate key
  "tasks:\n  - name: t\n    name: u\n", // duplicate in an item
  "tasks:\n- name: t\n  config:\n    command: x\n  name: u\n", // duplicate after a nested map
  "x: &x {b: 1}\na:\n  <<: *x\n", // anchors, merge key
  "a: *x\n", // alias
  "a: !!str 1\n", // tag
  "%YAML 1.1\n---\na: yes\n", // directive
  "a: 1\n---\nb: 2\n", // two documents
  "? [a]\n: 1\n", // complex key
  "\"a\": 1\n", // quoted key
  "a: {b: 1, b: 2}\n", // flow mapping
  "a: [1,\n  2]\n", // multi-line flow sequence
  "a: \"multi\n  line\"\n", // multi-line quoted scalar
  "a: plain\n  continued\n", // multi-line plain scalar
  "a:\n  b: 1\n c: 2\n", // key at an odd column
  "a: b: c\n", // nested compact mapping
  "a: - x\n", // sequence on a key's line
  "a:\r\n  b: 1\r\n", // CRLF
  "a:\n\tb: 1\n", // tab
  "- a\n- b\n", // top level not a mapping
  "a: [b, {c: d}]\n",
  "a: [*x]\n",
];

describe("plain subset", () => {
  for (const text of PLAIN) {
    test(`accepted and read as yaml reads it: ${JSON.stringify(text).slice(0, 60)}`, () => {
      expect(isPlainSubset(text)).toBe(true);
      expect(parsePlainYaml(text)).toEqual(parse(text));
    });
  }
  for (const text of NOT_PLAIN) {
    test(`refused: ${JSON.stringify(text).slice(0, 60)}`, () => {
      expect(isPlainSubset(text)).toBe(false);
      expect(parsePlainYaml(text)).toBeUndefined();
    });
  }

  test("every example workflow takes the fast path and reads the same both ways", () => {
    const dir = join(import.meta.dir, "../examples");
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
      const text = readFileSync(join(dir, f), "utf8");
      expect({ f, plain: isPlainSubset(text) }).toEqual({ f, plain: true });
      expect(parsePlainYaml(text)).toEqual(parse(text));
    }
  });
});

describe("loader with the fast path", () => {
  test("a duplicate key is still a validation error with its line and column", () => {
    const text = "name: a\ntasks:\n  - name: t\n    type: shell\n    type: shell\n    config:\n      command: /bin/true\n";
    let err: unknown;
    try {
      parseWorkflow(text, "wf.yaml", opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems.join("\n")).toMatch(/^wf\.yaml:5:\d+: .*unique/im);
  });

  test("a plain file with a schema problem is reported with positions", () => {
    const text = "name: a\ntasks:\n  - name: t\n    type: shell\n    config:\n      command: /bin/true\n      colour: red\n";
    expect(isPlainSubset(text)).toBe(true);
    expect(() => parseWorkflow(text, "wf.yaml", opts)).toThrow(/^wf\.yaml:7:7: tasks\[0\]\.config\.colour: unknown key/);
  });

  test("fast and slow paths build the same workflow", () => {
    const plain =
      "name: same\nconfig:\n  max_parallel: 3\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/echo\n      args: [\"${HOME}\", x]\n" +
      "  - name: b\n    type: http\n    depends_on: [a]\n    config:\n      url: http://127.0.0.1:1/x\n      method: post\n      headers:\n        Authorization: Bearer s3cret\n      body:\n        k: [1, 2]\n";
    // An anchor forces the slow path on otherwise identical content.
    const slow = plain.replace("name: same", "name: &n same");
    expect(isPlainSubset(plain)).toBe(true);
    expect(isPlainSubset(slow)).toBe(false);
    expect(parseWorkflow(plain, "wf.yaml", opts)).toEqual(parseWorkflow(slow, "wf.yaml", opts));
  });

  test("merge keys take the slow path and build what the written-out file builds", () => {
    const written = "name: m\ntasks:\n  - name: a\n    type: shell\n    retry: 1\n    config:\n      command: /bin/true\n  - name: b\n    type: shell\n    retry: 0\n    config:\n      command: /bin/true\n";
    const merged = "name: m\nx-base: &base\n  type: shell\n  retry: 1\n  config:\n    command: /bin/true\ntasks:\n  - <<: *base\n    name: a\n  - <<: *base\n    name: b\n    retry: 0\n";
    expect(isPlainSubset(merged)).toBe(false);
    expect(parseWorkflow(merged, "wf.yaml", opts)).toEqual(parseWorkflow(written, "wf.yaml", opts));
  });

  test("x- keys are ignored on the fast path too", () => {
    const text = "name: x\nx-note: kept for people, ignored by PicoFlow\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/true\n";
    expect(isPlainSubset(text)).toBe(true);
    expect(parseWorkflow(text, "wf.yaml", opts)).toEqual(parseWorkflow(text.replace(/^x-note.*\n/m, ""), "wf.yaml", opts));
  });

  test("a plain file with a warning is read again, for its line and column", () => {
    const text = "name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/echo\n      args: [\"${NOT_SET_ANYWHERE}\"]\n";
    expect(isPlainSubset(text)).toBe(true);
    expect(parseWorkflow(text, "wf.yaml", opts).warnings).toEqual([
      'wf.yaml:7:14: warning: tasks[0].config.args[0]: ${NOT_SET_ANYWHERE} is not set, so it becomes "" here; write ${NOT_SET_ANYWHERE:-} if that is meant',
    ]);
  });
});
