// Workflow loading: every schema rule, reported with FILE:LINE:COL, all in one pass.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ValidationError, IoError } from "../src/errors.ts";
import { loadWorkflow, parseWorkflow, type LoadOptions } from "../src/workflow/load.ts";
import { sandbox } from "./helpers.ts";

const opts: LoadOptions = { env: { TOKEN: "s3cret-token", HOST: "example.org", EMPTY: "" }, home: "/home/pi", defaultRetry: 3, defaultTimeout: 300, maxTimeout: 0 };

/** The errors (warnings, such as a command `x` not found here, are left out: see warnings()). */
function problems(yaml: string, o: LoadOptions = opts): string[] {
  return findings(yaml, o).filter((l) => !l.includes(": warning: "));
}

/** Errors and warnings, as `validate` prints them. */
function findings(yaml: string, o: LoadOptions = opts): string[] {
  try {
    return [...(parseWorkflow(yaml, "wf.yaml", o).warnings ?? [])];
  } catch (err) {
    if (err instanceof ValidationError) return err.problems;
    throw err;
  }
}

const shell = (name: string, extra = "") => `  - name: ${name}\n    type: shell\n    config:\n      command: /bin/true\n${extra}`;

describe("schema rules", () => {
  const cases: [string, string, string[]][] = [
    ["missing name and tasks", "description: x\n", ["wf.yaml:1:1: name: required", "wf.yaml:1:1: tasks: required"]],
    ["a name with a space", `name: my flow\ntasks:\n${shell("a")}`, ["wf.yaml:1:7: name: must be 1-64 characters of letters, digits, '-' or '_'"]],
    ["a name too long", `name: ${"x".repeat(65)}\ntasks:\n${shell("a")}`, ["wf.yaml:1:7: name: must be 1-64 characters of letters, digits, '-' or '_'"]],
    ["a description over 256 characters", `name: w\ndescription: ${"d".repeat(257)}\ntasks:\n${shell("a")}`, ["wf.yaml:2:14: description: must be at most 256 characters"]],
    ["an empty task list", "name: w\ntasks: []\n", ["wf.yaml:2:8: tasks: must have at least one task"]],
    ["tasks that is not a list", "name: w\ntasks: 3\n", ["wf.yaml:2:8: tasks: expected a list of tasks, got number 3"]],
    ["max_parallel 0", `name: w\nconfig:\n  max_parallel: 0\ntasks:\n${shell("a")}`, ["wf.yaml:3:17: config.max_parallel: must be an integer from 1 to 256, got number 0"]],
    ["max_parallel 257", `name: w\nconfig:\n  max_parallel: 257\ntasks:\n${shell("a")}`, ["wf.yaml:3:17: config.max_parallel: must be an integer from 1 to 256, got number 257"]],
    ["retry_default 101", `name: w\nconfig:\n  retry_default: 101\ntasks:\n${shell("a")}`, ["wf.yaml:3:18: config.retry_default: must be an integer from 0 to 100, got number 101"]],
    ["timeout_default -1", `name: w\nconfig:\n  timeout_default: -1\ntasks:\n${shell("a")}`, ["wf.yaml:3:20: config.timeout_default: must be an integer from 0 to 86400, got number -1"]],
    ["a fractional retry", `name: w\ntasks:\n${shell("a", "    retry: 1.5\n")}`, ["wf.yaml:7:12: tasks[0].retry: must be an integer from 0 to 100, got number 1.5"]],
    ["a string timeout", `name: w\ntasks:\n${shell("a", "    timeout: '10'\n")}`, ["wf.yaml:7:14: tasks[0].timeout: must be an integer from 0 to 86400, got a string"]],
    ["continue_on_failure not a boolean", `name: w\ntasks:\n${shell("a", "    continue_on_failure: yes\n")}`, ["wf.yaml:7:26: tasks[0].continue_on_failure: expected true or false, got a string"]],
    ["an unknown task type", "name: w\ntasks:\n  - name: a\n    type: ftp\n    config: {}\n", ["wf.yaml:4:11: tasks[0].type: must be one of shell, ssh, http"]],
    ["a missing config", "name: w\ntasks:\n  - name: a\n    type: shell\n", ["wf.yaml:3:5: tasks[0].config: required"]],
    ["an unknown top-level key, with a suggestion", `name: w\nschedul: "* * * * * *"\ntasks:\n${shell("a")}`, ["wf.yaml:2:1: schedul: unknown key (did you mean 'schedule'?)"]],
    ["an unknown task key", `name: w\ntasks:\n${shell("a", "    retrys: 2\n")}`, ["wf.yaml:7:5: tasks[0].retrys: unknown key (did you mean 'retry'?)"]],
    ["an unknown shell config key", "name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: x\n      cwd: /tmp\n", ["wf.yaml:7:7: tasks[0].config.cwd: unknown key"]],
    ["shell without command", "name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      args: [x]\n", ["wf.yaml:6:7: tasks[0].config.command: required (or 'script' for an inline script)"]],
    ["shell args with a number", "name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: x\n      args: [1]\n", ["wf.yaml:7:14: tasks[0].config.args[0]: expected a string (quote numbers and booleans), got number 1"]],
    ["a relative workdir", "name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: x\n      workdir: tmp\n", ["wf.yaml:7:16: tasks[0].config.workdir: workdir must be an absolute path"]],
    ["an env value that is a number", "name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: x\n      env: {PORT: 5432}\n", ["wf.yaml:7:19: tasks[0].config.env.PORT: expected a string (quote numbers and booleans), got number 5432"]],
    ["ssh without host and user", "name: w\ntasks:\n  - name: a\n    type: ssh\n    config:\n      command: uptime\n", ["wf.yaml:6:7: tasks[0].config.host: required", "wf.yaml:6:7: tasks[0].config.user: required"]],
    ["ssh host with a port in it", "name: w\ntasks:\n  - name: a\n    type: ssh\n    config: {host: 'nas:2222', user: u, command: c}\n", ["wf.yaml:5:20: tasks[0].config.host: must be a hostname or IP address without a port (put the port in 'port'; IPv6 without brackets)"]],
    ["ssh host: an IPv6 address is fine; brackets, a port or a stray colon are not", "name: w\ntasks:\n  - name: a\n    type: ssh\n    config: {host: 'fe80::1', user: u, command: c}\n  - name: b\n    type: ssh\n    config: {host: '[::1]:22', user: u, command: c}\n  - name: c\n    type: ssh\n    config: {host: 'nas:', user: u, command: c}\n  - name: d\n    type: ssh\n    config: {host: '[::1]', user: u, command: c}\n", ["wf.yaml:8:20: tasks[1].config.host: must be a hostname or IP address without a port (put the port in 'port'; IPv6 without brackets)", "wf.yaml:11:20: tasks[2].config.host: must be a hostname or IP address without a port (put the port in 'port'; IPv6 without brackets)", "wf.yaml:14:20: tasks[3].config.host: must be a hostname or IP address without a port (put the port in 'port'; IPv6 without brackets)"]],
    ["ssh port out of range", "name: w\ntasks:\n  - name: a\n    type: ssh\n    config: {host: h, user: u, command: c, port: 70000}\n", ["wf.yaml:5:50: tasks[0].config.port: must be an integer from 1 to 65535, got number 70000"]],
    ["ssh timeout 0", "name: w\ntasks:\n  - name: a\n    type: ssh\n    config: {host: h, user: u, command: c, timeout: 0}\n", ["wf.yaml:5:53: tasks[0].config.timeout: must be an integer from 1 to 3600, got number 0"]],
    ["http with a bad method", "name: w\ntasks:\n  - name: a\n    type: http\n    config: {url: 'http://x', method: FETCH}\n", ["wf.yaml:5:39: tasks[0].config.method: must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS (any case)"]],
    ["http with an unsupported scheme", "name: w\ntasks:\n  - name: a\n    type: http\n    config: {url: 'ftp://x/y', method: get}\n", ["wf.yaml:5:19: tasks[0].config.url: unsupported scheme 'ftp' (use http or https)"]],
    ["http with a malformed URL", "name: w\ntasks:\n  - name: a\n    type: http\n    config: {url: 'not a url', method: get}\n", ["wf.yaml:5:19: tasks[0].config.url: 'not a url' is not a valid URL"]],
    ["a 5-field cron schedule, with its 6-field form", `name: w\nschedule: "*/5 * * * *"\ntasks:\n${shell("a")}`, [`wf.yaml:2:11: schedule: must have 6 fields (sec min hour day month dayofweek), got 5; PicoFlow's cron has seconds first: for "*/5 * * * *" write "0 */5 * * * *"`]],
    ["a 7-field cron schedule", `name: w\nschedule: "0 0 0 * * * 2026"\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: schedule: must have 6 fields (sec min hour day month dayofweek), got 7"]],
    ["a schedule that can never fire", `name: w\nschedule: "0 0 0 31 2 *"\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: schedule: never fires: no date matches it (check the day of month against the month)"]],
    ["an unknown cron nickname", `name: w\nschedule: "@fortnightly"\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: schedule: unknown nickname @fortnightly (use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, or six fields)"]],
    ["an out-of-range cron field, named as written", `name: w\nschedule: "0 0 25 * * *"\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: schedule: hour 25 is out of range (0-23)"]],
    ["day of month 32 (croner would say 31)", `name: w\nschedule: "0 0 0 32 * *"\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: schedule: day of month 32 is out of range (1-31)"]],
    ["a stepped cron range out of range", `name: w\nschedule: "0 0 1-31/2 * * *"\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: schedule: hour 31 is out of range (0-23)"]],
    ["a cron range backwards", `name: w\nschedule: "0 5-2 * * * *"\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: schedule: invalid cron expression: From value is larger than to value: '5-2'"]],
    ["an unknown time zone", `name: w\ntimezone: Mars/Olympus\ntasks:\n${shell("a")}`, ["wf.yaml:2:11: timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)"]],
    ["a missing dependency", `name: w\ntasks:\n${shell("a", "    depends_on: [b]\n")}`, ["wf.yaml:7:18: tasks[0].depends_on[0]: unknown task 'b'"]],
    ["a task that is not a mapping", `name: w\ntasks:\n${shell("a")}  - a\n  - null\n`, ["wf.yaml:7:5: tasks[1]: expected a mapping, got a string", "wf.yaml:8:5: tasks[2]: expected a mapping, got null"]],
    ["a config that is a list", "name: w\ntasks:\n  - name: a\n    type: ssh\n    config: []\n", ["wf.yaml:5:13: tasks[0].config: expected a mapping, got a list"]],
    ["a number too large to be an integer: one message", `name: w\nconfig:\n  max_parallel: 99999999999999999999\ntasks:\n${shell("a")}`, ["wf.yaml:3:17: config.max_parallel: must be an integer from 1 to 256, got number 100000000000000000000"]],
    ["NaN and infinity shown as such", `name: w\nconfig:\n  retry_default: .nan\ntasks:\n${shell("a", "    timeout: 1e400\n")}`, ["wf.yaml:3:18: config.retry_default: must be an integer from 0 to 100, got number NaN", "wf.yaml:9:14: tasks[0].timeout: must be an integer from 0 to 86400, got number Infinity"]],
    ["a suggestion only from the task type's own keys", "name: w\ntasks:\n  - name: a\n    type: http\n    config: {url: 'http://x', method: get, comand: x, mehtod: y}\n", ["wf.yaml:5:44: tasks[0].config.comand: unknown key", "wf.yaml:5:55: tasks[0].config.mehtod: unknown key (did you mean 'method'?)"]],
    ["two YAML documents", `name: w\ntasks:\n${shell("a")}---\nname: x\n`, ["wf.yaml:7:1: a workflow file holds one YAML document; a second one starts here ('---')"]],
    ["graph problems beside a task without a name", "name: w\ntasks:\n  - type: shell\n    config: {command: x}\n  - name: b\n    type: shell\n    depends_on: [b]\n    config: {command: x}\n  - name: b\n    type: shell\n    config: {command: x}\n", ["wf.yaml:3:5: tasks[0].name: required", "wf.yaml:7:18: tasks[1].depends_on[0]: task 'b' depends on itself", "wf.yaml:9:11: tasks[2].name: duplicate task name 'b' (first defined at tasks[1])"]],
  ];
  for (const [name, yaml, expected] of cases) {
    test(name, () => expect(problems(yaml)).toEqual(expected));
  }

  test("every problem in one pass, in file order", () => {
    const found = problems(`name: bad name
config:
  max_parallel: 0
tasks:
  - name: a
    type: shell
    config:
      comand: /bin/true
  - name: b
    type: http
    depends_on: [a, zz, b]
    config:
      url: ftp://x
      method: GETT
`);
    expect(found).toEqual([
      "wf.yaml:1:7: name: must be 1-64 characters of letters, digits, '-' or '_'",
      "wf.yaml:3:17: config.max_parallel: must be an integer from 1 to 256, got number 0",
      "wf.yaml:8:7: tasks[0].config.comand: unknown key (did you mean 'command'?)",
      "wf.yaml:8:7: tasks[0].config.command: required (or 'script' for an inline script)",
      "wf.yaml:11:21: tasks[1].depends_on[1]: unknown task 'zz'",
      "wf.yaml:11:25: tasks[1].depends_on[2]: task 'b' depends on itself",
      "wf.yaml:13:12: tasks[1].config.url: unsupported scheme 'ftp' (use http or https)",
      "wf.yaml:14:15: tasks[1].config.method: must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS (any case)",
    ]);
  });

  test("a cycle is reported with its path", () => {
    expect(problems(`name: w\ntasks:\n${shell("a", "    depends_on: [c]\n")}${shell("b", "    depends_on: [a]\n")}${shell("c", "    depends_on: [b]\n")}`)).toEqual([
      "wf.yaml:7:17: tasks[0].depends_on: dependency cycle: a -> c -> b -> a",
    ]);
  });
});

describe("documents that are not workflows", () => {
  const cases: [string, string, string][] = [
    ["an empty file", "", "wf.yaml: file is empty; a workflow needs at least 'name' and 'tasks'"],
    ["only comments", "# nothing\n", "wf.yaml: file is empty; a workflow needs at least 'name' and 'tasks'"],
    ["a list", "- a\n- b\n", "wf.yaml:1:1: the top level must be a mapping with 'name' and 'tasks', got a list"],
    ["a scalar", "hello\n", "wf.yaml:1:1: the top level must be a mapping with 'name' and 'tasks', got a single value"],
    ["invalid YAML", "name: [\n", "wf.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]"],
    ["a duplicate key", "name: a\nname: b\n", "wf.yaml:2:1: Map keys must be unique"],
  ];
  for (const [name, yaml, expected] of cases) test(name, () => expect(problems(yaml)).toEqual([expected]));
});

describe("building the workflow", () => {
  test("defaults: max_parallel 4, retry and timeout from the workflow, else from settings", () => {
    const wf = parseWorkflow(`name: w\nconfig:\n  retry_default: 1\ntasks:\n${shell("a")}${shell("b", "    retry: 0\n    timeout: 0\n")}`, "wf.yaml", opts);
    expect(wf.maxParallel).toBe(4);
    expect(wf.tasks.map((t) => [t.retry, t.timeout, t.continueOnFailure])).toEqual([
      [1, 300, false],
      [0, 0, false],
    ]);
    const fromSettings = parseWorkflow(`name: w\ntasks:\n${shell("a")}`, "wf.yaml", { ...opts, defaultRetry: 5, defaultTimeout: 60 });
    expect([fromSettings.tasks[0]!.retry, fromSettings.tasks[0]!.timeout]).toEqual([5, 60]);
  });

  test("[timeout] max_seconds caps every timeout, including 'no timeout'", () => {
    const wf = parseWorkflow(`name: w\ntasks:\n${shell("a", "    timeout: 0\n")}${shell("b", "    timeout: 10\n")}${shell("c", "    timeout: 9000\n")}`, "wf.yaml", { ...opts, maxTimeout: 3600 });
    expect(wf.tasks.map((t) => t.timeout)).toEqual([3600, 10, 3600]);
  });

  test("${VAR} expands in string values only; $$ is a literal $; unset is empty", () => {
    const wf = parseWorkflow(
      `name: w
tasks:
  - name: a
    type: shell
    config:
      command: /bin/echo
      args: ["\${HOST}", "cost: $$5", "\${UNSET}-x", "$(date)", "$HOST", "\${EMPTY}"]
      env:
        TARGET: "https://\${HOST}/"
`,
      "wf.yaml",
      opts,
    );
    const t = wf.tasks[0]!;
    if (t.type !== "shell") throw new Error("shell expected");
    expect(t.config.args).toEqual(["example.org", "cost: $5", "-x", "$(date)", "$HOST", ""]);
    expect(t.config.env).toEqual({ TARGET: "https://example.org/" });
  });

  test("a variable cannot change the document's structure", () => {
    const wf = parseWorkflow(`name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/echo\n      env: {A: "\${EVIL}"}\n`, "wf.yaml", {
      ...opts,
      env: { EVIL: "x\n      args: [injected]" },
    });
    const t = wf.tasks[0]!;
    if (t.type !== "shell") throw new Error("shell expected");
    expect(t.config.env).toEqual({ A: "x\n      args: [injected]" });
    expect(t.config.args).toEqual([]);
  });

  test("ssh defaults: port 22, ~/.ssh/id_rsa under the home directory, 30 s connect timeout", () => {
    const wf = parseWorkflow("name: w\ntasks:\n  - name: a\n    type: ssh\n    config: {host: pi.local, user: pi, command: uptime}\n", "wf.yaml", opts);
    expect(wf.tasks[0]!.config).toEqual({ host: "pi.local", port: 22, user: "pi", command: "uptime", keyPath: "/home/pi/.ssh/id_rsa", timeout: 30 });
  });

  test("http: method in any case; credential headers and ${VAR} values in headers are secrets", () => {
    const wf = parseWorkflow(
      `name: w
tasks:
  - name: a
    type: http
    config:
      url: "https://\${HOST}/api"
      method: pOsT
      headers:
        Authorization: "Bearer \${TOKEN}"
        X-Trace: "plain"
        X-Custom: "id-\${HOST}"
      body: {name: x}
`,
      "wf.yaml",
      opts,
    );
    const t = wf.tasks[0]!;
    if (t.type !== "http") throw new Error("http expected");
    expect(t.config.method).toBe("POST");
    expect(t.config.url).toBe("https://example.org/api");
    expect(t.config.timeout).toBe(30);
    expect(t.secrets.sort()).toEqual(["Bearer s3cret-token", "example.org", "s3cret-token"].sort());
  });
});

describe("files", () => {
  const sb = sandbox("");
  afterAll(() => sb.cleanup());
  const load = (path: string) => loadWorkflow(path, opts);

  test("a missing file is an IO error (exit 5)", () => {
    expect(() => load(`${sb.dir}/nope.yaml`)).toThrow(new IoError(`${sb.dir}/nope.yaml: no such file`));
  });
  test("a directory is an IO error (exit 5)", () => {
    mkdirSync(`${sb.dir}/d.yaml`);
    expect(() => load(`${sb.dir}/d.yaml`)).toThrow(`${sb.dir}/d.yaml: is a directory, not a workflow file`);
  });
  test("a binary file is a validation error", () => {
    writeFileSync(`${sb.dir}/bin.yaml`, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
    expect(() => load(`${sb.dir}/bin.yaml`)).toThrow(`${sb.dir}/bin.yaml: not a text file (it contains binary data)`);
  });
  test("a file over 1 MiB is refused before parsing", () => {
    writeFileSync(`${sb.dir}/big.yaml`, `name: w\n# ${"x".repeat(1024 * 1024)}\n`);
    expect(() => load(`${sb.dir}/big.yaml`)).toThrow(`${sb.dir}/big.yaml: file is 1048587 bytes; a workflow file may be at most 1048576 bytes (1 MiB)`);
  });
  test("more than 1000 tasks is refused", () => {
    const tasks = Array.from({ length: 1001 }, (_, i) => `  - {name: t${i}, type: shell, config: {command: /bin/true}}`).join("\n");
    writeFileSync(`${sb.dir}/many.yaml`, `name: w\ntasks:\n${tasks}\n`);
    expect(() => load(`${sb.dir}/many.yaml`)).toThrow(`${sb.dir}/many.yaml:3:3: tasks: 1001 tasks; a workflow may have at most 1000`);
  });
  test("1000 tasks in a layered DAG load", () => {
    const tasks = Array.from({ length: 1000 }, (_, i) => {
      const level = Math.floor(i / 100);
      const deps = level ? `, depends_on: [t${i - 100}, t${(level - 1) * 100 + ((i + 1) % 100)}]` : "";
      return `  - {name: t${i}, type: shell, config: {command: /bin/true}${deps}}`;
    });
    writeFileSync(`${sb.dir}/layered.yaml`, `name: w\ntasks:\n${tasks.join("\n")}\n`);
    expect(load(`${sb.dir}/layered.yaml`).tasks.length).toBe(1000);
  });
});

describe("secrets are the workflow's, and messages are safe to print", () => {
  test("every task gets the whole workflow's secret set, Basic forms included", () => {
    const wf = parseWorkflow(
      `name: w
tasks:
  - name: printer
    type: shell
    config: {command: /bin/echo}
  - name: api
    type: http
    config:
      url: "https://bob:p%40ss-word@example.org/"
      method: get
      headers: {X-Key: "\${TOKEN}", Proxy-Authorization: "Basic ${Buffer.from("alice:open-sesame").toString("base64")}"}
`,
      "wf.yaml",
      opts,
    );
    const printer = wf.tasks[0]!.secrets;
    expect(wf.tasks[1]!.secrets).toBe(printer);
    expect(wf.secrets).toBe(printer);
    for (const s of [
      "s3cret-token",
      "p%40ss-word",
      "p@ss-word",
      Buffer.from("bob:p@ss-word").toString("base64"),
      Buffer.from("alice:open-sesame").toString("base64"),
      "alice:open-sesame",
      "open-sesame",
    ]) {
      expect(printer).toContain(s);
    }
    // Longest first, so a secret that contains another is masked whole.
    expect(printer).toEqual([...printer].sort((a, b) => b.length - a.length));
  });

  test("a dependency listed three times is one problem with its count", () => {
    expect(problems(`name: w\ntasks:\n${shell("a")}${shell("b", "    depends_on: [a, a, a]\n")}`)).toEqual(["wf.yaml:11:21: tasks[1].depends_on[1]: 'a' is listed 3 times"]);
  });

  test("a long cycle is shown by its ends and its length", () => {
    const n = 30;
    const tasks = Array.from({ length: n }, (_, i) => shell(`t${i}`, `    depends_on: [t${(i + 1) % n}]\n`)).join("");
    expect(problems(`name: w\ntasks:\n${tasks}`)).toEqual([
      "wf.yaml:7:17: tasks[0].depends_on: dependency cycle: t0 -> t1 -> t2 -> t3 -> t4 -> t5 -> t6 -> t7 -> … -> t29 -> t0 (30 tasks)",
    ]);
  });

  test("a long unknown key is cut, with its length", () => {
    const key = "k".repeat(300);
    expect(problems(`name: w\n${key}: 1\ntasks:\n${shell("a")}`)).toEqual([`wf.yaml:2:1: ${"k".repeat(80)}… (300 characters): unknown key`]);
  });

  test("a ${VAR} value in a URL is masked in messages", () => {
    expect(problems(`name: w\ntasks:\n  - name: a\n    type: http\n    config: {url: "https://\${HOST}:99999/", method: get}\n`)).toEqual([
      "wf.yaml:5:19: tasks[0].config.url: 'https://***:99999/' is not a valid URL",
    ]);
  });
});

describe("command: one program, not a command line", () => {
  const sb = sandbox("");
  afterAll(() => sb.cleanup());
  const task = (config: string) => `name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n${config}`;
  const withPath = { ...opts, env: { ...opts.env, PATH: "/usr/bin:/bin" } };

  test("a whole command line is an error, with the args and /bin/sh -c forms", () => {
    expect(problems(task(`      command: echo hello world\n`), withPath)).toEqual([
      `wf.yaml:6:16: tasks[0].config.command: 'echo hello world' is a whole command line, but command is one program, started without a shell: write command: echo with args: ["hello", "world"], or command: /bin/sh with args: ["-c", "echo hello world"]`,
    ]);
  });

  test("shell syntax gets only the /bin/sh -c form; given args are kept in the args form", () => {
    expect(problems(task(`      command: "ls /tmp | wc -l"\n`), withPath)).toEqual([
      `wf.yaml:6:16: tasks[0].config.command: 'ls /tmp | wc -l' is a whole command line, but command is one program, started without a shell: write command: /bin/sh with args: ["-c", "ls /tmp | wc -l"]`,
    ]);
    expect(problems(task(`      command: python3 -u\n      args: [job.py]\n`), withPath)).toEqual([
      `wf.yaml:6:16: tasks[0].config.command: 'python3 -u' is a whole command line, but command is one program, started without a shell: write command: python3 with args: ["-u", "job.py"]`,
    ]);
  });

  test("a program whose name has a space is fine when it exists", () => {
    const dir = join(sb.dir, "My Tools");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "run job"), "#!/bin/sh\n", { mode: 0o755 });
    expect(findings(task(`      command: "${dir}/run job"\n`), withPath)).toEqual([]);
    // Found on the task's PATH too.
    expect(findings(task(`      command: run job\n      env: {PATH: "${dir}"}\n`), withPath)).toEqual([]);
  });

  test("a program not on this machine is a warning: not on PATH, missing, not executable, a directory", () => {
    writeFileSync(join(sb.dir, "plain.sh"), "echo hi\n", { mode: 0o644 });
    const yaml = `name: w
tasks:
  - name: a
    type: shell
    config: {command: no-such-program-xyz}
  - name: b
    type: shell
    config: {command: /opt/no/such/program}
  - name: c
    type: shell
    config: {command: ${sb.dir}/plain.sh}
  - name: d
    type: shell
    config: {command: ${sb.dir}}
  - name: e
    type: shell
    config: {command: ./plain.sh, workdir: ${sb.dir}}
  - name: f
    type: shell
    config: {command: echo}
`;
    const wf = parseWorkflow(yaml, "wf.yaml", withPath);
    expect(wf.warnings).toEqual([
      "wf.yaml:5:23: warning: tasks[0].config.command: 'no-such-program-xyz' is not found in PATH on this machine",
      "wf.yaml:8:23: warning: tasks[1].config.command: '/opt/no/such/program' does not exist on this machine",
      `wf.yaml:11:23: warning: tasks[2].config.command: '${sb.dir}/plain.sh' is not executable (chmod +x it, or run it with command: /bin/sh and args: ["${sb.dir}/plain.sh"])`,
      `wf.yaml:14:23: warning: tasks[3].config.command: '${sb.dir}' is a directory, not a program`,
      `wf.yaml:17:23: warning: tasks[4].config.command: './plain.sh' is not executable (chmod +x it, or run it with command: /bin/sh and args: ["./plain.sh"])`,
    ]);
    expect(wf.tasks.map((t) => t.name)).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  test("the task's own PATH is the one searched", () => {
    expect(findings(task(`      command: echo\n      env: {PATH: /nonexistent}\n`), withPath)).toEqual([
      "wf.yaml:6:16: warning: tasks[0].config.command: 'echo' is not found in PATH on this machine",
    ]);
  });

  test("a thousand tasks with the same missing program: one line with a count", () => {
    const tasks = Array.from({ length: 1000 }, (_, i) => `  - name: t${i}\n    type: shell\n    config: {command: no-such-program-xyz}\n`).join("");
    expect(parseWorkflow(`name: w\ntasks:\n${tasks}`, "wf.yaml", withPath).warnings).toEqual([
      "wf.yaml:5:23: warning: tasks[0].config.command: 'no-such-program-xyz' is not found in PATH on this machine (and 999 more like it)",
    ]);
  });

  test("warnings are shown with errors, in file order", () => {
    expect(findings(`name: w\ntasks:\n  - name: a\n    type: shell\n    config: {command: no-such-program-xyz}\n    retry: -1\n`, withPath)).toEqual([
      "wf.yaml:5:23: warning: tasks[0].config.command: 'no-such-program-xyz' is not found in PATH on this machine",
      "wf.yaml:6:12: tasks[0].retry: must be an integer from 0 to 100, got number -1",
    ]);
  });

  test("a secret in a warning is masked", () => {
    const yaml = `name: w
tasks:
  - name: a
    type: http
    config: {url: "http://x/", method: get, headers: {Authorization: "\${TOKEN}"}}
  - name: b
    type: shell
    config: {command: "/opt/\${TOKEN}/run"}
`;
    expect(parseWorkflow(yaml, "wf.yaml", withPath).warnings).toEqual(["wf.yaml:8:23: warning: tasks[1].config.command: '/opt/***/run' does not exist on this machine"]);
  });
});

describe("variables: unset, defaults and required", () => {
  const echo = (args: string) => `name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/echo\n      args: ${args}\n`;
  const argsOf = (wf: ReturnType<typeof parseWorkflow>) => (wf.tasks[0]!.config as { args: string[] }).args;

  test("an unset ${VAR} becomes \"\" with one warning per variable, naming it and where it is used first", () => {
    const wf = parseWorkflow(echo(`["\${NOT_SET}", "x\${NOT_SET}\${NOT_SET}", "\${ALSO_UNSET}", "\${EMPTY}", "\${NOT_SET}"]`), "wf.yaml", opts);
    expect(argsOf(wf)).toEqual(["", "x", "", "", ""]);
    expect(wf.warnings).toEqual([
      'wf.yaml:7:14: warning: tasks[0].config.args[0]: ${NOT_SET} is not set, so it becomes "" here (and in 2 more places); write ${NOT_SET:-} if that is meant',
      'wf.yaml:7:53: warning: tasks[0].config.args[2]: ${ALSO_UNSET} is not set, so it becomes "" here; write ${ALSO_UNSET:-} if that is meant',
    ]);
  });

  test("${VAR:-default} when unset or empty, ${VAR-default} when unset; defaults may use variables", () => {
    const wf = parseWorkflow(
      echo(`["\${NOT_SET:-d1}", "\${EMPTY:-d2}", "\${HOST:-d3}", "\${NOT_SET-d4}", "\${EMPTY-d5}", "\${NOT_SET:-\${HOST}/x}", "\${NOT_SET:-}", "\${NOT_SET:-a}b}", "\${NOT_SET:-$$1}"]`),
      "wf.yaml",
      opts,
    );
    expect(argsOf(wf)).toEqual(["d1", "d2", "example.org", "d4", "", "example.org/x", "", "ab}", "$1"]);
    expect(wf.warnings).toEqual([]);
  });

  test("${VAR:?message} is an error when unset or empty, with the message; ${VAR?message} only when unset", () => {
    expect(problems(echo(`["\${NOT_SET:?set it to the backup host}", "\${EMPTY:?}", "\${EMPTY?fine}", "\${HOST:?fine}"]`))).toEqual([
      "wf.yaml:7:14: tasks[0].config.args[0]: ${NOT_SET} is not set: set it to the backup host",
      "wf.yaml:7:55: tasks[0].config.args[1]: ${EMPTY} is empty, and this workflow needs it",
    ]);
  });

  test("a required variable's error stands alone: its empty value's other problems are not repeated", () => {
    const http = (n: number) => `  - name: t${n}\n    type: http\n    config:\n      url: "\${SERVER:?point it at the test server}/p${n}"\n      method: get\n`;
    expect(problems(`name: w\ntasks:\n${http(1)}${http(2)}`)).toEqual([
      "wf.yaml:6:12: tasks[0].config.url: ${SERVER} is not set: point it at the test server (and in 1 more place)",
    ]);
  });

  test("a default put into a header is a secret like the variable's value", () => {
    const wf = parseWorkflow(
      `name: w\ntasks:\n  - name: a\n    type: http\n    config: {url: "http://x/", method: get, headers: {X-Custom: "\${NOT_SET:-default-secret-1}"}}\n`,
      "wf.yaml",
      opts,
    );
    expect(wf.secrets).toContain("default-secret-1");
  });

  test("anything else with $ is literal", () => {
    const wf = parseWorkflow(echo(`["\${HOST:+x}", "\${1}", "\${HOST", "$", "\${NOT_SET:-unclosed"]`), "wf.yaml", opts);
    expect(argsOf(wf)).toEqual(["${HOST:+x}", "${1}", "${HOST", "$", "${NOT_SET:-unclosed"]);
    expect(wf.warnings).toEqual([]);
  });
});

describe("YAML merge keys and x- keys", () => {
  const shared = `name: w
x-defaults: &defaults
  type: shell
  retry: 2
  config: &config
    command: /bin/echo
    args: ["\${HOST}"]
tasks:
  - <<: *defaults
    name: a
  - <<: *defaults
    name: b
    retry: 0
  - &third
    name: c
    type: shell
    config:
      <<: *config
      args: [own]
  - <<: *third
    name: d
`;

  test("<<: *defaults merges a mapping; keys written beside it win; x- keys are ignored", () => {
    const wf = parseWorkflow(shared, "wf.yaml", opts);
    expect(wf.tasks.map((t) => [t.name, t.type, t.retry, (t.config as { command: string; args: string[] }).command, (t.config as { args: string[] }).args])).toEqual([
      ["a", "shell", 2, "/bin/echo", ["example.org"]],
      ["b", "shell", 0, "/bin/echo", ["example.org"]],
      ["c", "shell", 3, "/bin/echo", ["own"]],
      ["d", "shell", 3, "/bin/echo", ["own"]],
    ]);
    expect(wf.warnings).toEqual([]);
  });

  test("a problem in a merged value points at the anchored text; a task's own keys at the task", () => {
    const bad = shared.replace("  retry: 2\n", "  retry: 2\n  timout: 5\n").replace("    command: /bin/echo\n", "    command: echo hi\n").replace("    retry: 0\n", "    retry: -1\n");
    expect(problems(bad, { ...opts, env: { ...opts.env, PATH: "/usr/bin:/bin" } })).toEqual([
      "wf.yaml:5:3: tasks[0].timout: unknown key (did you mean 'timeout'?)",
      "wf.yaml:5:3: tasks[1].timout: unknown key (did you mean 'timeout'?)",
      // The args merged with it are kept in the suggestion.
      `wf.yaml:7:14: tasks[0].config.command: 'echo hi' is a whole command line, but command is one program, started without a shell: write command: echo with args: ["hi", "example.org"]`,
      `wf.yaml:7:14: tasks[1].config.command: 'echo hi' is a whole command line, but command is one program, started without a shell: write command: echo with args: ["hi", "example.org"]`,
      `wf.yaml:7:14: tasks[2].config.command: 'echo hi' is a whole command line, but command is one program, started without a shell: write command: echo with args: ["hi", "own"]`,
      `wf.yaml:7:14: tasks[3].config.command: 'echo hi' is a whole command line, but command is one program, started without a shell: write command: echo with args: ["hi", "own"]`,
      "wf.yaml:14:12: tasks[1].retry: must be an integer from 0 to 100, got number -1",
    ]);
  });

  test("1000 tasks may each merge the same defaults", () => {
    const tasks = Array.from({ length: 1000 }, (_, i) => `  - <<: *d\n    name: t${i}\n`).join("");
    const wf = parseWorkflow(`name: w\nx-d: &d\n  type: shell\n  config: {command: /bin/true, args: [a, b, c]}\ntasks:\n${tasks}`, "wf.yaml", opts);
    expect(wf.tasks).toHaveLength(1000);
    expect(wf.tasks[999]!.config).toEqual({ command: "/bin/true", args: ["a", "b", "c"], workdir: undefined, env: {} });
  });

  test("aliases that would expand to millions of values are refused, as is a mapping merged into itself", () => {
    let laughs = "name: w\nx-0: &l0 [a, a, a, a, a, a, a, a, a, a]\n";
    for (let i = 1; i < 8; i++) laughs += `x-${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(", ")}]\n`;
    expect(problems(`${laughs}tasks:\n  - name: a\n    type: shell\n    config: {command: /bin/echo, args: *l7}\n`)).toEqual([
      "wf.yaml: YAML aliases expand this file to more than 1000000 values; a workflow needs far fewer",
    ]);
    expect(problems(`name: w\nx-a: &a {b: 1, <<: *a}\ntasks:\n${shell("a")}`)).toEqual(["wf.yaml:2:20: a merge key (<<) cannot merge a mapping into itself"]);
  });

  test("a top-level key that does not start with x- is still unknown", () => {
    expect(problems(`name: w\ndefaults: &d {type: shell}\ntasks:\n  - <<: *d\n    name: a\n    config: {command: /bin/true}\n`)).toEqual(["wf.yaml:2:1: defaults: unknown key"]);
  });

  test("variables in an x- block are expanded where they are merged, and an unused block is not expanded", () => {
    const wf = parseWorkflow(
      `name: w\nx-unused: {args: ["\${NEVER_SET:?not needed}"]}\nx-env: &env {A: "\${NOT_SET}"}\ntasks:\n  - name: a\n    type: shell\n    config: {command: /bin/true, env: {<<: *env}}\n`,
      "wf.yaml",
      opts,
    );
    expect(wf.warnings).toEqual(['wf.yaml:3:17: warning: tasks[0].config.env.A: ${NOT_SET} is not set, so it becomes "" here; write ${NOT_SET:-} if that is meant']);
  });
});
