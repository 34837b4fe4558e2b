// Inline `script:` in shell tasks: run by its shell with -e, its text passed as written (${VAR}
// and $$ are the shell's), {{ }} placeholders filled in, workdir/env/timeout as for `command`,
// the validation errors at FILE:LINE:COL, and the script shown readably by `run --dry-run`.
// The real CLI, real shells, the database.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { cli, rows, sandboxMaker } from "./helpers.ts";

setDefaultTimeout(30_000);
const sb = sandboxMaker();

/** A workflow of one shell task with this config (indented YAML lines), no retries. */
function oneTask(config: string, extra = ""): string {
  return `name: scripted
config:
  retry_default: 0
tasks:
  - name: job
    type: shell
${extra}    config:
${config}`;
}

function attempts(db: string) {
  return rows<{ status: string; exit_code: number | null; stdout: string; stderr: string; error_message: string | null }>(
    db,
    "SELECT status, exit_code, stdout, stderr, error_message FROM task_executions WHERE task_name = 'job' ORDER BY attempt",
  );
}

describe("a script runs as written", () => {
  test("${VAR} in a script is the shell's: a for loop over ${f} works, with no 'unset variable' warning", async () => {
    const s = sb();
    const wf = s.workflow(
      oneTask(`      script: |
        for f in alpha beta "gamma delta"; do
          echo "item ${"${f}"}"
        done
`),
    );
    const v = await cli(s, ["validate", wf]);
    expect(v.code).toBe(0);
    expect(v.stderr).toBe("");
    const r = await cli(s, ["run", wf]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("is not set");
    expect(attempts(s.db)).toEqual([{ status: "success", exit_code: 0, stdout: "item alpha\nitem beta\nitem gamma delta\n", stderr: "", error_message: null }]);
  });

  test("$$ is the shell's too, and {{ }} placeholders are filled in", async () => {
    const s = sb();
    const wf = s.workflow(
      oneTask(`      script: |
        echo "pid $$"
        echo "run {{ run.id }} of {{ workflow.name }}"
`),
    );
    const r = await cli(s, ["run", wf]);
    expect(r.code).toBe(0);
    const [id] = rows<{ id: string }>(s.db, "SELECT id FROM workflow_executions");
    const [a] = attempts(s.db);
    expect(a!.stdout).toMatch(new RegExp(`^pid [1-9][0-9]*\nrun ${id!.id} of scripted\n$`));
  });

  test("-e: the first failing command ends the script, and the task fails with its exit code", async () => {
    const s = sb();
    const marker = `${s.dir}/never-written`;
    const wf = s.workflow(
      oneTask(`      script: |
        echo before
        (exit 7)
        echo after
        touch ${marker}
`),
    );
    const r = await cli(s, ["run", wf]);
    expect(r.code).toBe(3);
    expect(attempts(s.db)).toEqual([{ status: "failed", exit_code: 7, stdout: "before\n", stderr: "", error_message: "exited with code 7" }]);
    expect(existsSync(marker)).toBe(false);
  });

  test("shell: /bin/bash runs bash-only constructs", async () => {
    const s = sb();
    const wf = s.workflow(
      oneTask(`      shell: /bin/bash
      script: |
        declare -A colour=([sky]=blue [grass]=green)
        key=grass
        [[ ${"${colour[$key]}"} == gr* ]] && echo "${"${key}"} is ${"${colour[$key]^^}"}"
`),
    );
    const r = await cli(s, ["run", wf]);
    expect(r.code).toBe(0);
    expect(attempts(s.db)[0]!.stdout).toBe("grass is GREEN\n");
  });

  test("workdir and the task's env apply as for a command", async () => {
    const s = sb();
    const wf = s.workflow(
      oneTask(`      workdir: ${s.dir}
      env: { GREETING: "hello there" }
      script: |
        pwd
        echo "${"${GREETING}"}"
`),
    );
    const r = await cli(s, ["run", wf]);
    expect(r.code).toBe(0);
    expect(attempts(s.db)[0]!.stdout).toBe(`${s.dir}\nhello there\n`);
  });

  test("the task's timeout stops a script", async () => {
    const s = sb();
    const wf = s.workflow(
      oneTask(
        `      script: |
        echo started
        sleep 30
        echo never
`,
        "    timeout: 1\n",
      ),
    );
    const r = await cli(s, ["run", wf]);
    expect(r.code).not.toBe(0);
    expect(attempts(s.db)).toEqual([{ status: "timeout", exit_code: 124, stdout: "started\n", stderr: "", error_message: "timed out after 1s" }]);
  });
});

describe("validation of script and shell", () => {
  test("command with script, args with script, neither, shell without script, an empty script: each at FILE:LINE:COL", async () => {
    const s = sb();
    const wf = s.workflow(`name: bad
tasks:
  - name: both
    type: shell
    config:
      command: echo
      script: echo hi
  - name: args
    type: shell
    config:
      args: [x]
      script: echo hi
  - name: neither
    type: shell
    config:
      workdir: /tmp
  - name: shell-only
    type: shell
    config:
      command: echo
      shell: /bin/bash
  - name: empty
    type: shell
    config:
      script: "  "
`);
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      [
        `${wf}:7:15: tasks[0].config.script: a task has either 'command' or 'script', not both`,
        `${wf}:11:13: tasks[1].config.args: 'args' go with 'command'; a script has none`,
        `${wf}:16:7: tasks[2].config.command: required (or 'script' for an inline script)`,
        `${wf}:21:14: tasks[3].config.shell: 'shell' goes with 'script'`,
        `${wf}:25:15: tasks[4].config.script: must not be empty`,
        "",
      ].join("\n"),
    );
  });

  test("a shell that does not exist is a warning at its position; the workflow stays valid", async () => {
    const s = sb();
    const wf = s.workflow(oneTask(`      shell: /nonexistent/zsh\n      script: echo hi\n`));
    const r = await cli(s, ["validate", wf]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`${wf}:8:14: warning: tasks[0].config.shell: '/nonexistent/zsh' does not exist on this machine\n`);
  });
});

describe("run --dry-run shows a script readably", () => {
  test("its shell, then its lines as written, secrets masked", async () => {
    const s = sb();
    const wf = s.workflow(`name: shown
secrets: [API_TOKEN]
tasks:
  - name: job
    type: shell
    config:
      shell: /bin/bash
      script: |
        for f in a b; do
          echo "${"${f}"}"
        done
        curl -H "X-Token: tok-4b1d9e2a77" https://example.org/
`);
    const r = await cli(s, ["run", wf, "--dry-run"], { API_TOKEN: "tok-4b1d9e2a77" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      [
        "1. job (level 0, shell)",
        "   script (/bin/bash -e):",
        "     for f in a b; do",
        '       echo "${f}"',
        "     done",
        '     curl -H "X-Token: ***" https://example.org/',
        "",
      ].join("\n"),
    );
    expect(r.stdout + r.stderr).not.toContain("tok-4b1d9e2a77");
  });
});
