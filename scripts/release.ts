// Cut a release: bump the version, move "Unreleased" in CHANGELOG.md under it, commit, build
// and check both binaries with their SHA256SUMS, then tag vVERSION. It never pushes: it
// prints the two `git push` commands, and the tag's push starts the release workflow.
//
//   bun scripts/release.ts VERSION [--dry-run]
//
// It also points the docs' one-line install (README.md, docs/daemon.md) at the new tag.
// --dry-run does everything but the commit and the tag: package.json, CHANGELOG.md, those docs
// and dist/ are left changed for you to look at. Every refusal happens before anything is written or
// built; if a later step fails, the checkout is put back as it was (dist/ aside). See
// docs/releasing.md.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CHANGELOG, ChangelogError, releaseChangelog, sectionBody } from "./changelog.ts";

const ROOT = resolve(import.meta.dir, "..");
const PACKAGE_JSON = join(ROOT, "package.json");
const DIST = join(ROOT, "dist");
const BINARIES = ["picoflow-linux-arm64", "picoflow-linux-x64"] as const;
/** Docs whose one-line install fetches install.sh from a tag: pointed at the new one. */
const INSTALL_DOCS = ["README.md", "docs/daemon.md"] as const;
/** The tag in a raw URL of install.sh (…/picoflow/v0.2.0/install.sh). */
const INSTALL_URL_TAG = /(\/picoflow\/)v\d+\.\d+\.\d+(\/install\.sh)/g;

class ReleaseError extends Error {}

function step(line: string): void {
  console.log(`release: ${line}`);
}

interface Options {
  version: string;
  dryRun: boolean;
}

function parseArgs(argv: string[]): Options {
  let version: string | undefined;
  let dryRun = false;
  for (const a of argv) {
    if (a === "--dry-run") dryRun = true;
    else if (a === "-h" || a === "--help") {
      console.log("usage: bun scripts/release.ts VERSION [--dry-run]   (VERSION: X.Y.Z, newer than package.json's)");
      process.exit(0);
    } else if (a.startsWith("-")) throw new ReleaseError(`unknown option '${a}' (usage: bun scripts/release.ts VERSION [--dry-run])`);
    else if (version !== undefined) throw new ReleaseError(`one VERSION only, got '${version}' and '${a}'`);
    else version = a;
  }
  if (version === undefined) throw new ReleaseError("usage: bun scripts/release.ts VERSION [--dry-run]");
  return { version: version.replace(/^v(?=\d)/, ""), dryRun };
}

/**
 * X.Y.Z with no leading zeros. Pre-release versions (1.0.0-rc.1) are refused on purpose:
 * each release moves "Unreleased" under its own heading, so an rc would take the notes the
 * final release needs.
 */
function parseSemver(v: string): [number, number, number] | null {
  const m = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function newer(a: [number, number, number], b: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

/** Run git in the checkout; its stderr goes into the error when it fails. */
function git(args: string[], allowFail = false): { code: number; out: string } {
  const p = Bun.spawnSync(["git", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const out = p.stdout.toString();
  if (p.exitCode !== 0 && !allowFail) {
    throw new ReleaseError(`git ${args[0]} failed: ${p.stderr.toString().trim() || `exit ${p.exitCode}`}`);
  }
  return { code: p.exitCode, out };
}

function readPackageVersion(text: string): string {
  const v = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof v !== "string") throw new ReleaseError('package.json has no "version"');
  return v;
}

/** package.json with only the version's value replaced, so its formatting stays as it is. */
function bumpPackageJson(text: string, version: string): string {
  const re = /("version"\s*:\s*")[^"]*(")/;
  if (!re.test(text)) throw new ReleaseError('package.json has no "version" to bump');
  const bumped = text.replace(re, `$1${version}$2`);
  if (readPackageVersion(bumped) !== version) throw new ReleaseError('package.json: the first "version" key is not the package\'s version');
  return bumped;
}

/** Every refusal, before anything is touched: the order is the order a user fixes them in. */
function preflight(version: string): { pkgText: string; changelogText: string; previous: string } {
  const semver = parseSemver(version);
  if (!semver) throw new ReleaseError(`'${version}' is not a version X.Y.Z (semantic versioning; pre-releases such as 1.0.0-rc.1 are not supported)`);
  const dirty = git(["status", "--porcelain"]).out.trim();
  if (dirty) throw new ReleaseError(`the working tree has changes (git status --porcelain: ${dirty.split("\n").length} line(s)); commit or stash them first`);
  const pkgText = readFileSync(PACKAGE_JSON, "utf8");
  const previous = readPackageVersion(pkgText);
  const prevSemver = parseSemver(previous);
  if (!prevSemver) throw new ReleaseError(`package.json's version '${previous}' is not X.Y.Z`);
  if (!newer(semver, prevSemver)) throw new ReleaseError(`${version} is not newer than package.json's version ${previous}`);
  if (git(["rev-parse", "-q", "--verify", `refs/tags/v${version}`], true).code === 0) {
    throw new ReleaseError(`the tag v${version} already exists`);
  }
  if (!existsSync(CHANGELOG)) throw new ReleaseError("CHANGELOG.md not found");
  const changelogText = readFileSync(CHANGELOG, "utf8");
  if (!sectionBody(changelogText, "Unreleased")) {
    throw new ReleaseError("the Unreleased section of CHANGELOG.md is empty: write down what changed first");
  }
  return { pkgText, changelogText, previous };
}

/** `bun scripts/build.ts` into dist/: it compiles both targets and runs its own checks. */
function build(): void {
  // A SHA256SUMS left from an earlier build must not pass for this one.
  rmSync(join(DIST, "SHA256SUMS"), { force: true });
  const p = Bun.spawnSync([process.execPath, "scripts/build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const output = (p.stdout.toString() + p.stderr.toString()).trim();
  if (p.exitCode !== 0) throw new ReleaseError(`the build failed (bun scripts/build.ts, exit ${p.exitCode}):\n${output}`);
  for (const line of output.split("\n")) if (/^built /.test(line)) step(`  ${line}`);
}

function run(cmd: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore", env: {} });
  return { code: p.exitCode, out: (p.stdout.toString() + p.stderr.toString()).trim() };
}

/** `--version` must name the new version: natively for this machine's binary, under qemu for arm64. */
function checkVersions(version: string, dryRun: boolean): void {
  const host = process.arch === "arm64" ? "picoflow-linux-arm64" : "picoflow-linux-x64";
  for (const name of BINARIES) {
    const path = join(DIST, name);
    let cmd: string[];
    if (name === host) cmd = [path, "--version"];
    else {
      const qemu = Bun.which("qemu-aarch64-static");
      if (name !== "picoflow-linux-arm64" || !qemu) {
        step(`skipped ${name} --version (${name === "picoflow-linux-arm64" ? "qemu-aarch64-static is not installed" : "cannot run on this machine"})`);
        continue;
      }
      cmd = [qemu, path, "--version"];
    }
    const r = run(cmd);
    const first = r.out.split("\n")[0] ?? "";
    if (r.code !== 0 || !r.out.includes(version)) {
      throw new ReleaseError(`${name} --version printed ${JSON.stringify(first)} (exit ${r.code}); expected version ${version}`);
    }
    // A real release is built from its commit: a "-dirty" stamp means files outside it went in.
    if (!dryRun && first.includes("-dirty")) {
      throw new ReleaseError(`${name} --version printed ${JSON.stringify(first)}: built from uncommitted changes, not from the release commit`);
    }
    step(`checked ${name} --version${cmd[0] === path ? "" : " (under qemu-aarch64-static)"}: ${first}`);
  }
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * dist/SHA256SUMS, written by the build, must list both binaries with the hashes of the files
 * on disk (the format `sha256sum -c` reads).
 */
function checkSums(): void {
  const sumsPath = join(DIST, "SHA256SUMS");
  if (!existsSync(sumsPath)) throw new ReleaseError("the build wrote no dist/SHA256SUMS");
  const listed = new Map<string, string>();
  for (const line of readFileSync(sumsPath, "utf8").split("\n")) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) listed.set(m[2]!, m[1]!);
  }
  for (const name of BINARIES) {
    const want = listed.get(name);
    if (!want) throw new ReleaseError(`dist/SHA256SUMS does not list ${name}`);
    if (want !== sha256(join(DIST, name))) throw new ReleaseError(`dist/SHA256SUMS: the hash of ${name} does not match the file`);
  }
  step(`verified dist/SHA256SUMS: ${BINARIES.join(", ")}`);
}

/** The docs' install one-liners, pointed at vVERSION: the script a reader fetches is the release's. */
function pointInstallDocs(version: string): Map<string, string> {
  const before = new Map<string, string>();
  for (const rel of INSTALL_DOCS) {
    const path = join(ROOT, rel);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, "utf8");
    const next = text.replace(INSTALL_URL_TAG, `$1v${version}$2`);
    if (next === text) continue;
    before.set(path, text);
    writeFileSync(path, next);
  }
  step(`install one-liners point at v${version}: ${before.size ? [...before.keys()].map((p) => p.slice(ROOT.length + 1)).join(", ") : "none needed changing"}`);
  return before;
}

function commit(version: string): void {
  git(["add", "package.json", "CHANGELOG.md", ...INSTALL_DOCS.filter((rel) => existsSync(join(ROOT, rel)))]);
  git(["commit", "-q", "-m", `Release ${version}`]);
  step(`committed "Release ${version}"`);
}

function tag(version: string, notes: string): void {
  // verbatim: the notes' "### Added" lines would otherwise be stripped as comments.
  git(["tag", "-a", `v${version}`, "--cleanup=verbatim", "-m", `PicoFlow ${version}\n\n${notes}\n`]);
  step(`tagged v${version} (annotated, with the changelog section as its message)`);
}

function currentBranch(): string {
  const b = git(["symbolic-ref", "-q", "--short", "HEAD"], true).out.trim();
  return b || "HEAD";
}

async function main(argv: string[]): Promise<number> {
  // What puts the checkout back as it was if a later step fails; it says what it did.
  let undo: (() => string) | null = null;
  try {
    const { version, dryRun } = parseArgs(argv);
    const { pkgText, changelogText, previous } = preflight(version);
    step(`releasing ${version} (package.json has ${previous})${dryRun ? ", dry run" : ""}`);

    const date = new Date().toISOString().slice(0, 10); // today, UTC
    const newChangelog = releaseChangelog(changelogText, version, date);
    undo = () => {
      writeFileSync(PACKAGE_JSON, pkgText);
      writeFileSync(CHANGELOG, changelogText);
      return "package.json and CHANGELOG.md put back as they were";
    };
    writeFileSync(PACKAGE_JSON, bumpPackageJson(pkgText, version));
    step(`package.json: version ${previous} -> ${version}`);
    writeFileSync(CHANGELOG, newChangelog);
    step(`CHANGELOG.md: Unreleased moved under [${version}] - ${date}, links updated`);
    const docsBefore = pointInstallDocs(version);
    undo = () => {
      writeFileSync(PACKAGE_JSON, pkgText);
      writeFileSync(CHANGELOG, changelogText);
      for (const [path, text] of docsBefore) writeFileSync(path, text);
      return "package.json, CHANGELOG.md and the install docs put back as they were";
    };

    if (!dryRun) {
      // Commit before building, so the binaries are stamped with the release commit (not
      // "-dirty") and are the very bytes the tag's workflow will build and publish.
      commit(version);
      undo = () => {
        git(["reset", "-q", "--hard", "HEAD~1"]);
        return "the release commit undone";
      };
    }

    step("building both targets (bun scripts/build.ts, about a minute)");
    build();
    checkVersions(version, dryRun);
    checkSums();

    if (dryRun) {
      step("dry run: no commit and no tag; package.json, CHANGELOG.md, the install docs and dist/ are changed (git diff shows them; git checkout -- . undoes it)");
      return 0;
    }
    tag(version, sectionBody(newChangelog, version));
    undo = null;
    step("done; nothing was pushed. To publish (the tag starts the release workflow):");
    console.log(`  git push origin ${currentBranch()}`);
    console.log(`  git push origin v${version}`);
    return 0;
  } catch (err) {
    if (!(err instanceof ReleaseError || err instanceof ChangelogError)) throw err;
    console.error(`release: ${err.message}`);
    try {
      if (undo) console.error(`release: ${undo()}`);
    } catch (e) {
      console.error(`release: could not undo: ${(e as Error).message}`);
    }
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
