// What `validate`, `run` and the daemon say about a workflow before anything runs: a command
// line in `command`, programs not on this machine, unset and required variables, cron
// nicknames and next runs, merge keys. Real CLI, real files, real daemon.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { cli, FAST_CONFIG, rows, sandbox, scheduled, startDaemon, type Sandbox } from "./helpers.ts";

setDefaultTimeout(30_000);

const sandboxes: Sandbox[] = [];
function sb(config = FAST_CONFIG): Sandbox {
  const s = sandbox(config);
  sandboxes.push(s);
  return s;
}
afterAll(() => sandboxes.forEach((s) => s.cleanup()));

const shellTask = (config: string) => `name: w\ntasks:\n  - name: a\n    type: shell\n    config:\n${config}`;

describe("validate", () => {
  test("a whole command line in command: exit 2 at its line and column, with the forms that work", async () => {
    const s = sb();
    const f = s.workflow(shellTask(`      command: echo hello world\n`));
    const r = await cli(s, ["validate", f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `${f}:6:16: tasks[0].config.command: 'echo hello world' is a whole command line, but command is one program, started without a shell: write command: echo with args: ["hello", "world"], or command: /bin/sh with args: ["-c", "echo hello world"]\n`,
    );
  });

  test("a program not found and an unset variable are warnings on stderr: exit 0", async () => {
    const s = sb();
    const f = s.workflow(shellTask(`      command: no-such-program-xyz\n      args: ["\${PICOFLOW_TEST_NOT_SET}"]\n`));
    const r = await cli(s, ["validate", f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("Workflow 'w' is valid\n");
    expect(r.stderr).toBe(
      `${f}:6:16: warning: tasks[0].config.command: 'no-such-program-xyz' is not found in PATH on this machine\n` +
        `${f}:7:14: warning: tasks[0].config.args[0]: \${PICOFLOW_TEST_NOT_SET} is not set, so it becomes "" here; write \${PICOFLOW_TEST_NOT_SET:-} if that is meant\n`,
    );
  });

  test("a scheduled workflow shows its next 3 runs in local time, and in its time zone", async () => {
    const s = sb();
    const daily = s.workflow(scheduled("nightly", "@daily", "/bin/true"));
    const r = await cli(s, ["validate", daily], { TZ: "UTC" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Schedule:     @daily = 0 0 0 * * *\n");
    expect(r.stdout).toMatch(/\nNext runs: {4}\d{4}-\d\d-\d\d 00:00:00 local time\n {14}\d{4}-\d\d-\d\d 00:00:00 local time\n {14}\d{4}-\d\d-\d\d 00:00:00 local time\n/);

    const tokyo = s.workflow(scheduled("tokyo", "0 0 2 * * *", "/bin/true", [], "timezone: Asia/Tokyo\n"));
    const t = await cli(s, ["validate", tokyo], { TZ: "UTC" });
    expect(t.stdout).toContain("Schedule:     0 0 2 * * * (Asia/Tokyo)\n");
    expect(t.stdout.match(/ 17:00:00 local time {2}\(\d{4}-\d\d-\d\d 02:00:00 Asia\/Tokyo\)\n/g)).toHaveLength(3);
  });

  test("a 5-field schedule gets its 6-field form; one that never fires is an error", async () => {
    const s = sb();
    const five = s.workflow(scheduled("five", "*/5 * * * *", "/bin/true"));
    const never = s.workflow(scheduled("never", "0 0 0 31 2 *", "/bin/true"));
    const r5 = await cli(s, ["validate", five]);
    expect(r5.code).toBe(2);
    expect(r5.stderr).toBe(`${five}:2:11: schedule: must have 6 fields (sec min hour day month dayofweek), got 5; PicoFlow's cron has seconds first: for "*/5 * * * *" write "0 */5 * * * *"\n`);
    const rn = await cli(s, ["validate", never]);
    expect(rn.code).toBe(2);
    expect(rn.stderr).toBe(`${never}:2:11: schedule: never fires: no date matches it (check the day of month against the month)\n`);
  });

  test("merge keys from an x- key are accepted", async () => {
    const s = sb();
    const f = s.workflow(`name: merged
x-defaults: &defaults
  type: shell
  retry: 0
tasks:
  - <<: *defaults
    name: a
    config: {command: /bin/true}
  - <<: *defaults
    name: b
    depends_on: [a]
    config: {command: /bin/true}
`);
    const r = await cli(s, ["validate", f]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Tasks:        2 (2 shell)\n");
  });
});

describe("run", () => {
  test("an unset variable is a warning before the run, and the run goes on with \"\"", async () => {
    const s = sb();
    const f = s.workflow(shellTask(`      command: /bin/echo\n      args: ["[\${PICOFLOW_TEST_NOT_SET}]", "\${PICOFLOW_TEST_NOT_SET:-fallback}"]\n`));
    const r = await cli(s, ["run", f]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `${f}:7:14: warning: tasks[0].config.args[0]: \${PICOFLOW_TEST_NOT_SET} is not set, so it becomes "" here; write \${PICOFLOW_TEST_NOT_SET:-} if that is meant\n`,
    );
    expect(rows(s.db, "SELECT stdout FROM task_executions")).toEqual([{ stdout: "[] fallback\n" }]);
  });

  test("examples/smoke.yaml without its variable names the variable, and nothing runs", async () => {
    const s = sb();
    const smoke = resolve(import.meta.dir, "../examples/smoke.yaml");
    const r = await cli(s, ["run", smoke]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^\S+smoke\.yaml:\d+:\d+: tasks\[1\]\.config\.url: \$\{PICOFLOW_SMOKE_URL\} is not set: set it to the base URL of a server with \/ping and \/echo \(and in 1 more place\)\n$/);
    expect(existsSync(s.db)).toBe(false);
  });
});

describe("daemon", () => {
  const CONFIG = `${FAST_CONFIG}\n[metrics]\nenabled = false\n`;

  test("logs each warning at load, and schedules @daily (daemon status shows its next run)", async () => {
    const s = sb(CONFIG);
    const warned = s.workflow(scheduled("warned", "0 0 0 1 1 *", "no-such-program-xyz"), "warned.yaml");
    const daily = s.workflow(scheduled("nightly", "@daily", "/bin/true"), "daily.yaml");
    const d = await startDaemon(s, [warned, daily], { TZ: "UTC" });
    try {
      const warnings = d.lines().filter((l) => l.msg === "workflow file has a warning");
      expect(warnings.map((l) => [l.level, l.workflow, l.warning])).toEqual([
        ["warn", "warned", `${warned}:7:16: warning: tasks[0].config.command: 'no-such-program-xyz' is not found in PATH on this machine`],
      ]);
      const st = await cli(s, ["daemon", "status", "--format", "json"], { TZ: "UTC" });
      expect(st.code).toBe(0);
      const nightly = JSON.parse(st.stdout).workflows.find((w: { name: string }) => w.name === "nightly");
      expect(nightly.schedule).toBe("@daily");
      expect(nightly.next_run).toMatch(/T00:00:00(\.000)?Z$/);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
