// Shared test helpers: temp dirs, workflow files, running the real CLI, reading the database.

import { Database } from "bun:sqlite";
import { afterAll } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");

/**
 * The command that runs PicoFlow: the compiled binary when PICOFLOW_BIN is set (CI runs the
 * suite against dist/picoflow-linux-x64 this way), else the source with this Bun.
 */
export function picoflowCommand(): string[] {
  const bin = process.env.PICOFLOW_BIN;
  return bin ? [resolve(bin)] : [process.execPath, join(ROOT, "src/main.ts")];
}

export interface Sandbox {
  dir: string;
  db: string;
  /** Write a file in the sandbox; returns its path. */
  file(name: string, text: string): string;
  /** Write a workflow file; returns its path. */
  workflow(yaml: string, name?: string): string;
  /** Environment for the CLI: HOME in the sandbox, no config from the machine, fast retries. */
  env: Record<string, string>;
  cleanup(): void;
}

/** Fast defaults for tests: no real backoff sleeps, a short kill grace. */
export const FAST_CONFIG = `
[retry]
max_backoff_seconds = 0
[timeout]
kill_grace_seconds = 1
`;

export function sandbox(config: string = FAST_CONFIG): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), "picoflow-test-"));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  if (config) file("picoflow.toml", config);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("PICOFLOW_")) env[k] = v;
  }
  env.PICOFLOW_TEST_MARK = process.env.PICOFLOW_TEST_MARK!;
  env.HOME = dir;
  env.PICOFLOW_LOG_FORMAT = "json";
  let n = 0;
  return {
    dir,
    db: join(dir, "picoflow.db"),
    file,
    workflow: (yaml, name) => file(name ?? `wf${++n}.yaml`, yaml),
    env,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Sandboxes for one test file: each gets `config` unless given its own, and all are removed
 * when the file's tests are done.
 */
export function sandboxMaker(config: string = FAST_CONFIG): (own?: string) => Sandbox {
  const made: Sandbox[] = [];
  afterAll(() => made.forEach((s) => s.cleanup()));
  return (own = config) => {
    const s = sandbox(own);
    made.push(s);
    return s;
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion in the sandbox's directory. */
export async function cli(sb: Sandbox, args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  const p = Bun.spawn([...picoflowCommand(), ...args], {
    cwd: sb.dir,
    env: { ...sb.env, ...extraEnv },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** Start the CLI without waiting; the caller must end it. */
export function spawnCli(sb: Sandbox, args: string[], extraEnv: Record<string, string> = {}) {
  return Bun.spawn([...picoflowCommand(), ...args], {
    cwd: sb.dir,
    env: { ...sb.env, ...extraEnv },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Open the sandbox database read-only for assertions. */
export function readDb(path: string): Database {
  const db = new Database(path, { readonly: true });
  db.run("PRAGMA busy_timeout = 10000");
  return db;
}

export function rows<T = Record<string, any>>(path: string, sql: string, ...params: any[]): T[] {
  const db = readDb(path);
  try {
    return db.query(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Poll until `fn` returns a truthy value (or throw after `ms`). For state in another process. */
export async function waitFor<T>(fn: () => T | Promise<T>, ms = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** True if a process with this pid exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

/** Live processes whose command line contains `needle` (a unique marker of the test's, such as a sleep time). */
export function pidsWith(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(needle) && alive(Number(d))) out.push(Number(d));
    } catch {}
  }
  return out;
}

/** A scheduled workflow running one shell command; `extra` goes before `tasks:`. */
export function scheduled(name: string, schedule: string, command: string, args: string[] = [], extra = ""): string {
  return `name: ${name}
schedule: "${schedule}"
${extra}tasks:
  - name: work
    type: shell
    config:
      command: ${command}
      args: ${JSON.stringify(args)}
`;
}

/** A daemon started with `daemon start ARGS`, its stderr collected as it comes. */
export interface Daemon {
  pid: number;
  proc: ReturnType<typeof spawnCli>;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** Its JSON log lines so far. */
  lines(): Record<string, any>[];
  exited: Promise<number>;
  /** The exit code once it has exited, else undefined. */
  code(): number | undefined;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number>;
}

/** Start `daemon start ARGS` and wait for its "daemon started" line (throws with its log if it exits first). */
export async function startDaemon(sb: Sandbox, args: string[], env: Record<string, string> = {}): Promise<Daemon> {
  const proc = spawnCli(sb, ["daemon", "start", ...args], env);
  let text = "";
  let code: number | undefined;
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of proc.stderr) text += decoder.decode(chunk, { stream: true });
  })();
  const exited = proc.exited.then(async (c) => {
    await reading;
    code = c;
    return c;
  });
  const d: Daemon = {
    pid: proc.pid,
    proc,
    log: () => text,
    lines: () =>
      text
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l)),
    exited,
    code: () => code,
    stop: async () => {
      try {
        proc.kill("SIGTERM");
      } catch {}
      return exited;
    },
  };
  const started = await Promise.race([
    waitFor(() => text.includes('"daemon started"'), 30_000, "daemon start").then(() => true),
    exited.then(() => false),
  ]);
  if (!started) throw new Error(`daemon did not start:\n${text}`);
  return d;
}

// Copied verbatim from the reference's "Query Examples" (api-reference.md).
/** The reference's example queries, used verbatim against our databases. */
export const SPEC_QUERIES = {
  recent: `SELECT
  workflow_name,
  started_at,
  status,
  duration_seconds,
  successful_tasks || '/' || total_tasks as tasks
FROM workflow_executions
ORDER BY started_at DESC
LIMIT 10;`,
  failed24h: `SELECT
  we.workflow_name,
  te.task_name,
  te.started_at,
  te.error_message
FROM task_executions te
JOIN workflow_executions we ON te.workflow_execution_id = we.id
WHERE te.status = 'failed'
  AND te.started_at > datetime('now', '-1 day')
ORDER BY te.started_at DESC;`,
  successRate: `SELECT
  workflow_name,
  COUNT(*) as total,
  SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) as success,
  ROUND(100.0 * SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2) as success_rate
FROM workflow_executions
WHERE started_at > datetime('now', '-30 days')
GROUP BY workflow_name
ORDER BY success_rate DESC;`,
  taskDuration: `SELECT
  task_name,
  COUNT(*) as executions,
  ROUND(AVG(duration_seconds), 2) as avg_duration,
  ROUND(MIN(duration_seconds), 2) as min_duration,
  ROUND(MAX(duration_seconds), 2) as max_duration
FROM task_executions
WHERE finished_at IS NOT NULL
  AND started_at > datetime('now', '-30 days')
GROUP BY task_name
ORDER BY avg_duration DESC;`,
};

/**
 * The commit HEAD and its date (ISO 8601 with offset): what a binary built from this checkout
 * is stamped with (CI builds a clean clone, so the binary under test is HEAD).
 */
export function headCommit(): { sha: string; date: string } {
  const git = (...args: string[]) => {
    const p = Bun.spawnSync(["git", "-C", ROOT, ...args], { stdout: "pipe", stderr: "pipe" });
    if (p.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${p.stderr.toString().trim()}`);
    return p.stdout.toString().trim();
  };
  return { sha: git("rev-parse", "HEAD"), date: git("log", "-1", "--format=%cI", "HEAD") };
}
