// `picoflow schema`: the JSON Schema an editor uses (yaml-language-server in VS Code and
// Neovim), as the CLI prints it. It must compile as draft 2020-12, accept every example and
// every complete workflow in the docs, refuse what load.ts refuses for unknown keys and types,
// and say what the zod schemas say (keys, ranges, defaults, a description on every field).

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import { parse } from "yaml";
import { taskConfigSchemas, taskSchema, workflowSchema } from "../src/workflow/schema.ts";
import { TASK_TYPES } from "../src/workflow/types.ts";
import { cli, picoflowCommand, sandboxMaker } from "./helpers.ts";

const ROOT = resolve(import.meta.dir, "..");
const makeSandbox = sandboxMaker();

type Json = Record<string, any>;

let printed: Promise<{ code: number; stdout: string; stderr: string }> | undefined;
/** The CLI's answer, asked once for the whole file. */
function schemaOutput() {
  printed ??= cli(makeSandbox(), ["schema"]);
  return printed;
}

async function schema(): Promise<Json> {
  return JSON.parse((await schemaOutput()).stdout);
}

let compiled: Promise<ValidateFunction> | undefined;
/** Compiled in ajv's strict mode: an unknown keyword or a broken $ref fails here. */
function validator(): Promise<ValidateFunction> {
  compiled ??= schema().then((s) => new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(s));
  return compiled;
}

/** Validates `data`; the errors as "instancePath: message" lines, for readable failures. */
async function check(data: unknown): Promise<string[]> {
  const validate = await validator();
  if (validate(data)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || "/"}: ${e.message} ${JSON.stringify(e.params)}`);
}

const VALID = {
  name: "nightly",
  tasks: [
    { name: "a", type: "shell", config: { command: "/bin/true" } },
    { name: "b", type: "ssh", depends_on: ["a"], config: { host: "nas", user: "pi", command: "df -h" } },
    { name: "c", type: "http", depends_on: ["b"], config: { url: "https://nas.local/health", method: "get" } },
  ],
  on_exit: [{ name: "done", type: "shell", config: { script: "echo done\n" } }],
};

const clone = (): Json => structuredClone(VALID);

describe("picoflow schema", () => {
  test("prints a draft 2020-12 JSON Schema with an id and a title, and exits 0", async () => {
    const out = await schemaOutput();
    expect(out.code).toBe(0);
    expect(out.stderr).toBe("");
    const s = JSON.parse(out.stdout);
    expect(s.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(s.$id).toMatch(/^urn:picoflow:workflow:\d+\.\d+\.\d+/);
    expect(s.title).toBe("PicoFlow workflow");
    // Compiles in strict mode: no unknown keyword, no broken $ref.
    expect(typeof (await validator())).toBe("function");
    expect(await check(VALID)).toEqual([]);
  });

  test("an unknown option is a usage error (exit 4)", async () => {
    const s = makeSandbox();
    const r = await cli(s, ["schema", "--fromat", "json"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("unknown option '--fromat'");
    expect(r.stdout).toBe("");
    // -o is --format elsewhere (`-o json`): here it is refused rather than writing a file "json".
    const o = await cli(s, ["schema", "-o", "json"]);
    expect(o.code).toBe(4);
    expect(o.stderr).toContain("unknown option '-o'");
    expect(existsSync(join(s.dir, "json"))).toBe(false);
    const empty = await cli(s, ["schema", "--output"]);
    expect(empty.code).toBe(4);
    expect(empty.stderr).toBe("picoflow: --output: a value is required\n");
  });

  test("every file in examples/ validates", async () => {
    const files = readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const data = parse(readFileSync(join(ROOT, "examples", f), "utf8"), { merge: true });
      expect({ file: f, errors: await check(data) }).toEqual({ file: f, errors: [] });
    }
  });

  test("every complete workflow in README.md and docs/ validates", async () => {
    const files = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
    let checked = 0;
    const failures: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(ROOT, f), "utf8");
      for (const m of text.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm)) {
        const block = m[1]!;
        // A block meant to be invalid says so on its first line.
        if (/^#\s*invalid\b/.test(block)) continue;
        let data: unknown;
        try {
          data = parse(block, { merge: true });
        } catch {
          continue; // not YAML on its own: a fragment
        }
        if (data === null || typeof data !== "object" || !("name" in data) || !("tasks" in data)) continue;
        // `tasks: [...]` leaves the tasks out to show the rest: that rest is checked.
        const wf = data as Json;
        if (JSON.stringify(wf.tasks) === '["..."]') wf.tasks = [{ name: "t", type: "shell", config: { command: "true" } }];
        checked++;
        const errors = await check(data);
        if (errors.length) failures.push(`${f}:${text.slice(0, m.index).split("\n").length}: ${errors.join("; ")}`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(3);
  });
});

/** Where `data` fails, as "path keyword" pairs (which rule refused it, not only that it was refused). */
async function failures(data: unknown): Promise<string[]> {
  const validate = await validator();
  if (validate(data)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.keyword}${e.keyword === "additionalProperties" ? ` ${e.params.additionalProperty}` : ""}`);
}

describe("what the schema refuses and accepts", () => {
  test("an unknown top-level key, task key and config key (each type, tasks and handlers) does not validate; x-* keys do", async () => {
    const wf = clone();
    wf.colour = "blue";
    wf["x-defaults"] = { anything: [1, 2] };
    wf.tasks[0].retires = 2;
    wf.tasks[0].config.comand = "/bin/true";
    wf.tasks[1].config.hots = "nas";
    wf.tasks[2].config.metod = "POST";
    wf.on_exit[0].config.scirpt = "x";
    const errors = await failures(wf);
    for (const expected of [
      "/ additionalProperties colour",
      "/tasks/0 additionalProperties retires",
      "/tasks/0/config additionalProperties comand",
      "/tasks/1/config additionalProperties hots",
      "/tasks/2/config additionalProperties metod",
      "/on_exit/0/config additionalProperties scirpt",
    ]) expect(errors).toContain(expected);
    expect(errors.join("\n")).not.toContain("x-defaults");
    // picoflow validate refuses the same file.
    const s = makeSandbox();
    const r = await cli(s, ["validate", s.workflow(JSON.stringify(wf))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("tasks[0].config.comand: unknown key");
    // Each alone is enough.
    for (const [at, key] of [[[], "colour"], [["tasks", 0], "retires"], [["tasks", 0, "config"], "comand"], [["tasks", 1, "config"], "hots"], [["tasks", 2, "config"], "metod"]] as const) {
      const one = clone();
      let node: Json = one;
      for (const k of at) node = node[k];
      node[key] = "x";
      expect(await failures(one)).not.toEqual([]);
    }
  });

  test("a task type that does not exist does not validate", async () => {
    const wf = clone();
    wf.tasks[0].type = "bash";
    expect(await failures(wf)).toContain("/tasks/0/type enum");
  });

  test("a handler has no depends_on", async () => {
    const wf = clone();
    wf.on_exit[0].depends_on = ["a"];
    expect(await failures(wf)).toContain("/on_exit/0 additionalProperties depends_on");
  });

  test("a shell task has command or script, not both, not neither; shell goes with script", async () => {
    const both = clone();
    both.tasks[0].config.script = "echo hi";
    expect(await failures(both)).not.toEqual([]);
    const neither = clone();
    neither.tasks[0].config = { workdir: "/tmp" };
    expect(await failures(neither)).toContain("/tasks/0/config required");
    const shellWithCommand = clone();
    shellWithCommand.tasks[0].config.shell = "/bin/bash";
    expect(await failures(shellWithCommand)).not.toEqual([]);
    const script = clone();
    script.tasks[0].config = { shell: "/bin/bash", script: "set -u\necho ${HOME}\n", workdir: "/tmp", env: { A: "1" } };
    expect(await failures(script)).toEqual([]);
  });

  test("ranges, enums and formats: as load.ts checks them; ${VAR} where a pattern applies", async () => {
    const cases: [string, (wf: Json) => void, boolean][] = [
      ["retry 101", (wf) => (wf.tasks[0].retry = 101), false],
      ["retry -1", (wf) => (wf.tasks[0].retry = -1), false],
      ["retry 1.5", (wf) => (wf.tasks[0].retry = 1.5), false],
      ["retry '3'", (wf) => (wf.tasks[0].retry = "3"), false],
      ["port 0", (wf) => (wf.tasks[1].config.port = 0), false],
      ["max_parallel 257", (wf) => (wf.config = { max_parallel: 257 }), false],
      ["method post", (wf) => (wf.tasks[2].config.method = "post"), true],
      ["method fetch", (wf) => (wf.tasks[2].config.method = "fetch"), false],
      ["body on GET", (wf) => (wf.tasks[2].config.body = { a: 1 }), false],
      ["body on POST", (wf) => Object.assign(wf.tasks[2].config, { method: "POST", body: { a: 1 } }), true],
      ["expect_status list", (wf) => (wf.tasks[2].config.expect_status = [200, 204]), true],
      ["expect_status 600", (wf) => (wf.tasks[2].config.expect_status = 600), false],
      ["insecure with ca_cert", (wf) => Object.assign(wf.tasks[2].config, { insecure: true, ca_cert: "/etc/ca.pem" }), false],
      ["relative ca_cert", (wf) => (wf.tasks[2].config.ca_cert = "ca.pem"), false],
      ["auth", (wf) => (wf.tasks[2].config.auth = { username: "admin", password: "${NAS_PASSWORD}" }), true],
      ["auth with Authorization", (wf) => Object.assign(wf.tasks[2].config, { auth: { username: "a", password: "b" }, headers: { authorization: "x" } }), false],
      ["auth without password", (wf) => (wf.tasks[2].config.auth = { username: "admin" }), false],
      ["workflow env, env_file, secrets", (wf) => Object.assign(wf, { env: { BACKUP_DIR: "/mnt" }, env_file: "backup.env", secrets: ["API_TOKEN"] }), true],
      ["env value a number", (wf) => (wf.env = { PORT: 5432 }), false],
      ["secrets name with a dash", (wf) => (wf.secrets = ["API-TOKEN"]), false],
      ["name with a space", (wf) => (wf.name = "my flow"), false],
      ["name from a variable", (wf) => (wf.name = "${FLOW}"), true],
      ["host from a variable", (wf) => (wf.tasks[1].config.host = "${NAS_HOST}"), true],
      ["workdir from a variable", (wf) => (wf.tasks[0].config.workdir = "${BACKUP_DIR}/x"), true],
      ["key_path ~/", (wf) => (wf.tasks[1].config.key_path = "~/.ssh/k"), true],
      ["key_path relative", (wf) => (wf.tasks[1].config.key_path = ".ssh/k"), false],
      ["catchup_window 12h", (wf) => Object.assign(wf, { schedule: "@daily", catchup: "all", catchup_window: "12h" }), true],
      ["catchup_window 12 hours", (wf) => (wf.catchup_window = "12 hours"), false],
      ["catchup sometimes", (wf) => (wf.catchup = "sometimes"), false],
      ["notify false", (wf) => (wf.notify = false), true],
      ["notify true", (wf) => (wf.notify = true), false],
      ["notify on never", (wf) => (wf.notify = { url: "https://ntfy.sh/x", on: ["never"] }), false],
      ["no tasks", (wf) => (wf.tasks = []), false],
      ["1001 tasks", (wf) => (wf.tasks = Array.from({ length: 1001 }, (_, i) => ({ name: `t${i}`, type: "shell", config: { command: "true" } }))), false],
    ];
    const wrong: string[] = [];
    for (const [what, change, valid] of cases) {
      const wf = clone();
      change(wf);
      if ((await failures(wf)).length === 0 !== valid) wrong.push(`${what}: expected ${valid ? "valid" : "invalid"}`);
    }
    expect(wrong).toEqual([]);
  });
});

/** Every object schema with properties in the schema, with where it is. */
function objects(node: unknown, at = "#", out: [string, Json][] = []): [string, Json][] {
  if (node === null || typeof node !== "object") return out;
  if ((node as Json).properties && !Array.isArray(node)) out.push([at, node as Json]);
  for (const [k, v] of Object.entries(node)) objects(v, `${at}/${k}`, out);
  return out;
}

describe("the schema says what the zod schemas say", () => {
  test("the keys of the workflow, a task, a handler and each type's config are the zod schemas' keys", async () => {
    const s = await schema();
    const keys = (o: Json) => Object.keys(o.properties).sort();
    expect(keys(s)).toEqual(Object.keys(workflowSchema.shape).sort());
    expect(keys(s.$defs.task)).toEqual(Object.keys(taskSchema.shape).sort());
    expect(keys(s.$defs.handler)).toEqual(Object.keys(taskSchema.shape).filter((k) => k !== "depends_on").sort());
    for (const type of TASK_TYPES) {
      expect({ type, keys: keys(s.$defs[`${type}_config`]) }).toEqual({ type, keys: Object.keys(taskConfigSchemas[type].shape).sort() });
      expect(s.$defs[`${type}_config`].additionalProperties).toBe(false);
    }
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.patternProperties)).toEqual(["^x-"]);
  });

  test("the fields of inline scripts, shared env and secrets, and HTTP checks are there", async () => {
    const s = await schema();
    expect(Object.keys(s.$defs.shell_config.properties)).toEqual(expect.arrayContaining(["script", "shell"]));
    expect(Object.keys(s.properties)).toEqual(expect.arrayContaining(["env", "env_file", "secrets"]));
    expect(Object.keys(s.$defs.http_config.properties)).toEqual(expect.arrayContaining(["expect_status", "expect_body", "ca_cert", "insecure", "auth"]));
  });

  test("every field has a description; defaults and ranges are there", async () => {
    const s = await schema();
    const undescribed: string[] = [];
    for (const [at, o] of objects(s)) {
      // if/then branches restate fields; the fields themselves are described where defined.
      if (/\/(if|then|else)(\/|$)/.test(at)) continue;
      for (const [k, v] of Object.entries(o.properties as Json)) if (!v.description) undescribed.push(`${at}/properties/${k}`);
    }
    expect(undescribed).toEqual([]);
    const d = s.$defs;
    expect(d.ssh_config.properties.port).toMatchObject({ default: 22, minimum: 1, maximum: 65535 });
    expect(d.ssh_config.properties.key_path.default).toBe("~/.ssh/id_rsa");
    expect(d.ssh_config.properties.timeout).toMatchObject({ default: 30, minimum: 1, maximum: 3600 });
    expect(d.http_config.properties.timeout).toMatchObject({ default: 30, minimum: 1, maximum: 3600 });
    expect(d.http_config.properties.insecure.default).toBe(false);
    expect(d.shell_config.properties.shell.default).toBe("/bin/sh");
    expect(d.task.properties.retry).toMatchObject({ type: "integer", minimum: 0, maximum: 100 });
    expect(d.task.properties.timeout).toMatchObject({ type: "integer", minimum: 0, maximum: 86400 });
    expect(d.task.properties.continue_on_failure.default).toBe(false);
    expect(d.task.properties.type.enum).toEqual([...TASK_TYPES]);
    expect(s.properties.config.properties).toMatchObject({
      max_parallel: { default: 4, minimum: 1, maximum: 256 },
      retry_default: { default: 3, minimum: 0, maximum: 100 },
      timeout_default: { default: 300, minimum: 0, maximum: 86400 },
      fail_fast: { default: true },
    });
    expect(s.properties.catchup).toMatchObject({ default: "none", enum: ["none", "latest", "all"] });
    expect(d.notify.properties.format).toMatchObject({ default: "json", enum: ["json", "ntfy"] });
    expect(d.notify.properties.on.default).toEqual(["failure", "recovery"]);
  });

  test("only keywords that draft-7 editors understand too, and nothing next to a $ref", async () => {
    const text = (await schemaOutput()).stdout;
    for (const k of ["prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired", "dependentSchemas", "$dynamicRef", "$anchor"]) {
      expect(text).not.toContain(`"${k}"`);
    }
    const withSiblings: string[] = [];
    const walk = (n: unknown, at: string) => {
      if (n === null || typeof n !== "object") return;
      if ("$ref" in n && Object.keys(n).length > 1) withSiblings.push(at);
      for (const [k, v] of Object.entries(n)) walk(v, `${at}/${k}`);
    };
    walk(await schema(), "#");
    expect(withSiblings).toEqual([]);
  });
});

describe("picoflow schema --output", () => {
  test("writes the same schema to a file, mode 0644 whatever the umask, replacing the old file whole", async () => {
    const s = makeSandbox();
    const target = join(s.dir, "workflow.schema.json");
    writeFileSync(target, "old", { mode: 0o600 });
    const proc = Bun.spawn(["sh", "-c", 'umask 077; exec "$@"', "sh", ...picoflowCommand(), "schema", "--output", target], { env: s.env, cwd: s.dir, stdout: "pipe", stderr: "pipe" });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(target, "utf8")).toBe((await schemaOutput()).stdout);
    expect(statSync(target).mode & 0o777).toBe(0o644);
    // No temporary file left behind.
    expect(readdirSync(s.dir).filter((f) => f.includes("schema"))).toEqual(["workflow.schema.json"]);
  });

  test("a directory that does not exist is an IO error (exit 5), one line", async () => {
    const s = makeSandbox();
    const target = join(s.dir, "nope", "workflow.schema.json");
    const r = await cli(s, ["schema", "--output", target]);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`picoflow: ${target}: cannot write: directory ${join(s.dir, "nope")} does not exist\n`);
    expect(existsSync(join(s.dir, "nope"))).toBe(false);
  });
});

test("only `picoflow schema` loads the JSON Schema code, and only when it runs", () => {
  const importers: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".ts") && /json-schema(\.ts)?["']/.test(readFileSync(p, "utf8"))) importers.push(p.slice(ROOT.length + 1));
    }
  };
  walk(join(ROOT, "src"));
  expect(importers).toEqual(["src/cli/schema.ts"]);
  const src = readFileSync(join(ROOT, "src/cli/schema.ts"), "utf8");
  expect(src).toContain('await import("../workflow/json-schema.ts")');
  expect(src).not.toMatch(/^import .*json-schema/m);
});
