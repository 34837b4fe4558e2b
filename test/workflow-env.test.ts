// A workflow's `env:`, `env_file:` and `secrets:`: the order of precedence end to end, ${VAR}
// from them anywhere in the file, the dotenv format, the file's owner and mode, and masking of
// every env_file value and every named secret in stored output, logs, validate, --dry-run and
// notifications; a changed env_file is a change on `daemon reload`. The real CLI and daemon,
// real shells, real files, a real HTTP server on loopback.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lchownSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { cli, rows, sandboxMaker, startDaemon, waitFor, type Sandbox } from "./helpers.ts";

setDefaultTimeout(30_000);
const sb = sandboxMaker();

/** Received requests, for ${VAR} in a URL and for notifications. */
const got: { path: string; body: string }[] = [];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    got.push({ path: new URL(req.url).pathname, body: await req.text() });
    return new Response("ok");
  },
});
afterAll(() => server.stop(true));

/** An env file the checks accept: the user's, mode 0600. */
function envFile(s: Sandbox, name: string, text: string, mode = 0o600): string {
  const p = s.file(name, text);
  chmodSync(p, mode);
  return p;
}

function stdoutOf(db: string, task: string): string {
  return rows<{ stdout: string }>(db, "SELECT stdout FROM task_executions WHERE task_name = ? ORDER BY attempt DESC LIMIT 1", task)[0]!.stdout;
}

/** Every 8-character piece of each secret: half a token is a leak too. */
function assertNowhere(text: string | Buffer, secrets: string[], where: string) {
  for (const s of secrets) {
    for (let i = 0; i + 8 <= s.length; i++) {
      if (text.includes(s.slice(i, i + 8))) throw new Error(`part of a secret (${s.slice(i, i + 8)}) found in ${where}`);
    }
  }
}

function assertNotInDatabase(s: Sandbox, secrets: string[]) {
  for (const file of [s.db, `${s.db}-wal`, `${s.db}-journal`]) {
    if (existsSync(file)) assertNowhere(readFileSync(file), secrets, file);
  }
}

describe("precedence: process environment < env_file < env < a task's env", () => {
  test("a shell task sees each variable from the layer that wins; a handler too", async () => {
    const s = sb();
    // Two-character values: shorter than a maskable secret, so the env_file's show as they are.
    envFile(s, "layers.env", "V_FILE=f2\nV_ENV=f3\nV_TASK=f4\n");
    const wf = s.workflow(`name: layers
env_file: layers.env
env:
  V_ENV: e3
  V_TASK: e4
tasks:
  - name: show
    type: shell
    config:
      env: { V_TASK: t4 }
      script: echo "$V_PROC $V_FILE $V_ENV $V_TASK"
on_exit:
  - name: after
    type: shell
    config:
      script: echo "$V_PROC $V_FILE $V_ENV $V_TASK"
`);
    const r = await cli(s, ["run", wf], { V_PROC: "p1", V_FILE: "p2", V_ENV: "p3", V_TASK: "p4" });
    expect(r.code).toBe(0);
    expect(stdoutOf(s.db, "show")).toBe("p1 f2 e3 t4\n");
    expect(stdoutOf(s.db, "after")).toBe("p1 f2 e3 e4\n");
  });

  test("${VAR} from env and env_file in a task's command, args and url; env sees env_file and the process, not itself", async () => {
    const s = sb();
    envFile(s, "vars.env", "FROM_FILE=abc\n");
    const wf = s.workflow(`name: vars
env_file: \${CONF_DIR}/vars.env
env:
  PROG: /bin/echo
  WORDS: "\${FROM_FILE}-\${FROM_PROC}"
  PORT: "${server.port}"
  AGAIN: "\${PROG}"
tasks:
  - name: say
    type: shell
    config:
      command: \${PROG}
      args: ["\${WORDS}", "[\${AGAIN}]"]
  - name: call
    type: http
    config:
      url: "http://127.0.0.1:\${PORT}/from-env/\${FROM_PROC}"
      method: get
`);
    const r = await cli(s, ["run", wf], { FROM_PROC: "xyz", CONF_DIR: s.dir });
    expect(r.code).toBe(0);
    // env's values do not see each other: ${PROG} in AGAIN is unset there (and says so).
    expect(r.stderr).toContain(`${wf}:7:10: warning: env.AGAIN: \${PROG} is not set, so it becomes "" here`);
    // abc is an env_file value, so a secret.
    expect(stdoutOf(s.db, "say")).toBe("***-xyz []\n");
    expect(got.some((g) => g.path === "/from-env/xyz")).toBe(true);
  });
});

describe("env_file: the dotenv format", () => {
  test("export, comments, blank lines, single and double quotes, a comment after a value", async () => {
    const s = sb();
    envFile(
      s,
      "fmt.env",
      [
        "# a comment",
        "",
        "export EXPORTED=plain-exported",
        "SINGLE='lit $HOME \\n # kept'",
        'DOUBLE="two\\nlines \\"quoted\\" back\\\\slash"',
        "UNQUOTED=some value   # a comment",
        "  SPACED = around  ",
        "HASH=a#b",
        "EMPTY=",
        "",
      ].join("\n"),
    );
    const wf = s.workflow(`name: fmt
env_file: fmt.env
tasks:
  - name: show
    type: shell
    config:
      # Upper-cased, so that the (secret) values themselves are not what is printed.
      script: |
        for v in EXPORTED SINGLE DOUBLE UNQUOTED SPACED HASH EMPTY; do
          eval "printf '%s=[%s]\\n' $v \\"\\$$v\\"" | tr a-z A-Z
        done
`);
    const r = await cli(s, ["run", wf]);
    expect(r.stderr).not.toContain("warning");
    expect(r.code).toBe(0);
    expect(stdoutOf(s.db, "show")).toBe(
      ["EXPORTED=[PLAIN-EXPORTED]", "SINGLE=[LIT $HOME \\N # KEPT]", 'DOUBLE=[TWO', 'LINES "QUOTED" BACK\\SLASH]', "UNQUOTED=[SOME VALUE]", "SPACED=[AROUND]", "HASH=[A#B]", "EMPTY=[]", ""].join("\n"),
    );
  });

  test("each bad line is an error naming ENV_FILE:LINE, at env_file's position; no value is quoted", async () => {
    const s = sb();
    const env = envFile(s, "bad.env", "GOOD=fine\nsecret-value-9f8e\nB=\"unterminated-7d6c\n1X=2\nQ='x' trailing-5b4a\n");
    const wf = s.workflow(`name: bad\nenv_file: bad.env\ntasks:\n  - {name: a, type: shell, config: {command: "true"}}\n`);
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      [
        `${wf}:2:11: env_file: ${env}:2: expected '=' after secret`,
        `${wf}:2:11: env_file: ${env}:3: the value of B has no closing double quote (a value is one line)`,
        `${wf}:2:11: env_file: ${env}:4: expected KEY=VALUE (a variable name: letters, digits and '_', not starting with a digit)`,
        `${wf}:2:11: env_file: ${env}:5: unexpected text after the quoted value of Q`,
        "",
      ].join("\n"),
    );
  });
});

describe("env_file: owner and mode", () => {
  const wfText = (path: string) => `name: guarded\nenv_file: ${path}\ntasks:\n  - {name: a, type: shell, config: {command: "true"}}\n`;

  test("readable by others (0644) is refused, naming the mode, as for ssh keys; 0640 is fine", async () => {
    const s = sb();
    const env = envFile(s, "open.env", "TOKEN=abcdef\n", 0o644);
    const wf = s.workflow(wfText("open.env"));
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${wf}:2:11: env_file: env file ${env} is accessible by others (mode 0644); run: chmod 600 ${env}\n`);
    chmodSync(env, 0o640);
    expect((await cli(s, ["validate", wf])).code).toBe(0);
  });

  test("a missing file is an error at env_file's position", async () => {
    const s = sb();
    const wf = s.workflow(wfText("nowhere.env"));
    for (const cmd of ["validate", "run"]) {
      const r = await cli(s, [cmd, wf]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`${wf}:2:11: env_file: env file ${s.dir}/nowhere.env does not exist\n`);
    }
  });

  test.skipIf(process.geteuid!() !== 0)("a file, or a symlink, owned by another user is refused (root can chown to test it)", async () => {
    const s = sb();
    const env = envFile(s, "theirs.env", "TOKEN=abcdef\n");
    chownSync(env, 65534, 65534);
    const wf = s.workflow(wfText("theirs.env"));
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${wf}:2:11: env_file: env file ${env} is owned by (\\S+ \\()?uid 65534\\)?, not by root \\(uid 0\\) or root; refusing to read it\n$`));

    // A link of another user's to a good file is not followed.
    const good = envFile(s, "good.env", "TOKEN=abcdef\n");
    symlinkSync(good, `${s.dir}/link.env`);
    lchownSync(`${s.dir}/link.env`, 65534, 65534);
    const wl = s.workflow(wfText("link.env"));
    const l = await cli(s, ["validate", wl]);
    expect(l.code).toBe(2);
    expect(l.stderr).toContain(`env file ${s.dir}/link.env is a symbolic link owned by`);
    // The user's own link is followed.
    symlinkSync(good, `${s.dir}/mine.env`);
    expect((await cli(s, ["validate", s.workflow(wfText("mine.env"))])).code).toBe(0);
  });
});

describe("secrets: and env_file values are masked everywhere", () => {
  const FILE_SECRET = "file-secret-8c1f0d2b";
  const NAMED = "named-secret-41a7e9c3";
  const AUTH_PW = "auth-pw-6e5d4c3b";

  test("stored output, errors, logs and run --dry-run; HTTP auth passwords and their Basic form too", async () => {
    const s = sb();
    envFile(s, "app.env", `DB_PASSWORD=${FILE_SECRET}\n`);
    const basic = Buffer.from(`admin:${AUTH_PW}`).toString("base64");
    const wf = s.workflow(`name: masked
env_file: app.env
secrets: [API_TOKEN]
config:
  retry_default: 0
tasks:
  - name: printer
    type: shell
    continue_on_failure: true
    config:
      env: { B64: "${basic}", B64_BARE: "${basic.replace(/=+$/, "")}", AUTH_PW: "\${NAS_PW}" }
      script: |
        echo "db=$DB_PASSWORD token=$API_TOKEN pw=$AUTH_PW basic=$B64 bare=$B64_BARE"
        echo "$API_TOKEN" >&2
        exit 3
  - name: missing
    type: shell
    continue_on_failure: true
    config:
      command: /nonexistent/\${API_TOKEN}
  - name: nas
    type: http
    depends_on: [printer]
    config:
      url: "http://127.0.0.1:${server.port}/nas"
      method: get
      auth: { username: admin, password: "\${NAS_PW}" }
`);
    const env = { API_TOKEN: NAMED, NAS_PW: AUTH_PW };
    const all = [FILE_SECRET, NAMED, AUTH_PW, basic];
    const r = await cli(s, ["run", wf], env);
    expect(r.code).toBe(0);
    const out = Object.fromEntries(rows(s.db, "SELECT task_name, stdout, stderr, error_message FROM task_executions").map((t) => [t.task_name, t]));
    expect(out.printer.stdout).toBe("db=*** token=*** pw=*** basic=*** bare=***\n");
    expect(out.printer.stderr).toBe("***\n");
    expect(out.missing.error_message).toContain("/nonexistent/***");

    let shown = r.stdout + r.stderr;
    for (const cmd of [["logs", "--workflow", "masked"], ["status", "masked", "--format", "json"], ["run", wf, "--dry-run"], ["validate", wf]]) {
      const c = await cli(s, cmd, env);
      expect(c.code).toBe(0);
      shown += c.stdout + c.stderr;
    }
    expect(shown).toContain("/nonexistent/***");
    assertNowhere(shown, all, "picoflow's output");
    assertNotInDatabase(s, all);
  });

  test("validate messages and notifications", async () => {
    const s = sb();
    envFile(s, "app.env", `UPSTREAM=${FILE_SECRET}\n`);
    const bad = s.workflow(`name: msgs
env_file: app.env
secrets: [API_TOKEN]
tasks:
  - name: other
    type: shell
    depends_on: ["\${UPSTREAM}"]
    config:
      command: /nonexistent/\${API_TOKEN}
`);
    const v = await cli(s, ["validate", bad], { API_TOKEN: NAMED });
    expect(v.code).toBe(2);
    expect(v.stderr).toBe(
      [
        `${bad}:7:18: tasks[0].depends_on[0]: unknown task '***'`,
        `${bad}:9:16: warning: tasks[0].config.command: '/nonexistent/***' does not exist on this machine`,
        "",
      ].join("\n"),
    );

    const notified = s.workflow(`name: told
secrets: [API_TOKEN]
notify: { url: "http://127.0.0.1:${server.port}/notify", on: [failure] }
config:
  retry_default: 0
tasks:
  - name: broken
    type: shell
    config:
      command: /nonexistent/\${API_TOKEN}
`);
    const r = await cli(s, ["run", notified], { API_TOKEN: NAMED });
    expect(r.code).toBe(3);
    const note = await waitFor(() => got.find((g) => g.path === "/notify" && g.body.includes("told")));
    expect(note.body).toContain("/nonexistent/***");
    assertNowhere(note.body, [NAMED], "the notification");
  });

  test("a name in secrets: that is set nowhere is a warning at its position", async () => {
    const s = sb();
    const wf = s.workflow(`name: unset
env: { SET_HERE: value-here }
secrets: [SET_HERE, NOWHERE_SET]
tasks:
  - {name: a, type: shell, config: {command: "true"}}
`);
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${wf}:3:21: warning: secrets[1]: NOWHERE_SET is not set (not in the environment, env_file, env or a task's env), so there is nothing to mask\n`);
  });
});

describe("daemon reload", () => {
  test("a changed env_file is a change: the workflow is reloaded and runs with the new values", async () => {
    const s = sb();
    const env = envFile(s, "daemon.env", "WORD=first\n");
    s.workflow(`name: envd\nenv_file: daemon.env\ntasks:\n  - {name: say, type: shell, config: {script: 'echo "$WORD" | tr a-z A-Z'}}\n`, "envd.yaml");
    const d = await startDaemon(s, [s.dir]);
    try {
      expect((await cli(s, ["daemon", "reload"])).stdout).toContain("0 loaded, 1 unchanged");
      writeFileSync(env, "WORD=second\n");
      const r = await cli(s, ["daemon", "reload"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("1 loaded, 0 unchanged");
      expect((await cli(s, ["trigger", "envd", "--wait"])).code).toBe(0);
      expect(stdoutOf(s.db, "say")).toBe("SECOND\n");
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
