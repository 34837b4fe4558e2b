// The version a user sees: `picoflow --version`, /healthz and `daemon status`, from source
// and (PICOFLOW_BIN, as CI runs it) from the compiled binary, which must name the commit it
// was built from. Then scripts/build.ts itself, in a scratch git repository holding this
// working tree: the stamp (commit, "-dirty", the commit's date), SHA256SUMS, and tarball
// builds (no .git) from SOURCE_DATE_EPOCH and PICOFLOW_COMMIT.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { socketPathFor } from "../src/daemon/control.ts";
import { cli, FAST_CONFIG, headCommit, ROOT, sandboxMaker, scheduled, startDaemon, waitFor } from "./helpers.ts";

setDefaultTimeout(120_000);

const PKG_VERSION: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
const BIN = process.env.PICOFLOW_BIN;
const ARCH = process.arch === "arm64" ? "arm64" : "x64";

const sb = sandboxMaker(`${FAST_CONFIG}
[metrics]
enabled = true
`);

function git(cwd: string, ...args: string[]): string {
  const p = Bun.spawnSync(["git", "-C", cwd, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" },
  });
  if (p.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${p.stderr.toString().trim()}`);
  return p.stdout.toString().trim();
}

/**
 * What the binary under test is stamped with: HEAD (CI builds a clean clone), "-dirty" when
 * tracked files of this checkout have changes (a local build of work in progress).
 */
function expectedStamp(): { commit: string; short: string; date: string; day: string } {
  const head = headCommit();
  const dirty = git(ROOT, "status", "--porcelain", "--untracked-files=no") !== "";
  const date = new Date(head.date).toISOString().replace(/\.\d{3}Z$/, "Z");
  return { commit: head.sha + (dirty ? "-dirty" : ""), short: head.sha.slice(0, 12) + (dirty ? "-dirty" : ""), date, day: date.slice(0, 10) };
}

/** The build label --version and the table show: "commit 1a2b3c4d5e6f, 2026-12-01" or "source". */
function expectedLabel(): string {
  if (!BIN) return "source";
  const s = expectedStamp();
  return `commit ${s.short}, ${s.day}`;
}

describe("picoflow --version", () => {
  test("--version and -V print the package version, the build, the platform and Bun on one line", async () => {
    const s = sb();
    for (const flag of ["--version", "-V"]) {
      const r = await cli(s, [flag]);
      expect(r).toEqual({ code: 0, stdout: `picoflow ${PKG_VERSION} (${expectedLabel()}) linux-${ARCH}, Bun ${Bun.version}\n`, stderr: "" });
    }
  });

  test.skipIf(!BIN)("the binary names HEAD's commit (12 characters) and its date (only with PICOFLOW_BIN, which CI sets: from source there is no commit)", async () => {
    const r = await cli(sb(), ["--version"]);
    const m = /^picoflow (\S+) \(commit ([0-9a-f]{12}(?:-dirty)?), (\d{4}-\d\d-\d\d)\) linux-(x64|arm64), Bun (\S+)\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    const want = expectedStamp();
    expect({ version: m![1], commit: m![2], date: m![3] }).toEqual({ version: PKG_VERSION, commit: want.short, date: want.day });
  });
});

describe("the daemon shows its version", () => {
  test("/healthz, daemon status (live and from the database) carry version, commit and commit date", async () => {
    const s = sb();
    const f = s.workflow(scheduled("versioned", "0 0 3 * * *", "/bin/true"));
    const d = await startDaemon(s, [f], { PICOFLOW_METRICS_PORT: "0" });
    const want = BIN
      ? { version: PKG_VERSION, commit: expectedStamp().commit, commit_date: expectedStamp().date }
      : { version: PKG_VERSION, commit: "source", commit_date: null };
    try {
      const url: string = (await waitFor(() => d.lines().find((l) => l.msg === "serving metrics"), 10_000, "metrics url")).url;
      const health = await (await fetch(url.replace(/metrics$/, "healthz"))).json();
      expect(health).toMatchObject({ status: "ok", ...want });
      expect(d.lines().find((l) => l.msg === "daemon started")).toMatchObject({ version: PKG_VERSION, commit: want.commit });

      const live = await cli(s, ["daemon", "status", "--format", "json"]);
      expect(live.code).toBe(0);
      expect(JSON.parse(live.stdout)).toMatchObject({ source: "daemon", ...want });
      const table = await cli(s, ["daemon", "status"]);
      expect(table.stdout).toContain(`Version:   ${PKG_VERSION} (${expectedLabel()})\n`);

      // With its control socket gone, status falls back to the state row the daemon wrote.
      unlinkSync(socketPathFor(join(s.dir, "picoflow.pid")));
      const stored = await cli(s, ["daemon", "status", "--format", "json"]);
      expect(JSON.parse(stored.stdout)).toMatchObject({ source: "database", ...want });
      expect((await cli(s, ["daemon", "status"])).stdout).toContain(`Version:   ${PKG_VERSION} (${expectedLabel()})\n`);
    } finally {
      await d.stop();
    }
  });
});

// The build is tested once, from source: against PICOFLOW_BIN it would only repeat.
describe.skipIf(Boolean(BIN))("scripts/build.ts stamps the binary", () => {
  const made: string[] = [];
  const scratch = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };

  /** A git repository holding this working tree as one commit dated `date`, with node_modules linked in. */
  function repoOfWorkingTree(date: string): string {
    const dir = scratch("picoflow-stamp-");
    const files = git(ROOT, "ls-files", "-co", "--exclude-standard", "-z").split("\0").filter((f) => f && existsSync(join(ROOT, f)));
    for (const f of files) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      cpSync(join(ROOT, f), join(dir, f));
    }
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    git(dir, "init", "-q");
    git(dir, "add", "-A");
    const p = Bun.spawnSync(["git", "-C", dir, "commit", "-q", "-m", "stamp test"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com", GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
    });
    if (p.exitCode !== 0) throw new Error(`git commit: ${p.stderr.toString()}`);
    return dir;
  }

  async function run(cmd: string[], cwd: string, env: Record<string, string | undefined> = process.env) {
    const p = Bun.spawn(cmd, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  }

  const build = (repo: string, out: string, env?: Record<string, string | undefined>) =>
    run([process.execPath, "scripts/build.ts", "--target", `linux-${ARCH}`, "--outdir", out], repo, env);

  test("clean, dirty and tarball builds; SHA256SUMS; the date is the commit's", async () => {
    try {
      // A commit date far from today: a build that used the clock would show today.
      const repo = repoOfWorkingTree("2025-03-04T05:06:07Z");
      const sha = git(repo, "rev-parse", "HEAD");
      const name = `picoflow-linux-${ARCH}`;

      const clean = join(scratch("picoflow-stamp-out-"), "a");
      const a = await build(repo, clean);
      expect(a.stderr).toBe("");
      expect(a.code).toBe(0);
      const line = (await run([join(clean, name), "--version"], clean)).stdout;
      expect(line).toBe(`picoflow ${PKG_VERSION} (commit ${sha.slice(0, 12)}, 2025-03-04) linux-${ARCH}, Bun ${Bun.version}\n`);
      // SHA256SUMS: this invocation's binary, in the format `sha256sum -c` checks.
      const sums = readFileSync(join(clean, "SHA256SUMS"), "utf8");
      expect(sums).toMatch(new RegExp(`^[0-9a-f]{64}  ${name}\\n$`));
      expect(sums).toBe(readFileSync(join(clean, `${name}.sha256`), "utf8"));
      const check = await run(["sha256sum", "-c", "SHA256SUMS"], clean);
      expect({ code: check.code, out: check.stdout }).toEqual({ code: 0, out: `${name}: OK\n` });

      // A change to a tracked file: still built, marked dirty.
      writeFileSync(join(repo, "README.md"), readFileSync(join(repo, "README.md"), "utf8") + "\nlocal change\n");
      const dirtyOut = join(scratch("picoflow-stamp-out-"), "b");
      expect((await build(repo, dirtyOut)).code).toBe(0);
      expect((await run([join(dirtyOut, name), "--version"], dirtyOut)).stdout).toStartWith(`picoflow ${PKG_VERSION} (commit ${sha.slice(0, 12)}-dirty, 2025-03-04) `);
      git(repo, "checkout", "--", "README.md");

      // No .git (a tarball): the environment must say what git would have.
      renameSync(join(repo, ".git"), join(repo, "dot-git"));
      const env = { ...process.env, SOURCE_DATE_EPOCH: undefined, PICOFLOW_COMMIT: undefined };
      const refused = await build(repo, join(scratch("picoflow-stamp-out-"), "c"), env);
      expect({ code: refused.code, stderr: refused.stderr }).toEqual({
        code: 1,
        stderr: "build: not a git checkout: set SOURCE_DATE_EPOCH (the commit's date, seconds since 1970) and PICOFLOW_COMMIT (its SHA) to stamp the binary\n",
      });
      const tarball = join(scratch("picoflow-stamp-out-"), "d");
      const epoch = String(Date.parse("2025-03-04T05:06:07Z") / 1000);
      expect((await build(repo, tarball, { ...env, SOURCE_DATE_EPOCH: epoch, PICOFLOW_COMMIT: sha })).code).toBe(0);
      // The same commit and date as the git build: the same bytes.
      expect(readFileSync(join(tarball, "SHA256SUMS"), "utf8")).toBe(sums);
    } finally {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    }
  });
});
