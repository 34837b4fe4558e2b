// The CLI surface: flags, help, version, and one clear line with the right exit code for bad input.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import pkg from "../package.json" with { type: "json" };
import { cli, sandbox } from "./helpers.ts";

const sb = sandbox();
afterAll(() => sb.cleanup());

const good = sb.workflow(
  `name: good
tasks:
  - {name: a, type: shell, config: {command: /bin/true}}
  - {name: b, type: shell, config: {command: /bin/true}, depends_on: [a]}
  - {name: c, type: shell, config: {command: /bin/true}, depends_on: [a]}
  - {name: d, type: shell, config: {command: /bin/true}, depends_on: [b, c]}
`,
  "good.yaml",
);

/** stderr without the JSON log lines: what a user reads as the error. */
const errorLines = (stderr: string) => stderr.split("\n").filter((l) => l && !l.startsWith("{"));

describe("global flags", () => {
  test("--version and -V print the package version", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await cli(sb, [flag]);
      expect(r.code).toBe(0);
      // The build part ("source", or a binary's commit and date) is checked in version.test.ts.
      expect(r.stdout).toStartWith(`picoflow ${pkg.version} (`);
      expect(r.stdout).toEndWith(`) ${process.platform}-${process.arch}, Bun ${Bun.version}\n`);
    }
  });

  test("--help lists the commands and global flags", async () => {
    const r = await cli(sb, ["--help"]);
    expect(r.code).toBe(0);
    for (const word of ["run <workflow_file>", "validate <workflow_file>", "--log-level", "--log-format", "--db-path"]) expect(r.stdout).toContain(word);
  });

  test("an unknown command, an unknown flag and a missing argument are exit 4", async () => {
    const cases: [string[], string][] = [
      [["frobnicate"], "picoflow: unknown command 'frobnicate' (see 'picoflow --help')"],
      [["statsu"], "picoflow: unknown command 'statsu' (did you mean 'stats'?)"],
      [["run", good, "--bogus"], "picoflow: unknown option '--bogus' for 'run' (see 'picoflow run --help')"],
      // As typed, not as cac's camelCase ("--dryRun"), with a near miss when there is one.
      [["run", good, "--dry-rnu"], "picoflow: unknown option '--dry-rnu' for 'run' (did you mean '--dry-run'?)"],
      [["logs", "x", "--folow"], "picoflow: unknown option '--folow' for 'logs' (did you mean '--follow'?)"],
      [["history", "--db-pth=x.db"], "picoflow: unknown option '--db-pth' for 'history' (did you mean '--db-path'?)"],
      [["status", "-x"], "picoflow: unknown option '-x' for 'status' (see 'picoflow status --help')"],
      [["workflow", "lsit"], "picoflow: unknown workflow action 'lsit' (did you mean 'list'?)"],
      [["run"], "picoflow: 'run' needs <workflow_file> (see 'picoflow run --help')"],
      [["status", "a", "b"], "picoflow: unexpected argument 'b' for 'status' (see 'picoflow status --help')"],
      [["history", "--limit"], "picoflow: --limit: a value is required"],
      [["--log-level", "loud", "validate", good], "picoflow: --log-level: 'loud' is not one of error, warn, info, debug, trace"],
      // The option took the command as its value: nothing is left to run.
      [["--db-path", "status"], "picoflow: no command given (see 'picoflow --help')"],
    ];
    for (const [args, message] of cases) {
      const r = await cli(sb, args);
      expect({ args, code: r.code, err: errorLines(r.stderr) }).toEqual({ args, code: 4, err: [message] });
    }
  });

  test("--db-path, PICOFLOW_DB_PATH and the config file choose the database, in that order", async () => {
    const fromFile = `${sb.dir}/file.db`;
    sb.file("picoflow.toml", `db_path = "${fromFile}"\n[retry]\nmax_backoff_seconds = 0\n`);
    try {
      expect((await cli(sb, ["run", good])).code).toBe(0);
      expect(existsSync(fromFile)).toBe(true);
      expect((await cli(sb, ["run", good], { PICOFLOW_DB_PATH: `${sb.dir}/env.db` })).code).toBe(0);
      expect(existsSync(`${sb.dir}/env.db`)).toBe(true);
      expect((await cli(sb, ["--db-path", `${sb.dir}/flag.db`, "run", good], { PICOFLOW_DB_PATH: `${sb.dir}/env.db` })).code).toBe(0);
      expect(existsSync(`${sb.dir}/flag.db`)).toBe(true);
    } finally {
      sb.file("picoflow.toml", "[retry]\nmax_backoff_seconds = 0\n");
    }
  });

  test("logs go to stderr as JSON lines, at the chosen level", async () => {
    const r = await cli(sb, ["--log-level", "debug", "run", good]);
    const logs = r.stderr.trim().split("\n").map((l) => JSON.parse(l));
    expect(logs.map((l) => l.msg)).toContain("task started");
    expect(logs.every((l) => typeof l.ts === "string" && typeof l.level === "string")).toBe(true);
    const quiet = await cli(sb, ["--log-level", "error", "run", good]);
    expect(quiet.stderr).toBe("");
    const pretty = await cli(sb, ["--log-format", "pretty", "run", good]);
    expect(pretty.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  run started workflow=good/m);
  });

  test("an invalid config file is exit 4, naming the file and the key", async () => {
    sb.file("picoflow.toml", "[retry]\nmultiplier = 2\n");
    try {
      const r = await cli(sb, ["validate", good]);
      expect(r.code).toBe(4);
      expect(errorLines(r.stderr)).toEqual([`picoflow: ${sb.dir}/picoflow.toml:2: retry.multiplier: unknown key (did you mean 'backoff_multiplier'?)`]);
    } finally {
      sb.file("picoflow.toml", "[retry]\nmax_backoff_seconds = 0\n");
    }
  });
});

describe("paths and names stay text; an empty one is exit 4", () => {
  test("--db-path 007 is the file 007, --config 0123 the file 0123", async () => {
    const s = sandbox();
    try {
      const wf = s.workflow("name: w\ntasks:\n  - {name: a, type: shell, config: {command: /bin/true}}\n");
      expect((await cli(s, ["--db-path", "007", "run", wf])).code).toBe(0);
      expect(existsSync(`${s.dir}/007`)).toBe(true);
      expect(existsSync(`${s.dir}/7`)).toBe(false);
      // The same with --flag=value, and a config file named like a number.
      s.file("0123", `db_path = "0042"\n[retry]\nmax_backoff_seconds = 0\n`);
      expect((await cli(s, ["--config=0123", "run", wf])).code).toBe(0);
      expect(existsSync(`${s.dir}/0042`)).toBe(true);
      // A workflow name that looks like a number, after a flag: still the name typed.
      const r = await cli(s, ["--db-path", "007", "logs", "--follow", "0123"]);
      expect({ code: r.code, err: errorLines(r.stderr) }).toEqual({ code: 5, err: ["picoflow: no workflow named '0123' in 007"] });
      const st = await cli(s, ["--db-path", "007", "status", "-w", "0.50", "--execution-id", "00"]);
      expect(errorLines(st.stderr)).toEqual(["picoflow: no execution with id '00' in 007"]);
    } finally {
      s.cleanup();
    }
  });

  test("an empty value is one line naming the option, and nothing is created", async () => {
    const s = sandbox();
    try {
      const wf = s.workflow("name: w\ntasks:\n  - {name: a, type: shell, config: {command: /bin/true}}\n");
      const cases: [string[], string][] = [
        [["--db-path", "", "run", wf], "--db-path"],
        [["--db-path=", "status"], "--db-path"],
        [["--config", "", "status"], "--config"],
        [["status", "--workflow", ""], "--workflow"],
        [["history", "-w", ""], "--workflow"],
        [["logs", "w", "--task", ""], "--task"],
        [["status", "--execution-id", ""], "--execution-id"],
        [["stats", "-o", ""], "--format"],
        [["daemon", "status", "--pid-file", ""], "--pid-file"],
        [["run", wf, "--metrics-port", ""], "--metrics-port"],
      ];
      for (const [args, option] of cases) {
        const r = await cli(s, args);
        expect({ args, code: r.code, err: errorLines(r.stderr) }).toEqual({ args, code: 4, err: [`picoflow: ${option}: must not be empty`] });
      }
      expect((await cli(s, ["run", ""])).stderr).toBe("picoflow: an empty argument ('') for 'run' (see 'picoflow run --help')\n");
      // No database under any name ("0" was one), nothing else.
      expect(readdirSync(s.dir).filter((f) => !f.startsWith(".")).sort()).toEqual(["picoflow.toml", "wf1.yaml"]);
    } finally {
      s.cleanup();
    }
  });
});

describe("short flags", () => {
  test("-w, -o, -n: the same answers as --workflow, --format, --limit", async () => {
    const s = sandbox();
    try {
      const wf = s.workflow("name: w\ntasks:\n  - {name: a, type: shell, config: {command: /bin/true}}\n");
      const other = s.workflow("name: other\ntasks:\n  - {name: a, type: shell, config: {command: /bin/true}}\n");
      for (const f of [wf, wf, other]) expect((await cli(s, ["run", f])).code).toBe(0);
      const pairs: [string[], string[]][] = [
        [["history", "-n", "2", "-w", "w", "-o", "json"], ["history", "--limit", "2", "--workflow", "w", "--format", "json"]],
        [["status", "-w", "w", "-o", "json"], ["status", "--workflow", "w", "--format", "json"]],
        [["stats", "-w", "other", "-o", "json"], ["stats", "--workflow", "other", "--format", "json"]],
        [["workflow", "list", "-o", "json"], ["workflow", "list", "--format", "json"]],
      ];
      for (const [short, long] of pairs) {
        const [a, b] = [await cli(s, short), await cli(s, long)];
        expect(a.code).toBe(0);
        expect(a.stdout).toBe(b.stdout);
      }
      const two = JSON.parse((await cli(s, ["history", "-n", "2", "-o", "json"])).stdout);
      expect(two.map((r: { workflow_name: string }) => r.workflow_name)).toEqual(["other", "w"]);
      for (const [command, flags] of [["status", ["-w", "-o"]], ["history", ["-w", "-n", "-o"]], ["stats", ["-w", "-o"]], ["logs", ["-w", "-f"]], ["workflow", ["-o"]], ["daemon", ["-o"]]] as const) {
        const help = (await cli(s, [command, "--help"])).stdout;
        for (const f of flags) expect(help).toMatch(new RegExp(`^  ${f}, --`, "m"));
      }
    } finally {
      s.cleanup();
    }
  });
});

describe("messages about the database path say where it came from", () => {
  test("the default, --db-path, PICOFLOW_DB_PATH, the config file", async () => {
    const s = sandbox("");
    try {
      mkdirSync(`${s.dir}/dir.db`);
      const cases: [string[], Record<string, string>, string][] = [
        [["--db-path", "/proc/x.db", "run", good], {}, "/proc/x.db (from --db-path): cannot create database: directory /proc does not exist or is not writable"],
        [["run", good], { PICOFLOW_DB_PATH: "dir.db" }, "dir.db (from PICOFLOW_DB_PATH): is a directory, not a database file"],
      ];
      for (const [args, env, message] of cases) {
        const r = await cli(s, args, env);
        expect({ args, code: r.code, err: errorLines(r.stderr) }).toEqual({ args, code: 6, err: [`picoflow: ${message}`] });
      }
      s.file("picoflow.toml", `db_path = "dir.db"\n`);
      let r = await cli(s, ["run", good]);
      expect(errorLines(r.stderr)).toEqual([`picoflow: dir.db (db_path in ${s.dir}/picoflow.toml): is a directory, not a database file`]);
      s.file("picoflow.toml", "");
      mkdirSync(`${s.dir}/picoflow.db`);
      r = await cli(s, ["history"]);
      expect(errorLines(r.stderr)).toEqual([
        "picoflow: picoflow.db (the default; set --db-path, PICOFLOW_DB_PATH or db_path in a config file): is a directory, not a database file",
      ]);
    } finally {
      s.cleanup();
    }
  });
});

describe("errno codes are words", () => {
  test("a workflow file, a PID file and a database under a file that is not a directory", async () => {
    const cases: [string[], number, string][] = [
      [["run", "/etc/passwd/x.yaml"], 5, "/etc/passwd/x.yaml: cannot read: a part of the path is not a directory"],
      [["daemon", "status", "--pid-file", "/etc/passwd/x.pid"], 5, "/etc/passwd/x.pid: cannot read PID file: a part of the path is not a directory"],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(sb, args);
      expect({ args, code: r.code, err: errorLines(r.stderr) }).toEqual({ args, code, err: [`picoflow: ${message}`] });
      expect(r.stderr).not.toMatch(/\bE[A-Z]{3,}\b/);
    }
  });
});

describe("validate", () => {
  test("a valid workflow: name, task count and levels, exit 0", async () => {
    const r = await cli(sb, ["--db-path", `${sb.dir}/validate.db`, "validate", good]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      "Workflow 'good' is valid\nTasks:        4 (4 shell)\nMax parallel: 4\nLevels:       3 (a task starts when everything it depends on has succeeded)\n" +
        "    1: a\n    2: b, c\n    3: d\n",
    );
    expect(existsSync(`${sb.dir}/validate.db`)).toBe(false);
  });

  test("an invalid workflow: every problem as FILE:LINE:COL, exit 2", async () => {
    const bad = sb.workflow("name: x y\ntasks:\n  - {name: a, type: shell, config: {command: /bin/true}, depends_on: [a]}\n", "bad.yaml");
    const r = await cli(sb, ["validate", bad]);
    expect(r.code).toBe(2);
    expect(errorLines(r.stderr)).toEqual([
      `${bad}:1:7: name: must be 1-64 characters of letters, digits, '-' or '_'`,
      `${bad}:3:71: tasks[0].depends_on[0]: task 'a' depends on itself`,
    ]);
  });
});

describe("bad input to run: one line, the right exit code, no database written", () => {
  mkdirSync(`${sb.dir}/a-directory`);
  writeFileSync(`${sb.dir}/binary.yaml`, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0x00]));
  const cases: [string, string | (() => string), number, string][] = [
    ["a missing file", `${sb.dir}/missing.yaml`, 5, `picoflow: ${sb.dir}/missing.yaml: no such file`],
    ["a directory", `${sb.dir}/a-directory`, 5, `picoflow: ${sb.dir}/a-directory: is a directory, not a workflow file`],
    ["a binary file", `${sb.dir}/binary.yaml`, 2, `${sb.dir}/binary.yaml: not a text file (it contains binary data)`],
    ["an empty file", () => sb.workflow("", "empty.yaml"), 2, `${sb.dir}/empty.yaml: file is empty; a workflow needs at least 'name' and 'tasks'`],
    ["invalid YAML", () => sb.workflow("name: [unclosed\n", "broken.yaml"), 2, `${sb.dir}/broken.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]`],
    ["a YAML list", () => sb.workflow("- name: a\n", "list.yaml"), 2, `${sb.dir}/list.yaml:1:1: the top level must be a mapping with 'name' and 'tasks', got a list`],
    ["a YAML scalar", () => sb.workflow("just text\n", "scalar.yaml"), 2, `${sb.dir}/scalar.yaml:1:1: the top level must be a mapping with 'name' and 'tasks', got a single value`],
    [
      "a negative number",
      () => sb.workflow("name: n\ntasks:\n  - {name: a, type: shell, retry: -1, config: {command: /bin/true}}\n", "negative.yaml"),
      2,
      `${sb.dir}/negative.yaml:3:35: tasks[0].retry: must be an integer from 0 to 100, got number -1`,
    ],
  ];
  for (const [name, file, code, message] of cases) {
    test(name, async () => {
      const path = typeof file === "function" ? file() : file;
      const db = `${sb.dir}/${name.replaceAll(" ", "-")}.db`;
      const r = await cli(sb, ["--db-path", db, "run", path]);
      expect({ code: r.code, err: errorLines(r.stderr), out: r.stdout }).toEqual({ code, err: [message], out: "" });
      expect(existsSync(db)).toBe(false);
    });
  }

  test("a stack trace appears only with debug logs", async () => {
    const r = await cli(sb, ["--log-level", "debug", "run", `${sb.dir}/missing.yaml`]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("at loadWorkflow");
    // log_level in the config file counts too; without debug, one line and no trace.
    const conf = sb.file("debug.toml", `log_level = "debug"\n`);
    const fromFile = await cli(sb, ["--config", conf, "run", `${sb.dir}/missing.yaml`]);
    expect(fromFile.code).toBe(5);
    expect(fromFile.stderr).toContain("at loadWorkflow");
    const quiet = await cli(sb, ["run", `${sb.dir}/missing.yaml`]);
    expect(quiet.stderr).toBe(`picoflow: ${sb.dir}/missing.yaml: no such file\n`);
  });
});

describe("database paths", () => {
  test("a database in a missing directory is exit 6", async () => {
    const r = await cli(sb, ["--db-path", `${sb.dir}/no/such/dir/p.db`, "run", good]);
    expect(r.code).toBe(6);
    expect(errorLines(r.stderr)).toEqual([`picoflow: ${sb.dir}/no/such/dir/p.db (from --db-path): cannot create database: directory ${sb.dir}/no/such/dir does not exist`]);
  });

  test("a database in a read-only directory is exit 6", async () => {
    // root may write anywhere in a chmod 555 directory; /sys is read-only even for root.
    let dir = "/sys";
    if (process.getuid?.() !== 0) {
      dir = `${sb.dir}/readonly`;
      mkdirSync(dir);
      chmodSync(dir, 0o555);
    }
    const r = await cli(sb, ["--db-path", `${dir}/p.db`, "run", good]);
    expect(r.code).toBe(6);
    expect(errorLines(r.stderr)).toEqual([`picoflow: ${dir}/p.db (from --db-path): cannot create database: directory ${dir} is not writable`]);
  });

  test("a file that is not a database is exit 6", async () => {
    const junk = sb.file("junk.db", "this is not sqlite ".repeat(500));
    const r = await cli(sb, ["--db-path", junk, "run", good]);
    expect(r.code).toBe(6);
    expect(errorLines(r.stderr)[0]).toStartWith(`picoflow: ${junk} (from --db-path): not a PicoFlow database, or the file is corrupt`);
  });
});
