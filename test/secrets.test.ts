// Secrets never leak (stored output, errors, logs, daemon status) and bad input is explained in
// one clear line: the real CLI, a real HTTP server that echoes headers, a real daemon, real files.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cli, FAST_CONFIG, rows, sandbox, spawnCli, waitFor, type Sandbox } from "./helpers.ts";

setDefaultTimeout(30_000);

let server: ReturnType<typeof Bun.serve>;
let base: string;
const sandboxes: Sandbox[] = [];
function sb(config?: string): Sandbox {
  const s = sandbox(config);
  sandboxes.push(s);
  return s;
}

beforeAll(() => {
  // Echoes every request header back as JSON, as many test endpoints do.
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => Response.json(Object.fromEntries(req.headers)) });
  base = `127.0.0.1:${server.port}`;
});
afterAll(() => {
  server?.stop(true);
  sandboxes.forEach((s) => s.cleanup());
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Every 8-character piece of each secret: half a token is a leak too. */
function assertNowhere(text: string | Buffer, secrets: string[], where: string) {
  for (const s of secrets) {
    for (let i = 0; i + 8 <= s.length; i++) {
      const piece = s.slice(i, i + 8);
      if (text.includes(piece)) throw new Error(`part of a secret (${piece}) found in ${where}`);
    }
  }
}

/** Every byte SQLite wrote: the database, and the WAL if left behind. */
function assertNotInDatabase(s: Sandbox, secrets: string[]) {
  for (const file of [s.db, `${s.db}-wal`, `${s.db}-journal`]) {
    if (existsSync(file)) assertNowhere(readFileSync(file), secrets, file);
  }
}

describe("masking covers the whole workflow", () => {
  const TOKEN = "tok-7f3a9c2e-only-in-a-header";
  const URL_PW = "pw-url-51d0b8e4";
  const BASIC_PW = "pw-basic-c0ffee77";
  // What fetch sends for http://bob:URL_PW@host, and what the header below holds.
  const URL_BASIC = b64(`bob:${URL_PW}`);
  const HEADER_BASIC = b64(`alice:${BASIC_PW}`);

  test("a value secret in one task is masked in every task's stored output, errors and logs", async () => {
    const s = sb();
    // `printer` uses no secret itself: it prints the values other tasks use in headers and
    // in a URL, and their Basic forms. The http tasks' echoed headers hold them too.
    const wf = s.workflow(`
name: leaky
config:
  retry_default: 0
tasks:
  - name: printer
    type: shell
    config:
      command: /bin/sh
      args: ["-c", "echo token=$API_TOKEN url=$URL_PW basic=$BASIC_PW; echo $URL_BASIC $HEADER_BASIC; echo $API_TOKEN >&2; exit 3"]
    continue_on_failure: true
  - name: with-token
    type: http
    config:
      url: "http://${base}/echo"
      method: get
      headers: {X-Thing: "\${API_TOKEN}"}
  - name: with-url-password
    type: http
    config:
      url: "http://bob:\${URL_PW}@${base}/echo"
      method: get
  - name: with-basic
    type: http
    config:
      url: "http://${base}/echo"
      method: get
      headers: {Authorization: "Basic ${HEADER_BASIC}"}
`);
    const env = { API_TOKEN: TOKEN, URL_PW, BASIC_PW, URL_BASIC, HEADER_BASIC };
    const r = await cli(s, ["--log-level", "debug", "run", wf], env);
    expect(r.code).toBe(0);

    const out = Object.fromEntries(rows(s.db, "SELECT task_name, stdout, stderr, error_message FROM task_executions").map((t) => [t.task_name, t]));
    expect(out.printer.stdout).toBe("token=*** url=*** basic=***\n*** ***\n");
    expect(out.printer.stderr).toBe("***\n");
    // The servers saw the real values; what is stored is masked, the Basic form included.
    expect(JSON.parse(out["with-token"].stdout)["x-thing"]).toBe("***");
    expect(JSON.parse(out["with-url-password"].stdout).authorization).toBe("Basic ***");
    expect(JSON.parse(out["with-basic"].stdout).authorization).toBe("***");

    let shown = r.stdout + r.stderr;
    for (const cmd of [["logs", "leaky"], ["status", "leaky"], ["status", "leaky", "--format", "json"], ["history", "leaky"]]) {
      const c = await cli(s, cmd);
      expect(c.code).toBe(0);
      shown += c.stdout + c.stderr;
    }
    const all = [TOKEN, URL_PW, BASIC_PW, URL_BASIC, HEADER_BASIC];
    assertNowhere(shown, all, "picoflow's output");
    assertNotInDatabase(s, all);
  });
});

describe("validation errors are masked when they are made", () => {
  const PW = "hunter2-e3b0c44298fc";
  const badUrl = (url: string) => `name: web
tasks:
  - name: call
    type: http
    config:
      url: "${url}"
      method: get
`;

  test.each([
    ["from ${VAR}", "http://bob:${PW}@exa mple.com/"],
    ["written in the file", `http://bob:${PW}@exa mple.com/`],
  ])("the password of an invalid URL (%s) is masked in validate and run", async (_, url) => {
    const s = sb();
    const wf = s.workflow(badUrl(url));
    for (const cmd of ["validate", "run"]) {
      const r = await cli(s, [cmd, wf], { PW });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`${wf}:6:12: tasks[0].config.url: 'http://bob:***@exa mple.com/' is not a valid URL\n`);
    }
  });

  test("the daemon's log, daemon status (table and JSON) and its state row get masked text", async () => {
    const s = sb(`${FAST_CONFIG}\n[metrics]\nenabled = false\n[daemon]\nheartbeat_seconds = 1\n`);
    const wf = s.workflow(badUrl("http://${HOST}/"), "web.yaml");
    const d = spawnCli(s, ["daemon", "start", wf], { PW, HOST: "example.org" });
    let log = "";
    const reading = (async () => {
      for await (const chunk of d.stderr) log += new TextDecoder().decode(chunk);
    })();
    try {
      await waitFor(() => log.includes('"msg":"daemon started"'), 15_000, "daemon started");
      // The file turns invalid; a reload keeps the last good version and says why.
      writeFileSync(wf, badUrl("http://bob:${PW}@exa mple.com/"));
      d.kill("SIGHUP");
      await waitFor(() => log.includes("keeping the last good version"), 15_000, "reload logged");
      const state = await waitFor(() => rows(s.db, "SELECT workflows FROM daemon_state").find((r) => r.workflows.includes("not a valid URL")), 15_000, "state row");
      const status = await cli(s, ["daemon", "status"]);
      const json = await cli(s, ["daemon", "status", "--format", "json"]);
      expect(status.code).toBe(0);
      expect(json.code).toBe(0);
      for (const [where, text] of [["log", log], ["daemon_state", state.workflows], ["daemon status", status.stdout], ["daemon status --format json", json.stdout]]) {
        expect(text, where).toContain("bob:***@exa mple.com");
        assertNowhere(text!, [PW], where!);
      }
    } finally {
      d.kill("SIGTERM");
      await d.exited;
      await reading;
    }
    assertNotInDatabase(s, [PW]);
  });
});

describe("NUL bytes are validation errors, shown as \\0", () => {
  test("in command, args, env names and values, workdir, ssh command and key_path", async () => {
    const s = sb();
    // YAML's "\\0" escape is how a NUL gets into a value (the file itself may not hold one).
    const wf = s.workflow(String.raw`name: nul
tasks:
  - name: a
    type: shell
    config:
      command: "/bin/ec\0ho"
      args: ["ok", "a\0b"]
      workdir: "/tmp\0"
      env: {"BAD\0NAME": "x", GOOD: "v\0"}
  - name: b
    type: ssh
    config: {host: nas, user: pi, command: "ls\0", key_path: "/keys/id\0"}
`);
    for (const cmd of ["validate", "run"]) {
      const r = await cli(s, [cmd, wf]);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain("\0");
      expect(r.stderr.trimEnd().split("\n")).toEqual([
        String.raw`${wf}:6:16: tasks[0].config.command: must not contain a NUL byte, got '/bin/ec\0ho'`,
        String.raw`${wf}:7:20: tasks[0].config.args[1]: must not contain a NUL byte, got 'a\0b'`,
        String.raw`${wf}:8:16: tasks[0].config.workdir: must not contain a NUL byte, got '/tmp\0'`,
        String.raw`${wf}:9:13: tasks[0].config.env.BAD\0NAME: environment variable names are letters, digits and '_', not starting with a digit`,
        String.raw`${wf}:9:37: tasks[0].config.env.GOOD: must not contain a NUL byte, got 'v\0'`,
        String.raw`${wf}:12:44: tasks[1].config.command: must not contain a NUL byte, got 'ls\0'`,
        String.raw`${wf}:12:62: tasks[1].config.key_path: must not contain a NUL byte, got '/keys/id\0'`,
      ]);
    }
    // Nothing ran: not even a database.
    expect(existsSync(s.db)).toBe(false);
  });
});

describe("bad input is explained in one line", () => {
  const http = (body: string) => `name: deep
tasks:
  - name: a
    type: http
    config:
      url: http://example.org/
      method: post
      body:
        ${body}
`;

  test.each([
    // body mapping (depth 4) plus the levels below it
    ["flow style", `a: ${"[".repeat(5000)}${"]".repeat(5000)}`, "9:71"],
    ["block style", `a:\n          ${"- ".repeat(5000)}x`, "10:129"],
    ["flow mappings", `a: ${"{a: ".repeat(5000)}1${"}".repeat(5000)}`, "9:248"],
  ])("nesting deeper than 64 levels (%s) is refused with its place", async (_, body, at) => {
    const s = sb();
    const wf = s.workflow(http(body));
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${wf}:${at}: nesting deeper than 64 levels of lists and mappings\n`);
  });

  test("64 levels are fine", async () => {
    const s = sb();
    // Top-level mapping, tasks, the task, config, body: 5 levels, then 59 more.
    const r = await cli(s, ["validate", s.workflow(http(`a: ${"[".repeat(59)}${"]".repeat(59)}`))]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("an alias that makes a structure contain itself is refused, not a crash", async () => {
    const s = sb();
    const wf = s.workflow(http("a: &loop {again: *loop}"));
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith(`${wf}:9:26: tasks[0].config.body.a.again.again.again…: nesting deeper than 64 levels`);
    expect(r.stderr.trimEnd().split("\n").length).toBe(1);
  });

  test("a dependency listed 100000 times is one problem with its count", async () => {
    const s = sb();
    const deps = Array.from({ length: 100_000 }, () => "a").join(", ");
    const wf = s.workflow(`name: dups\ntasks:\n  - name: a\n    type: shell\n    config: {command: /bin/true}\n  - name: b\n    type: shell\n    depends_on: [${deps}]\n    config: {command: /bin/true}\n`);
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${wf}:8:21: tasks[1].depends_on[1]: 'a' is listed 100000 times\n`);
  });

  test("the same problem in 100000 places is one line with a count", async () => {
    const s = sb();
    const args = Array.from({ length: 100_000 }, () => "1").join(", ");
    const wf = s.workflow(`name: many\ntasks:\n  - name: a\n    type: shell\n    config: {command: /bin/echo, args: [${args}]}\n`);
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `${wf}:5:41: tasks[0].config.args[0]: expected a string (quote numbers and booleans), got number 1 (and 99999 more like it)\n`,
    );
  });

  test("a value of 900 KB is cut in the message, with its length; a secret in it is masked first", async () => {
    const s = sb();
    // The password straddles the place where the value is cut.
    const PW = "pw-straddling-the-cut-0123456789";
    const user = "u".repeat(60);
    const url = `http://${user}:${PW}@exa mple.com/${"x".repeat(900_000)}`;
    const wf = s.workflow(`name: long\ntasks:\n  - name: a\n    type: http\n    config:\n      url: "${url}"\n      method: get\n`);
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    // Masked first, then cut to 80 characters.
    const shown = `http://${user}:***@exa mple.com/`.slice(0, 80);
    expect(r.stderr).toBe(`${wf}:6:12: tasks[0].config.url: '${shown}…' (${url.length} characters) is not a valid URL\n`);
    assertNowhere(r.stderr, [PW], "stderr");
  });

  test("a 900 KB command, which Linux cannot start, is a validation error with its size", async () => {
    const s = sb();
    const wf = s.workflow(`name: long\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/${"x".repeat(900_000)}\n`);
    for (const cmd of ["validate", "run"]) {
      const r = await cli(s, [cmd, wf]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`${wf}:6:16: tasks[0].config.command: is 900005 bytes; an argument or environment entry may be at most 131071 bytes (Linux's limit)\n`);
    }
    expect(existsSync(s.db)).toBe(false);
  });

  test("control characters in a value cannot forge lines or drive the terminal", async () => {
    const s = sb();
    const wf = s.workflow(String.raw`name: ctl
tasks:
  - name: a
    type: shell
    depends_on: ["b\nwf.yaml:1:1: all good\u001b[2J"]
    config: {command: /bin/true}
`);
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(String.raw`${wf}:5:18: tasks[0].depends_on[0]: unknown task 'b\nwf.yaml:1:1: all good\x1b[2J'` + "\n");
  });
});
