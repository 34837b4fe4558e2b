// Settings precedence: flag > env > config file > defaults; bad config files name file and key.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { DEFAULTS, describeDbPath, resolveSettings } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";
import { cli, sandbox } from "./helpers.ts";

const sb = sandbox("");
afterAll(() => sb.cleanup());
const cwd = `${sb.dir}/cwd`;
const home = `${sb.dir}/home`;
mkdirSync(cwd);
mkdirSync(`${home}/.config/picoflow`, { recursive: true });

const resolve = (flags = {}, env = {}) => resolveSettings({ flags, env, cwd, home });

describe("resolveSettings", () => {
  test("defaults when nothing is configured", () => {
    expect(resolve()).toEqual(DEFAULTS);
  });

  test("the user config file is found, and ./picoflow.toml wins over it", () => {
    writeFileSync(`${home}/.config/picoflow/config.toml`, `db_path = "/from/home.db"\nlog_level = "warn"\n`);
    expect(resolve()).toMatchObject({ dbPath: "/from/home.db", logLevel: "warn", configFile: `${home}/.config/picoflow/config.toml` });
    writeFileSync(`${cwd}/picoflow.toml`, `db_path = "/from/cwd.db"\n[retry]\nmax_backoff_seconds = 5\n[execution]\nmax_parallel = 2\n`);
    const s = resolve();
    expect(s).toMatchObject({ dbPath: "/from/cwd.db", logLevel: "info", configFile: `${cwd}/picoflow.toml` });
    expect(s.retry).toEqual({ defaultCount: 3, maxBackoffSeconds: 5, backoffMultiplier: 2 });
    expect(s.execution.maxParallel).toBe(2);
  });

  test("env beats the file, flags beat env", () => {
    writeFileSync(`${cwd}/picoflow.toml`, `db_path = "/from/file.db"\nlog_format = "json"\n[metrics]\nport = 9100\n`);
    const env = { PICOFLOW_DB_PATH: "/from/env.db", PICOFLOW_LOG_FORMAT: "pretty", PICOFLOW_METRICS_PORT: "9200", PICOFLOW_LOG_LEVEL: "debug" };
    expect(resolve({}, env)).toMatchObject({ dbPath: "/from/env.db", logFormat: "pretty", logLevel: "debug", metrics: { port: 9200 } });
    expect(resolve({ dbPath: "/from/flag.db", logLevel: "error", logFormat: "json" }, env)).toMatchObject({
      dbPath: "/from/flag.db",
      logLevel: "error",
      logFormat: "json",
    });
  });

  test("--config / PICOFLOW_CONFIG choose a file explicitly", () => {
    writeFileSync(`${sb.dir}/other.toml`, `db_path = "/explicit.db"\n`);
    expect(resolve({ config: `${sb.dir}/other.toml` }).dbPath).toBe("/explicit.db");
    expect(resolve({}, { PICOFLOW_CONFIG: `${sb.dir}/other.toml` }).dbPath).toBe("/explicit.db");
    expect(() => resolve({ config: `${sb.dir}/missing.toml` })).toThrow(`${sb.dir}/missing.toml: config file not found`);
  });

  // Each problem reads like a workflow error: FILE:LINE: key: message, in PicoFlow's words
  // (never zod's "Invalid input: expected number, received string"), with "did you mean".
  const bad: [string, string, string][] = [
    ["an unknown key", `[retry]\nmax_backof = 3\n`, "2: retry.max_backof: unknown key (did you mean 'max_backoff_seconds'?)"],
    ["an unknown section", `# retries\n[retries]\ncount = 3\n`, "2: retries: unknown section (did you mean [retry]?)"],
    ["a wrong type", `[metrics]\nport = "9090"\n`, `2: metrics.port: must be a whole number from 0 to 65535 (got "9090")`],
    ["an out-of-range value", `[execution]\n\nmax_parallel = 0\n`, "3: execution.max_parallel: must be a whole number from 1 to 256 (got 0)"],
    ["a bad log level", `db_path = "x.db"\nlog_level = "loud"\n`, `2: log_level: must be one of error, warn, info, debug, trace (got "loud")`],
    ["a value where a section belongs", `metrics = 9090\n`, "1: metrics: must be a section: a [name] line, then its keys (got 9090)"],
    ["a key in an inline table", `metrics = { enabled = "yes" }\n`, `1: metrics.enabled: must be true or false (got "yes")`],
    ["broken TOML", `db_path = "x.db"\n[metrics]\nport = \n`, "3: metrics.port: invalid TOML: Missing value after '='"],
    ["an unclosed table header", `db_path = "x.db"\n[metrics\n`, "2: invalid TOML: Expected ']' to close a table header but found the end of the line"],
    ["an unclosed array after a closed multi-line one", `a = [\n  1,\n]\nb = 2\nc = [1,\n`, "5: c: invalid TOML: "],
  ];
  for (const [name, text, message] of bad) {
    test(`${name} in the config file is a config error: FILE:LINE: key: message`, () => {
      writeFileSync(`${cwd}/picoflow.toml`, text);
      let err: unknown;
      try {
        resolve();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).exitCode).toBe(4);
      expect((err as Error).message).toStartWith(`${cwd}/picoflow.toml:${message}`);
    });
  }

  test("every problem of the file at once, one line each, in file order", () => {
    writeFileSync(`${cwd}/picoflow.toml`, `log_levl = "info"\n[metrics]\nport = -1\nbind_adress = "0.0.0.0"\n[deamon]\nx = 1\n`);
    const f = `${cwd}/picoflow.toml`;
    expect(() => resolve()).toThrow(
      [
        `${f}:1: log_levl: unknown key (did you mean 'log_level'?)`,
        `${f}:3: metrics.port: must be a whole number from 0 to 65535 (got -1)`,
        `${f}:4: metrics.bind_adress: unknown key (did you mean 'bind_address'?)`,
        `${f}:5: deamon: unknown section (did you mean [daemon]?)`,
      ].join("\n"),
    );
  });

  test("the settings say where the database path came from", () => {
    writeFileSync(`${cwd}/picoflow.toml`, "");
    expect(describeDbPath(resolve())).toBe("picoflow.db (the default; set --db-path, PICOFLOW_DB_PATH or db_path in a config file)");
    writeFileSync(`${cwd}/picoflow.toml`, `db_path = "/from/file.db"\n`);
    expect(describeDbPath(resolve())).toBe(`/from/file.db (db_path in ${cwd}/picoflow.toml)`);
    expect(describeDbPath(resolve({}, { PICOFLOW_DB_PATH: "/from/env.db" }))).toBe("/from/env.db (from PICOFLOW_DB_PATH)");
    expect(describeDbPath(resolve({ dbPath: "007" }, { PICOFLOW_DB_PATH: "/from/env.db" }))).toBe("007 (from --db-path)");
  });

  test("log_level and log_format in the file take any case, as env and flags do", () => {
    writeFileSync(`${cwd}/picoflow.toml`, `log_level = "WARN"\nlog_format = "Pretty"\n`);
    expect(resolve()).toMatchObject({ logLevel: "warn", logFormat: "pretty" });
  });

  test("bad values in env or flags are config errors", () => {
    writeFileSync(`${cwd}/picoflow.toml`, "");
    expect(() => resolve({}, { PICOFLOW_LOG_LEVEL: "verbose" })).toThrow("PICOFLOW_LOG_LEVEL: 'verbose' is not one of error, warn, info, debug, trace");
    expect(() => resolve({ logFormat: "xml" })).toThrow("--log-format: 'xml' is not one of json, pretty");
    expect(() => resolve({}, { PICOFLOW_METRICS_PORT: "http" })).toThrow("PICOFLOW_METRICS_PORT: 'http' is not a port number (0-65535)");
  });
});

describe("db_path must be a usable path (the real CLI)", () => {
  test("invalid UTF-8 in the config file is a config error (exit 4) naming file and line", async () => {
    const s = sandbox("");
    try {
      // Bytes 0xff 0xfe are not UTF-8: decoded loosely they would become U+FFFD in the path.
      writeFileSync(`${s.dir}/picoflow.toml`, Buffer.concat([Buffer.from('# history\ndb_path = "runs-'), Buffer.from([0xff, 0xfe]), Buffer.from('.db"\n')]));
      const r = await cli(s, ["history"]);
      expect(r.code).toBe(4);
      expect(r.stderr).toBe(`picoflow: ${s.dir}/picoflow.toml:2: not valid UTF-8 (byte 27); a config file must be UTF-8 text\n`);
      // No database was created under a mangled name.
      expect(readdirSync(s.dir).filter((f) => f.includes("runs"))).toEqual([]);
    } finally {
      s.cleanup();
    }
  });

  test("a NUL byte in db_path is a config error (exit 4), shown as \\0", async () => {
    const s = sandbox("");
    try {
      writeFileSync(`${s.dir}/picoflow.toml`, 'db_path = "runs\\u0000.db"\n');
      const r = await cli(s, ["history"]);
      expect(r.code).toBe(4);
      expect(r.stderr).toBe(`picoflow: ${s.dir}/picoflow.toml:1: db_path: must not contain a NUL byte (\\0) (got "runs\\u0000.db")\n`);
    } finally {
      s.cleanup();
    }
  });
});
