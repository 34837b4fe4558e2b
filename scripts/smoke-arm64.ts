// Smoke test of a release binary, by default the Raspberry Pi one under qemu-aarch64-static:
// --version (the package version and HEAD's commit and date, as the build stamps them), validate and run of examples/smoke.yaml (shell and http tasks against a local
// HTTP server on 127.0.0.1), then the database it wrote is checked with bun:sqlite.
//
//   bun scripts/smoke-arm64.ts [BINARY]      (default dist/picoflow-linux-arm64)
//
// An arm64 binary on another machine runs under qemu-aarch64-static (Debian qemu-user-static
// plus libc6:arm64); a binary for this machine runs directly. Exits 1 on the first failure.

import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildLabel } from "../src/version.ts";

const ROOT = resolve(import.meta.dir, "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
const WORKFLOW = join(ROOT, "examples/smoke.yaml");
/** qemu starts a 100 MB binary slowly; generous, but a hang must still end. */
const STEP_TIMEOUT_MS = 180_000;

class SmokeFailure extends Error {}

/** ELF e_machine of a file: 0xb7 aarch64, 0x3e x86-64. */
function elfMachine(path: string): number {
  const head = readFileSync(path).subarray(0, 20);
  if (head.length < 20 || head[0] !== 0x7f || head.toString("latin1", 1, 4) !== "ELF") {
    throw new SmokeFailure(`${path} is not an ELF executable`);
  }
  return head.readUInt16LE(18);
}

/**
 * The stamp a binary built from this checkout carries (as scripts/build.ts makes it): HEAD,
 * "-dirty" when tracked files have changes, and the commit's date; without .git, the
 * SOURCE_DATE_EPOCH and PICOFLOW_COMMIT the build was given.
 */
function expectedStamp(): { commit: string; date: string } {
  if (!existsSync(join(ROOT, ".git"))) {
    const epoch = process.env.SOURCE_DATE_EPOCH?.trim();
    const commit = process.env.PICOFLOW_COMMIT?.trim().toLowerCase();
    if (!epoch || !commit) throw new SmokeFailure("not a git checkout: set SOURCE_DATE_EPOCH and PICOFLOW_COMMIT as for the build");
    return { commit, date: new Date(Number(epoch) * 1000).toISOString() };
  }
  const git = (...args: string[]) => {
    const p = Bun.spawnSync(["git", "-C", ROOT, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    if (p.exitCode !== 0) throw new SmokeFailure(`git ${args.join(" ")} failed: ${(p.stderr?.toString() ?? "").trim().split("\n")[0]}`);
    return (p.stdout?.toString() ?? "").trim();
  };
  const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
  const date = new Date(Number(git("log", "-1", "--format=%ct", "HEAD")) * 1000).toISOString();
  return { commit: git("rev-parse", "HEAD") + (dirty ? "-dirty" : ""), date };
}

function launcher(binary: string): string[] {
  const machine = elfMachine(binary);
  const host = process.arch === "arm64" ? 0xb7 : process.arch === "x64" ? 0x3e : -1;
  if (machine === host) return [binary];
  if (machine === 0xb7) {
    const qemu = Bun.which("qemu-aarch64-static") ?? Bun.which("qemu-aarch64");
    if (!qemu) throw new SmokeFailure("qemu-aarch64-static not found (Debian: apt-get install qemu-user-static libc6:arm64)");
    return [qemu, binary];
  }
  throw new SmokeFailure(`${binary}: ELF machine 0x${machine.toString(16)} cannot run here`);
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

async function runStep(cmd: string[], cwd: string, env: Record<string, string>): Promise<Outcome> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), STEP_TIMEOUT_MS);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr, seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearTimeout(timer);
  }
}

function expect(cond: unknown, what: string, o?: Outcome): asserts cond {
  if (cond) return;
  const detail = o ? `\n--- exit ${o.code}\n--- stdout\n${o.stdout}--- stderr\n${o.stderr}` : "";
  throw new SmokeFailure(`${what}${detail}`);
}

function ok(what: string, o?: Outcome): void {
  console.log(`smoke: ok   ${what}${o ? ` (${o.seconds.toFixed(2)} s)` : ""}`);
}

/** The HTTP side of the workflow: /ping answers "pong", /echo returns what it was sent. */
function startServer() {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/ping" && req.method === "GET") return new Response("pong\n");
      if (url.pathname === "/echo" && req.method === "POST") {
        return Response.json({
          method: req.method,
          contentType: req.headers.get("content-type"),
          smoke: req.headers.get("x-smoke"),
          body: await req.json(),
        });
      }
      return new Response("not found\n", { status: 404 });
    },
  });
}

async function smoke(binary: string): Promise<void> {
  const cmd = launcher(binary);
  console.log(`smoke: ${cmd.join(" ")}`);
  const dir = mkdtempSync(join(tmpdir(), "picoflow-smoke-"));
  const server = startServer();
  try {
    // A .env and a bunfig.toml in the working directory must not be picked up by the binary.
    writeFileSync(join(dir, ".env"), "PICOFLOW_LOG_LEVEL=not-a-level\n");
    writeFileSync(join(dir, "evil.ts"), "console.error('bunfig preload ran'); process.exit(42);\n");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./evil.ts"]\n');
    const db = join(dir, "smoke.db");
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      PICOFLOW_LOG_FORMAT: "json",
      PICOFLOW_SMOKE_URL: `http://127.0.0.1:${server.port}`,
    };

    const stamp = expectedStamp();
    const arch = elfMachine(binary) === 0xb7 ? "arm64" : "x64";
    const want = `picoflow ${pkg.version} (${buildLabel(stamp.commit, stamp.date)}) linux-${arch}, Bun `;
    let o = await runStep([...cmd, "--version"], dir, env);
    expect(o.code === 0 && o.stdout.startsWith(want), `--version should start with ${JSON.stringify(want)} (the version and HEAD's commit)`, o);
    ok(`--version: ${o.stdout.trim()}`, o);

    o = await runStep([...cmd, "validate", WORKFLOW], dir, env);
    expect(o.code === 0 && o.stdout.includes("'smoke' is valid") && o.stdout.includes("Tasks:        4"), "validate should accept examples/smoke.yaml", o);
    ok("validate examples/smoke.yaml", o);

    o = await runStep([...cmd, "--db-path", db, "run", WORKFLOW], dir, env);
    expect(o.code === 0, "run should succeed", o);
    ok("run examples/smoke.yaml", o);

    checkDatabase(db);
    ok("database holds the run");
  } finally {
    server.stop(true);
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkDatabase(path: string): void {
  const db = new Database(path, { readonly: true });
  try {
    const runs = db.query("SELECT * FROM workflow_executions").all() as Record<string, any>[];
    expect(runs.length === 1, `expected 1 workflow execution, found ${runs.length}`);
    const run = runs[0]!;
    expect(
      run.workflow_name === "smoke" && run.status === "success" && run.total_tasks === 4 && run.successful_tasks === 4 && run.failed_tasks === 0,
      `workflow execution should be a 4/4 success: ${JSON.stringify(run)}`,
    );
    expect(run.finished_at && run.duration_seconds >= 0, "workflow execution should have finished_at and duration");
    const tasks = db.query("SELECT * FROM task_executions WHERE workflow_execution_id = ? ORDER BY started_at").all(run.id) as Record<string, any>[];
    const by = new Map(tasks.map((t) => [t.task_name as string, t]));
    expect(tasks.length === 4 && by.size === 4, `expected 4 task executions, found ${tasks.map((t) => t.task_name).join(", ")}`);
    for (const t of tasks) {
      expect(t.status === "success" && t.attempt === 1 && t.finished_at, `task ${t.task_name} should have succeeded once: ${JSON.stringify(t)}`);
    }
    const hello = by.get("hello")!;
    expect(hello.exit_code === 0 && hello.stdout.includes("hello from picoflow") && hello.stderr.includes("to stderr"), `hello output: ${JSON.stringify(hello)}`);
    const ping = by.get("ping")!;
    expect(ping.http_status === 200 && ping.stdout.includes("pong"), `ping should record HTTP 200 and "pong": ${JSON.stringify(ping)}`);
    const post = by.get("post")!;
    let echoed: any;
    try {
      echoed = JSON.parse(post.stdout);
    } catch {
      expect(false, `post stdout should be the server's JSON: ${JSON.stringify(post.stdout)}`);
    }
    expect(
      post.http_status === 200 &&
        echoed.contentType?.startsWith("application/json") &&
        echoed.smoke === "picoflow" &&
        echoed.body?.message === "hello over http" &&
        echoed.body?.count === 3,
      `post should send the JSON body and header: ${post.stdout}`,
    );
    const done = by.get("done")!;
    expect(done.started_at >= ping.finished_at && done.started_at >= post.finished_at, "done must start after ping and post finished");
    expect(done.stdout.includes("all tasks ran"), `done output: ${JSON.stringify(done.stdout)}`);
    const pending = db.query("SELECT count(*) AS n FROM task_output_chunks").get() as { n: number };
    expect(pending.n === 0, "no live-output chunks should be left after the run");
  } finally {
    db.close();
  }
}

const binary = resolve(process.argv[2] ?? join(ROOT, "dist/picoflow-linux-arm64"));
try {
  await smoke(binary);
  console.log(`smoke: passed for ${binary}`);
} catch (err) {
  if (!(err instanceof SmokeFailure)) throw err;
  console.error(`smoke: FAILED for ${binary}: ${err.message}`);
  process.exitCode = 1;
}
