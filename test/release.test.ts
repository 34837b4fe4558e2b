// scripts/release.ts and scripts/changelog.ts on a scratch repository made from this
// checkout: every refusal (before anything is built), then one real `--dry-run` that builds
// both targets and must leave a bumped package.json, a released CHANGELOG.md and a
// dist/SHA256SUMS that `sha256sum -c` accepts, with no commit and no tag.
//
// The scratch repository is a copy of the files git knows here (tracked, plus untracked ones
// not ignored, so uncommitted work is tested too) committed in a fresh `git init`: the same
// in CI, where the tree is committed, and in a working tree with changes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "./helpers.ts";

let repo = "";
let pkgVersion = "";

function git(args: string[], cwd = repo): string {
  const p = Bun.spawnSync(["git", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function script(name: string, args: string[]): Promise<Result> {
  const p = Bun.spawn([process.execPath, `scripts/${name}`, ...args], { cwd: repo, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** The next minor version after package.json's, so the test outlives real releases. */
function nextMinor(v: string): string {
  const [major, minor] = v.split(".").map(Number);
  return `${major}.${minor! + 1}.0`;
}

/** The lines between a `## [name]` heading and the next `## ` or the link references. */
function section(text: string, name: string): string {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.toLowerCase().startsWith(`## [${name.toLowerCase()}]`));
  if (at < 0) return "<none>";
  let end = at + 1;
  while (end < lines.length && !lines[end]!.startsWith("## ") && !/^\[[^\]]+\]: /.test(lines[end]!)) end++;
  return lines.slice(at + 1, end).join("\n").trim();
}

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), "picoflow-release-"));
  const files = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    .split("\0")
    .filter((f) => f && existsSync(join(ROOT, f)));
  for (const f of new Set(files)) {
    mkdirSync(dirname(join(repo, f)), { recursive: true });
    cpSync(join(ROOT, f), join(repo, f), { dereference: false });
  }
  git(["init", "-q", "-b", "main"]);
  git(["config", "user.name", "Release Test"]);
  git(["config", "user.email", "release-test@example.invalid"]);
  git(["add", "-A"]);
  git(["commit", "-q", "-m", "snapshot"]);
  // The build needs the locked dependencies; without install scripts, as the build requires.
  const install = Bun.spawnSync([process.execPath, "install", "--frozen-lockfile", "--ignore-scripts"], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  if (install.exitCode !== 0) throw new Error(`bun install: ${install.stderr.toString()}`);
  expect(git(["status", "--porcelain"])).toBe("");
  pkgVersion = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version;
}, 300_000);

afterAll(() => {
  if (repo) rmSync(repo, { recursive: true, force: true });
});

/** A refusal: exit 1, one line naming the problem, and nothing written or built. */
async function expectRefusal(args: string[], message: RegExp): Promise<void> {
  const pkg = readFileSync(join(repo, "package.json"), "utf8");
  const changelog = readFileSync(join(repo, "CHANGELOG.md"), "utf8");
  const r = await script("release.ts", args);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(r.stdout).not.toContain("building");
  expect(existsSync(join(repo, "dist/picoflow-linux-x64"))).toBe(false);
  expect(readFileSync(join(repo, "package.json"), "utf8")).toBe(pkg);
  expect(readFileSync(join(repo, "CHANGELOG.md"), "utf8")).toBe(changelog);
}

describe("release.ts refuses before building", () => {
  test("a version that is not X.Y.Z", async () => {
    await expectRefusal(["1.2"], /^release: '1\.2' is not a version X\.Y\.Z/);
    await expectRefusal(["1.2.3-rc.1"], /'1\.2\.3-rc\.1' is not a version X\.Y\.Z/);
  });

  test("a version not newer than package.json's", async () => {
    await expectRefusal([pkgVersion], new RegExp(`${pkgVersion.replaceAll(".", "\\.")} is not newer than package\\.json's version`));
    await expectRefusal(["0.0.9"], /0\.0\.9 is not newer than package\.json's version/);
  });

  test("a dirty working tree", async () => {
    writeFileSync(join(repo, "stray.txt"), "uncommitted\n");
    try {
      await expectRefusal([nextMinor(pkgVersion)], /the working tree has changes/);
    } finally {
      rmSync(join(repo, "stray.txt"));
    }
  });

  test("an existing tag", async () => {
    const v = nextMinor(pkgVersion);
    git(["tag", `v${v}`]);
    try {
      await expectRefusal([v], new RegExp(`the tag v${v.replaceAll(".", "\\.")} already exists`));
    } finally {
      git(["tag", "-d", `v${v}`]);
    }
  });

  test("an empty Unreleased section", async () => {
    const path = join(repo, "CHANGELOG.md");
    const text = readFileSync(path, "utf8");
    const body = section(text, "Unreleased");
    // Empty headings kept as a template are not content either.
    writeFileSync(path, text.replace(body, "### Added\n\n### Fixed"));
    git(["commit", "-q", "-am", "empty unreleased"]);
    try {
      await expectRefusal([nextMinor(pkgVersion)], /the Unreleased section of CHANGELOG\.md is empty/);
    } finally {
      git(["reset", "-q", "--hard", "HEAD~1"]);
    }
  });
});

describe("changelog.ts", () => {
  test("prints a version's section, without the link references", async () => {
    const r = await script("changelog.ts", ["0.1.0"]);
    expect(r.code).toBe(0);
    const text = readFileSync(join(repo, "CHANGELOG.md"), "utf8");
    expect(r.stdout.trim()).toBe(section(text, "0.1.0"));
    expect(r.stdout).toContain("### Added");
    expect(r.stdout).not.toContain("[0.1.0]:");
    expect(r.stdout).not.toContain("## [");
  });

  test("fails with one line for a version it does not have", async () => {
    const r = await script("changelog.ts", ["9.9.9"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("changelog: CHANGELOG.md has no section '## [9.9.9]'\n");
  });
});

describe("release.ts --dry-run", () => {
  test(
    "bumps, moves Unreleased, builds with SHA256SUMS; no commit, no tag",
    async () => {
      const v = nextMinor(pkgVersion);
      // The install one-liners name an older tag, as after the previous release.
      for (const rel of ["README.md", "docs/daemon.md"]) {
        const path = join(repo, rel);
        writeFileSync(path, readFileSync(path, "utf8").replace(/(\/picoflow\/)v\d+\.\d+\.\d+(\/install\.sh)/g, "$1v0.0.1$2"));
      }
      git(["commit", "-qam", "install docs of an older release"]);
      const pkgBefore = readFileSync(join(repo, "package.json"), "utf8");
      const changelogBefore = readFileSync(join(repo, "CHANGELOG.md"), "utf8");
      const unreleased = section(changelogBefore, "Unreleased");
      const head = git(["rev-parse", "HEAD"]);
      const dayBefore = new Date().toISOString().slice(0, 10);
      const readmeBefore = readFileSync(join(repo, "README.md"), "utf8");
      expect(readmeBefore).toContain("/picoflow/v0.0.1/install.sh");

      const r = await script("release.ts", [v, "--dry-run"]);
      const dayAfter = new Date().toISOString().slice(0, 10);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/dry run: no commit and no tag/);

      // package.json: only the version's value changed.
      const pkgAfter = readFileSync(join(repo, "package.json"), "utf8");
      expect(JSON.parse(pkgAfter).version).toBe(v);
      expect(pkgAfter).toBe(pkgBefore.replace(`"version": "${pkgVersion}"`, `"version": "${v}"`));

      // CHANGELOG.md: an empty Unreleased, then the new version dated today with the old notes.
      const changelog = readFileSync(join(repo, "CHANGELOG.md"), "utf8");
      expect(section(changelog, "Unreleased")).toBe("");
      const heading = changelog.split("\n").find((l) => l.startsWith(`## [${v}]`));
      expect([`## [${v}] - ${dayBefore}`, `## [${v}] - ${dayAfter}`]).toContain(heading!);
      expect(changelog.indexOf("## [Unreleased]")).toBeLessThan(changelog.indexOf(`## [${v}]`));
      expect(section(changelog, v)).toBe(unreleased);
      expect(section(changelog, pkgVersion)).toBe(section(changelogBefore, pkgVersion));
      expect(changelog).toContain(`[unreleased]: https://github.com/zoza1982/picoflow/compare/v${v}...HEAD\n`);
      expect(changelog).toContain(`[${v}]: https://github.com/zoza1982/picoflow/compare/v${pkgVersion}...v${v}\n`);
      expect(changelog).toContain(`[${pkgVersion}]: https://github.com/zoza1982/picoflow/`);

      // dist/: both binaries, and SHA256SUMS that sha256sum itself verifies.
      const sums = readFileSync(join(repo, "dist/SHA256SUMS"), "utf8");
      expect(sums).toMatch(/^[0-9a-f]{64} [ *]picoflow-linux-arm64$/m);
      expect(sums).toMatch(/^[0-9a-f]{64} [ *]picoflow-linux-x64$/m);
      const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: join(repo, "dist"), stdout: "pipe", stderr: "pipe" });
      expect(check.stdout.toString().trim().split("\n").sort()).toEqual(["picoflow-linux-arm64: OK", "picoflow-linux-x64: OK"]);
      expect(check.exitCode).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`checked picoflow-linux-x64 --version: .*${v.replaceAll(".", "\\.")}`));

      // The one-line install fetches the new tag's install.sh; nothing else in the README moved.
      const readme = readFileSync(join(repo, "README.md"), "utf8");
      expect(readme).toContain(`/picoflow/v${v}/install.sh`);
      expect(readme).toBe(readmeBefore.replace(/(\/picoflow\/)v\d+\.\d+\.\d+(\/install\.sh)/g, `$1v${v}$2`));
      expect(readFileSync(join(repo, "docs/daemon.md"), "utf8")).toContain(`/picoflow/v${v}/install.sh`);

      // Nothing committed or tagged; the changes are there to look at.
      expect(git(["rev-parse", "HEAD"])).toBe(head);
      expect(git(["tag", "--list"])).toBe("");
      expect(git(["status", "--porcelain"]).split("\n").filter(Boolean).sort()).toEqual([" M CHANGELOG.md", " M README.md", " M docs/daemon.md", " M package.json"]);
    },
    600_000,
  );
});
