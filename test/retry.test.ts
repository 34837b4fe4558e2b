// `picoflow retry` and running part of a workflow (`run --only`, `--from`, `--dry-run`): the
// real CLI, real tasks that leave marker files, and what the database then holds.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, rows, sandbox, spawnCli, waitFor, type Sandbox } from "./helpers.ts";

// Daemon and run processes on a busy machine take longer than bun's 5 s default.
setDefaultTimeout(60_000);

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox();
});
afterAll(() => sb.cleanup());

/** A task that appends a line to marker file `name` in `dir`, then runs `then` (exit status of the task). */
const task = (dir: string, name: string, deps: string[] = [], then = "true", extra = "") => `
  - name: ${name}
    type: shell
    retry: 0
    config:
      command: /bin/sh
      args: ["-c", ${JSON.stringify(`echo ran >> ${join(dir, name)}; ${then}`)}]${deps.length ? `\n    depends_on: [${deps.join(", ")}]` : ""}${extra}`;

let n = 0;
/** A fresh marker directory and a workflow file name. */
function fresh(): { dir: string; file: string; name: string } {
  const name = `wf-${++n}`;
  const dir = join(sb.dir, `marks-${n}`);
  mkdirSync(dir);
  return { dir, name, file: join(sb.dir, `${name}.yaml`) };
}

/** How many times each task ran (lines in its marker file), for the tasks that ran at all. */
function ran(dir: string, names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of names) if (existsSync(join(dir, t))) out[t] = readFileSync(join(dir, t), "utf8").trim().split("\n").length;
  return out;
}

const latest = (wf: string) =>
  rows(sb.db, "SELECT * FROM workflow_executions WHERE workflow_name = ? ORDER BY started_at DESC, rowid DESC LIMIT 1", wf)[0]!;

/** a -> b -> c, and d alone; b fails until the file `ok` exists in the marker directory. */
function diamond() {
  const f = fresh();
  const gate = `test -e ${join(f.dir, "ok")}`;
  const yaml = `name: ${f.name}\ntasks:${task(f.dir, "a")}${task(f.dir, "b", ["a"], gate)}${task(f.dir, "c", ["b"])}${task(f.dir, "d")}\n`;
  writeFileSync(f.file, yaml);
  return { ...f, yaml, pass: () => writeFileSync(join(f.dir, "ok"), "") };
}

describe("picoflow retry", () => {
  test("re-runs only the failed task and its downstream; the rest is reused", async () => {
    const w = diamond();
    expect((await cli(sb, ["run", w.file])).code).toBe(3);
    expect(ran(w.dir, ["a", "b", "c", "d"])).toEqual({ a: 1, b: 1, d: 1 });
    const original = latest(w.name);
    w.pass();

    const r = await cli(sb, ["retry", original.id.slice(0, 8)]);
    expect(r.stderr).not.toContain("changed since");
    expect(r.code).toBe(0);
    expect(ran(w.dir, ["a", "b", "c", "d"])).toEqual({ a: 1, b: 2, c: 1, d: 1 });

    const retry = latest(w.name);
    expect(retry).toMatchObject({ trigger: "retry", retry_of: original.id, status: "success", total_tasks: 4, successful_tasks: 4 });
    const tasks = rows(sb.db, "SELECT task_name, status, attempt, reused_from FROM task_executions WHERE workflow_execution_id = ? ORDER BY task_name", retry.id);
    expect(tasks).toEqual([
      { task_name: "a", status: "reused", attempt: 0, reused_from: original.id },
      { task_name: "b", status: "success", attempt: 1, reused_from: null },
      { task_name: "c", status: "success", attempt: 1, reused_from: null },
      { task_name: "d", status: "reused", attempt: 0, reused_from: original.id },
    ]);

    const st = await cli(sb, ["status", "--execution-id", retry.id]);
    expect(st.stdout).toContain(`Retry of   ${original.id}`);
    expect(st.stdout).toMatch(new RegExp(`\\na +reused +0 .*success of execution ${original.id.slice(0, 8)}`));
    const json = JSON.parse((await cli(sb, ["status", "--execution-id", retry.id, "--format", "json"])).stdout)[0];
    expect(json.retry_of).toBe(original.id);
    expect(json.tasks.find((t: any) => t.task_name === "a")).toMatchObject({ status: "reused", attempts: 0, reused_from: original.id });

    // Reused rows are no runs or attempts of their own: a ran once, b twice.
    const stats = JSON.parse((await cli(sb, ["stats", "--workflow", w.name, "--format", "json"])).stdout);
    const per = Object.fromEntries(stats[0].tasks.map((t: any) => [t.task_name, [t.runs, t.attempts]]));
    expect(per).toEqual({ a: [1, 1], b: [2, 2], c: [1, 1], d: [1, 1] });
  });

  test("a retry of a retry reuses the success of the run that really ran it", async () => {
    const w = diamond();
    await cli(sb, ["run", w.file]);
    const first = latest(w.name);
    expect((await cli(sb, ["retry", first.id])).code).toBe(3);
    const second = latest(w.name);
    w.pass();
    expect((await cli(sb, ["retry", second.id])).code).toBe(0);
    const third = latest(w.name);
    const a = rows(sb.db, "SELECT status, reused_from FROM task_executions WHERE workflow_execution_id = ? AND task_name = 'a'", third.id)[0];
    expect(a).toEqual({ status: "reused", reused_from: first.id });
    expect(ran(w.dir, ["a", "b", "c", "d"])).toEqual({ a: 1, b: 3, c: 1, d: 1 });
  });

  test("--from re-runs that task and everything downstream, whatever their status", async () => {
    const w = diamond();
    w.pass();
    expect((await cli(sb, ["run", w.file])).code).toBe(0);
    const ok = latest(w.name);
    // A successful run has nothing to retry, unless --from says what.
    const none = await cli(sb, ["retry", ok.id]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("nothing to retry");

    const r = await cli(sb, ["retry", ok.id, "--from", "b"]);
    expect(r.code).toBe(0);
    expect(ran(w.dir, ["a", "b", "c", "d"])).toEqual({ a: 1, b: 2, c: 2, d: 1 });

    const bad = await cli(sb, ["retry", ok.id, "--from", "cc"]);
    expect(bad.code).toBe(5);
    expect(bad.stderr).toContain("did you mean 'c'?");
  });

  test("a changed file is named task by task; a task gone is an error; --file points elsewhere", async () => {
    const w = diamond();
    await cli(sb, ["run", w.file]);
    const original = latest(w.name);
    w.pass();
    // c's command changes; e is new.
    writeFileSync(w.file, w.yaml.replace(`echo ran >> ${join(w.dir, "c")}`, `echo ran >> ${join(w.dir, "c")}; echo changed`) + task(w.dir, "e") + "\n");
    const r = await cli(sb, ["retry", original.id]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${w.file} changed since execution ${original.id} ran (changed: c; new: e)`);
    expect(ran(w.dir, ["a", "b", "c", "d", "e"])).toEqual({ a: 1, b: 2, c: 1, d: 1, e: 1 });

    // d (and e) gone from the file: the retry cannot stand on them.
    const again = latest(w.name);
    writeFileSync(w.file, w.yaml.replace(task(w.dir, "d"), ""));
    const gone = await cli(sb, ["retry", again.id]);
    expect(gone.code).toBe(5);
    expect(gone.stderr).toContain("no longer has tasks 'd', 'e' of execution");

    // --file: another path holding the same workflow.
    const other = join(sb.dir, `${w.name}-copy.yaml`);
    writeFileSync(other, w.yaml.replace(`test -e ${join(w.dir, "ok")}`, "false"));
    const viaFile = await cli(sb, ["retry", original.id, "--file", other]);
    expect(viaFile.code).toBe(3);
    expect(latest(w.name)).toMatchObject({ trigger: "retry", workflow_file: other, retry_of: original.id });
  });

  test("a retry while the workflow runs is refused (exit 1)", async () => {
    const f = fresh();
    const release = join(f.dir, "release");
    writeFileSync(f.file, `name: ${f.name}\ntasks:${task(f.dir, "wait", [], `while [ ! -e ${release} ]; do sleep 0.05; done; false`)}\n`);
    const p = spawnCli(sb, ["run", f.file]);
    try {
      await waitFor(() => existsSync(join(f.dir, "wait")), 10_000, "the task to start");
      const run = latest(f.name);
      const r = await cli(sb, ["retry", run.id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`workflow '${f.name}' is running now (execution ${run.id})`);
    } finally {
      writeFileSync(release, "");
      await p.exited;
    }
    expect(await p.exited).toBe(3);
    expect(ran(f.dir, ["wait"])).toEqual({ wait: 1 });
  });

  test("an unknown execution is exit 5", async () => {
    const r = await cli(sb, ["retry", "0000dead"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("no execution with id '0000dead'");
  });
});

describe("picoflow run, part of a workflow", () => {
  test("--only runs those tasks, ignoring their dependencies", async () => {
    const w = diamond();
    const r = await cli(sb, ["run", w.file, "--only", "c,d"]);
    expect(r.code).toBe(0);
    expect(ran(w.dir, ["a", "b", "c", "d"])).toEqual({ c: 1, d: 1 });
    const run = latest(w.name);
    expect(run).toMatchObject({ status: "success", total_tasks: 2, successful_tasks: 2, task_names: JSON.stringify(["c", "d"]) });
  });

  test("--from runs that task and everything downstream", async () => {
    const w = diamond();
    w.pass();
    const r = await cli(sb, ["run", w.file, "--from", "b"]);
    expect(r.code).toBe(0);
    expect(ran(w.dir, ["a", "b", "c", "d"])).toEqual({ b: 1, c: 1 });
  });

  test("unknown task names are exit 5 with a suggestion, and nothing runs", async () => {
    const w = diamond();
    for (const args of [["--only", "a,dd"], ["--from", "bb"]]) {
      const r = await cli(sb, ["run", w.file, ...args]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/has no task '(dd|bb)' \(did you mean '(d|b)'\?\)/);
    }
    // --only and --from together: the tasks in both; none in common is a usage error.
    const none = await cli(sb, ["run", w.file, "--only", "a", "--from", "c"]);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain("none of 'a' is 'c' or downstream of it");
    expect(ran(w.dir, ["a", "b", "c", "d"])).toEqual({});
  });

  test("--dry-run prints the plan, runs nothing and creates no database", async () => {
    const dry = sandbox();
    try {
      const marks = join(dry.dir, "marks");
      mkdirSync(marks);
      const file = dry.workflow(`name: plan
tasks:${task(marks, "fetch", [], "echo ${GREETING}")}
  - name: push
    type: http
    retry: 2
    timeout: 30
    depends_on: [fetch]
    config:
      url: https://example.invalid/hook
      method: POST
      headers:
        X-Token: "\${TOKEN}"
${task(marks, "last", ["push"]).slice(1)}
on_failure:${task(marks, "alert")}
`);
      const r = await cli(dry, ["run", file, "--dry-run"], { GREETING: "hello-there", TOKEN: "s3cr3t-token" });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Dry run of 'plan'");
      expect(r.stdout).toMatch(/1\. fetch \(level 0, shell\)[^]*2\. push \(level 1, http, after fetch\)[^]*3\. last \(level 2, shell, after push\)/);
      expect(r.stdout).toContain("echo hello-there");
      expect(r.stdout).toContain("POST https://example.invalid/hook");
      expect(r.stdout).toContain("X-Token: ***");
      expect(r.stdout).not.toContain("s3cr3t-token");
      expect(r.stdout).toContain("retry 2 (up to 3 attempts), timeout 30s");
      expect(r.stdout).toMatch(/Handlers[^]*alert \(on_failure, shell\)/);
      expect(existsSync(dry.db)).toBe(false);
      expect(ran(marks, ["fetch", "last", "alert"])).toEqual({});

      const part = await cli(dry, ["run", file, "--dry-run", "--from", "push"], { GREETING: "x", TOKEN: "y" });
      expect(part.code).toBe(0);
      expect(part.stdout).toContain("2 of 3 tasks");
      expect(part.stdout).toContain("1. push (level 0, http)");
      expect(existsSync(dry.db)).toBe(false);
    } finally {
      dry.cleanup();
    }
  });
});
