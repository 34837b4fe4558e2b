// `bun run build`: cross-compile PicoFlow into one self-contained binary per target
// (dist/picoflow-linux-x64, dist/picoflow-linux-arm64), each with a .sha256 beside it, and a
// SHA256SUMS listing the binaries of this invocation. Each binary is stamped with the version
// (package.json), the git commit and the commit's date (never the clock: builds of one commit
// stay byte-identical); without git, SOURCE_DATE_EPOCH and PICOFLOW_COMMIT say them.
//
//   bun scripts/build.ts [--target linux-x64|linux-arm64]... [--outdir DIR] [--check-reproducible]
//
// Before compiling it refuses anything that would make the binary depend on the build
// machine: a Bun other than the pinned one, a native `.node` addon in the bundle (ssh2 and
// cpu-features must take their pure-JS paths), or source that looks itself up on disk at
// run time (import.meta.dir, __dirname). See docs/building.md.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { buildLabel } from "../src/version.ts";

const ROOT = resolve(import.meta.dir, "..");
const ENTRY = "src/main.ts";
const TARGETS = { "linux-x64": "bun-linux-x64", "linux-arm64": "bun-linux-arm64" } as const;
type Target = keyof typeof TARGETS;

interface Options {
  targets: Target[];
  outdir: string;
  checkReproducible: boolean;
}

class BuildError extends Error {}

function parseArgs(argv: string[]): Options {
  const opts: Options = { targets: [], outdir: join(ROOT, "dist"), checkReproducible: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new BuildError(`${a} needs a value`);
      return v;
    };
    if (a === "--target") {
      const t = value();
      if (!(t in TARGETS)) throw new BuildError(`unknown target '${t}' (one of: ${Object.keys(TARGETS).join(", ")})`);
      opts.targets.push(t as Target);
    } else if (a === "--outdir") opts.outdir = resolve(value());
    else if (a === "--check-reproducible") opts.checkReproducible = true;
    else if (a === "-h" || a === "--help") {
      console.log("usage: bun scripts/build.ts [--target linux-x64|linux-arm64]... [--outdir DIR] [--check-reproducible]");
      process.exit(0);
    } else throw new BuildError(`unknown argument '${a}'`);
  }
  if (!opts.targets.length) opts.targets = Object.keys(TARGETS) as Target[];
  return opts;
}

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; packageManager: string };

/** The same source built by another Bun is another binary: pin it like the lockfile pins packages. */
function checkBun(): void {
  const want = pkg.packageManager.replace(/^bun@/, "");
  if (Bun.version !== want) {
    throw new BuildError(`this is Bun ${Bun.version}; the release build needs Bun ${want} (package.json "packageManager")`);
  }
}

/** Source that finds files next to itself breaks once compiled: there is no source tree on the Pi. */
function checkNoSourceTreeLookups(): void {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.[cm]?[jt]s$/.test(e.name)) {
        readFileSync(p, "utf8")
          .split("\n")
          .forEach((line, n) => {
            if (/^\s*(\/\/|\*)/.test(line)) return;
            if (/import\.meta\.(dir|dirname|path|file|filename|url|resolve)\b|__dirname|__filename|require\.resolve/.test(line)) {
              offenders.push(`${relative(ROOT, p)}:${n + 1}: ${line.trim()}`);
            }
          });
      }
    }
  };
  walk(join(ROOT, "src"));
  if (offenders.length) {
    throw new BuildError(`source must not look itself up on disk at run time (there is no source tree next to the binary):\n  ${offenders.join("\n  ")}`);
  }
}

/** Every `.node` file under a directory. */
function nativeAddons(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".node")) out.push(relative(ROOT, p));
    }
  };
  walk(dir);
  return out;
}

/** The package directory ("node_modules/x" or "node_modules/@s/x") a bundled input belongs to. */
function packageDirOf(input: string): string | null {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m ? m[1]! : null;
}

interface Meta {
  inputs: Record<string, { imports?: { path: string; kind: string; external?: boolean }[] }>;
}

/**
 * Fail if a native addon is, or could be, in the binary. A `.node` file is tied to one CPU
 * and libc, so an x64 addon embedded in the arm64 binary (or a missing one) breaks the Pi.
 * Optional `require()`s that stay unresolved (ssh2's sshcrypto.node, cpu-features) are fine:
 * ssh2 wraps them in try/catch and uses its JavaScript implementation.
 */
function checkNoNativeAddons(meta: Meta): { optionalExternals: string[] } {
  const problems: string[] = [];
  const packages = new Set<string>();
  const optionalExternals: string[] = [];
  for (const [input, info] of Object.entries(meta.inputs)) {
    if (input.endsWith(".node")) problems.push(`${input} is bundled`);
    const dir = packageDirOf(input);
    if (dir) packages.add(dir);
    for (const imp of info.imports ?? []) {
      if (imp.path.endsWith(".node") && !imp.external) problems.push(`${input} imports ${imp.path}`);
      if (imp.external && (imp.path.endsWith(".node") || /^(cpu-features|buildcheck|nan)$/.test(imp.path))) {
        optionalExternals.push(`${input}: require('${imp.path}') left unresolved`);
      }
    }
  }
  for (const dir of packages) for (const f of nativeAddons(join(ROOT, dir))) problems.push(`${f} exists in a bundled package`);
  if (problems.length) {
    throw new BuildError(
      `a native addon would be embedded in the binary:\n  ${problems.join("\n  ")}\n` +
        `reinstall without install scripts: rm -rf node_modules && bun install --frozen-lockfile --ignore-scripts`,
    );
  }
  return { optionalExternals };
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** What the binary is stamped with (src/version.ts reads it). */
interface Stamp {
  /** Full SHA, "SHA-dirty" when tracked files have uncommitted changes. */
  commit: string;
  /** The commit's date, ISO 8601 UTC. */
  date: string;
}

/** Run git in the checkout; its output, or a BuildError with git's own first line. */
function git(args: string[]): string {
  let p: ReturnType<typeof Bun.spawnSync>;
  try {
    p = Bun.spawnSync(["git", "-C", ROOT, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  } catch {
    throw new BuildError(`this is a git checkout but git is not installed (install git, or build from a tarball with SOURCE_DATE_EPOCH and PICOFLOW_COMMIT set)`);
  }
  if (p.exitCode !== 0) {
    const why = (p.stderr?.toString() ?? "").trim().split("\n")[0] || `exit ${p.exitCode}`;
    throw new BuildError(`git ${args.join(" ")} failed: ${why}`);
  }
  return (p.stdout?.toString() ?? "").trim();
}

/**
 * The commit and its date: from git in a checkout (the environment is then ignored, so a
 * binary always names what it was built from); without one (a source tarball), from
 * SOURCE_DATE_EPOCH and PICOFLOW_COMMIT. The date is the commit's, not the clock's.
 */
function stampOf(env: Record<string, string | undefined>): Stamp {
  if (existsSync(join(ROOT, ".git"))) {
    const sha = git(["rev-parse", "--verify", "HEAD"]);
    const epoch = Number(git(["log", "-1", "--format=%ct", "HEAD"]));
    // Tracked files only: a stray untracked file (notes, a scratch script) is not the source.
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
    return { commit: dirty ? `${sha}-dirty` : sha, date: isoSeconds(epoch) };
  }
  const epoch = env.SOURCE_DATE_EPOCH?.trim();
  const commit = env.PICOFLOW_COMMIT?.trim().toLowerCase();
  if (!epoch || !commit) {
    throw new BuildError(
      "not a git checkout: set SOURCE_DATE_EPOCH (the commit's date, seconds since 1970) and PICOFLOW_COMMIT (its SHA) to stamp the binary",
    );
  }
  if (!/^\d+$/.test(epoch)) throw new BuildError(`SOURCE_DATE_EPOCH: '${epoch}' is not a number of seconds since 1970`);
  if (!/^[0-9a-f]{7,40}(-dirty)?$/.test(commit)) throw new BuildError(`PICOFLOW_COMMIT: '${commit}' is not a git commit SHA (7 to 40 hex digits)`);
  return { commit, date: isoSeconds(Number(epoch)) };
}

/** "2026-12-01T21:13:09Z". */
function isoSeconds(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Options shared by every build; docs/building.md explains each one. */
function buildConfig(target: Target, outfile: string, stamp: Stamp) {
  return {
    entrypoints: [join(ROOT, ENTRY)],
    root: ROOT,
    target: "bun" as const,
    format: "esm" as const,
    // Precompiled JavaScriptCore bytecode: start-up drops from about 50 to 25 ms (x64), which
    // is most of a short command's time, for about 9 MiB more file. ESM keeps top-level await.
    bytecode: true,
    // Smaller and faster to start. Identifiers are not renamed: error classes and functions
    // keep their names (`err.name`, and stack traces with --log-level debug); Bun's keepNames
    // did not keep class names in a bytecode build (IoError printed as "dt").
    minify: { whitespace: true, syntax: true, identifiers: false },
    sourcemap: "none" as const,
    metafile: true,
    // ssh2's optional CPU probe: installed or not (bun installs optional packages, minus their
    // build), it stays out, so the bundle is the same on every machine and ssh2 uses JS.
    external: ["cpu-features"],
    define: {
      "process.env.NODE_ENV": JSON.stringify("production"),
      // Bun inlines a CommonJS module's __dirname/__filename as absolute build-machine paths
      // (ssh2's agent.js and poly1305.js use them), which made the binary depend on where
      // the checkout was. In the binary, modules live under /$bunfs/root; neither use needs a
      // real directory (a Windows-only helper path, an Emscripten fallback for an embedded
      // WebAssembly module). src/ itself never uses them (checked above).
      __dirname: JSON.stringify("/$bunfs/root"),
      __filename: JSON.stringify("/$bunfs/root/picoflow"),
      // The stamp src/version.ts reads (undefined identifiers when run from source).
      PICOFLOW_BUILD_COMMIT: JSON.stringify(stamp.commit),
      PICOFLOW_BUILD_DATE: JSON.stringify(stamp.date),
    },
    compile: {
      target: TARGETS[target],
      outfile,
      // The daemon must behave the same from any working directory: a .env or bunfig.toml
      // lying around (say, in a workflow's workdir) must not change it.
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
    },
  };
}

/** "file:line: " of a build message, when it has a position. */
function where(e: unknown): string {
  const pos = (e as { position?: { file?: string; line?: number } | null }).position;
  return pos?.file ? `${relative(ROOT, pos.file)}:${pos.line ?? 0}: ` : "";
}

async function compile(target: Target, outfile: string, stamp: Stamp): Promise<{ optionalExternals: string[] }> {
  let result: Bun.BuildOutput;
  try {
    result = await Bun.build(buildConfig(target, outfile, stamp) as Bun.BuildConfig);
  } catch (err) {
    // Bun.build throws an AggregateError listing every unresolved import or syntax error.
    const errors = err instanceof AggregateError ? err.errors : [err];
    throw new BuildError(`bun build failed for ${target}:\n${errors.map((e) => `  ${where(e)}${(e as Error).message ?? String(e)}`).join("\n")}`);
  }
  for (const log of result.logs) if (log.level === "warning") console.error(`build: warning: ${log.message}`);
  if (!result.success) {
    throw new BuildError(`bun build failed for ${target}:\n${result.logs.map((l) => `  ${l.message}`).join("\n")}`);
  }
  const meta = (typeof result.metafile === "string" ? JSON.parse(result.metafile) : result.metafile) as Meta;
  try {
    checkNoBuildPaths(outfile);
    return checkNoNativeAddons(meta);
  } catch (err) {
    rmSync(outfile, { force: true });
    throw err;
  }
}

/** The checkout's absolute path inside the binary would make it depend on where it was built. */
function checkNoBuildPaths(outfile: string): void {
  const bytes = readFileSync(outfile);
  const at = bytes.indexOf(`${ROOT}/`);
  if (at >= 0) {
    const context = bytes.toString("latin1", Math.max(0, at - 60), at + ROOT.length + 60).replace(/[^\x20-\x7e]/g, ".");
    throw new BuildError(`the binary contains the build directory ${ROOT} (not reproducible elsewhere): ...${context}...`);
  }
}

/** Run the binary when this machine can: `--version` must name the package version and the stamped commit and date. */
async function checkVersion(target: Target, path: string, stamp: Stamp): Promise<void> {
  const hostTarget = `linux-${process.arch === "arm64" ? "arm64" : process.arch}`;
  if (process.platform !== "linux" || hostTarget !== target) return;
  const p = Bun.spawn([path, "--version"], { stdout: "pipe", stderr: "pipe", env: {}, cwd: tmpdir() });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  const want = `picoflow ${pkg.version} (${buildLabel(stamp.commit, stamp.date)}) `;
  if (code !== 0 || !out.startsWith(want)) {
    rmSync(path, { force: true });
    throw new BuildError(`${path} --version printed ${JSON.stringify(out.trim())} (exit ${code}); expected it to start with ${JSON.stringify(want)}`);
  }
}

async function buildAll(opts: Options, stamp: Stamp): Promise<void> {
  mkdirSync(opts.outdir, { recursive: true });
  // An earlier build's list must not outlive a build that fails half-way.
  rmSync(join(opts.outdir, "SHA256SUMS"), { force: true });
  const sums = new Map<string, string>();
  for (const target of opts.targets) {
    const name = `picoflow-${target}`;
    const outfile = join(opts.outdir, name);
    const t0 = performance.now();
    const { optionalExternals } = await compile(target, outfile, stamp);
    await checkVersion(target, outfile, stamp);
    const hash = sha256(outfile);
    // The format `sha256sum -c` reads: "HASH  NAME".
    writeFileSync(`${outfile}.sha256`, `${hash}  ${name}\n`);
    sums.set(name, hash);
    const mb = (statSync(outfile).size / 1048576).toFixed(1);
    console.log(`built ${relative(process.cwd(), outfile) || outfile}  ${mb} MiB  sha256 ${hash}  (${Math.round(performance.now() - t0)} ms)`);
    if (optionalExternals.length) console.log(`  optional native code left out (pure-JS fallback used):\n    ${optionalExternals.join("\n    ")}`);
  }
  // What a release publishes beside the binaries: this invocation's binaries, sorted by name
  // (a SHA256SUMS left by an earlier build of other targets is replaced, not merged).
  const names = [...sums.keys()].sort();
  writeFileSync(join(opts.outdir, "SHA256SUMS"), names.map((n) => `${sums.get(n)}  ${n}\n`).join(""));
}

/** Build every target twice into scratch directories and compare the bytes. */
async function checkReproducible(opts: Options, stamp: Stamp): Promise<void> {
  const a = mkdtempSync(join(tmpdir(), "picoflow-build-a-"));
  const b = mkdtempSync(join(tmpdir(), "picoflow-build-b-"));
  try {
    await buildAll({ ...opts, outdir: a }, stamp);
    await buildAll({ ...opts, outdir: b }, stamp);
    const differ: string[] = [];
    for (const t of opts.targets) {
      const name = `picoflow-${t}`;
      const [ha, hb] = [sha256(join(a, name)), sha256(join(b, name))];
      console.log(`${ha === hb ? "identical" : "DIFFERENT"}  ${name}  ${ha}${ha === hb ? "" : ` vs ${hb}`}`);
      if (ha !== hb) differ.push(name);
    }
    if (differ.length) throw new BuildError(`two builds of the same source differ: ${differ.join(", ")}`);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  try {
    const opts = parseArgs(process.argv.slice(2));
    process.chdir(ROOT);
    checkBun();
    checkNoSourceTreeLookups();
    const stamp = stampOf(process.env);
    console.log(`stamp: picoflow ${pkg.version} (${buildLabel(stamp.commit, stamp.date)}), commit ${stamp.commit}, dated ${stamp.date}`);
    if (Date.parse(stamp.date) > Date.now() + 86_400_000) {
      // The daemon takes no clock earlier than this date as right (src/daemon/clock.ts).
      console.error(`build: warning: the commit's date ${stamp.date} is in the future; the daemon will not schedule before it`);
    }
    if (opts.checkReproducible) await checkReproducible(opts, stamp);
    else await buildAll(opts, stamp);
    return 0;
  } catch (err) {
    if (err instanceof BuildError) {
      console.error(`build: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

if (import.meta.main) process.exitCode = await main();
