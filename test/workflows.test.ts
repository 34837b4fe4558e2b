// The GitHub workflows (.github/workflows/ci.yml and release.yml), checked three ways:
//   1. by a real workflow linter, @action-validator/cli (GitHub's workflow schema), which must
//      also reject a deliberately broken copy: proof that it really checks;
//   2. by this project's rules, on the parsed YAML: actions pinned to commit SHAs, the least
//      permissions, the triggers, and what each job runs;
//   3. by running the release job's own shell steps (the tag check, `gh release create`) in
//      a temporary directory. GitHub cannot be reached from the tests, so a stand-in `gh` on
//      PATH records the arguments the step would give the real one.

import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse, parseDocument } from "yaml";

const ROOT = resolve(import.meta.dir, "..");
const WORKFLOWS = join(ROOT, ".github/workflows");
const FILES = ["ci.yml", "release.yml"] as const;
const LINTER = join(ROOT, "node_modules/.bin/action-validator");
const ASSETS = ["dist/picoflow-linux-arm64", "dist/picoflow-linux-x64", "dist/SHA256SUMS"];

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  "working-directory"?: string;
}
interface Job {
  "runs-on": string;
  container?: string | { image: string };
  needs?: string | string[];
  permissions?: Record<string, string>;
  "timeout-minutes"?: number;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; "cancel-in-progress": unknown };
  jobs: Record<string, Job>;
}

const text = (file: string) => readFileSync(join(WORKFLOWS, file), "utf8");
const load = (file: string) => parse(text(file)) as Workflow;
const allSteps = (wf: Workflow) => Object.values(wf.jobs).flatMap((j) => j.steps);

function step(job: Job, name: string): Step {
  const found = job.steps.find((s) => s.name === name);
  if (!found) throw new Error(`no step named '${name}' (steps: ${job.steps.map((s) => s.name).join(", ")})`);
  return found;
}

function lint(path: string) {
  const p = Bun.spawnSync([LINTER, path], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, output: p.stdout.toString() + p.stderr.toString() };
}

/** A `run:` script as GitHub runs it with `shell: bash`: bash --noprofile --norc -eo pipefail. */
function runStep(script: string, cwd: string, env: Record<string, string>) {
  const p = Bun.spawnSync(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
    cwd,
    env: { PATH: process.env.PATH!, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

function withTempDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "picoflow-workflows-"));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the workflow linter (@action-validator/cli)", () => {
  for (const file of FILES) {
    test(`accepts ${file}`, () => {
      const r = lint(join(WORKFLOWS, file));
      expect(r.output).toBe("");
      expect(r.code).toBe(0);
    });

    test(`rejects a copy of ${file} with a misspelt key`, () => {
      withTempDir((dir) => {
        const doc = parseDocument(text(file));
        const job = Object.keys(load(file).jobs)[0]!;
        doc.setIn(["jobs", job, "timeout-minuts"], 5);
        const broken = join(dir, file);
        writeFileSync(broken, doc.toString());
        const r = lint(broken);
        expect(r.code).not.toBe(0);
        expect(r.output).toContain("timeout-minuts");
      });
    });
  }
});

describe("rules of both workflows", () => {
  for (const file of FILES) {
    test(`${file}: every action is pinned to a commit SHA, with its version in a comment`, () => {
      const lines = text(file)
        .split("\n")
        .filter((l) => /^\s*(-\s+)?uses:/.test(l));
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).toMatch(/^\s*(-\s+)?uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
      for (const s of allSteps(load(file))) if (s.uses) expect(s.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    });

    test(`${file}: read-only by default, each job names its permissions, every job has a timeout`, () => {
      const wf = load(file);
      expect(wf.permissions).toBeDefined();
      for (const v of Object.values(wf.permissions!)) expect(["read", "none"]).toContain(v);
      for (const [name, job] of Object.entries(wf.jobs)) {
        expect(job.permissions, `job ${name}`).toBeDefined();
        expect(job["timeout-minutes"], `job ${name}`).toBeGreaterThan(0);
      }
    });

    test(`${file}: checkouts keep no token, and no run: script expands \${{ }}`, () => {
      for (const s of allSteps(load(file))) {
        if (s.uses?.startsWith("actions/checkout@")) expect(s.with?.["persist-credentials"]).toBe(false);
        // Expressions are pasted into the script before bash sees it: inputs go through env:.
        if (s.run) expect(s.run).not.toContain("${{");
      }
    });
  }

  test("only release.yml's publish job may write, and only contents", () => {
    const writers: string[] = [];
    for (const file of FILES) {
      for (const [name, job] of Object.entries(load(file).jobs)) {
        for (const [scope, level] of Object.entries(job.permissions ?? {})) {
          if (level !== "read" && level !== "none") writers.push(`${file} ${name} ${scope}: ${level}`);
        }
      }
    }
    expect(writers).toEqual(["release.yml publish contents: write"]);
    expect(load("release.yml").jobs.publish!.permissions).toEqual({ contents: "write" });
    expect(load("release.yml").permissions).toEqual({});
  });

  test("one pin per action, each listed in docs/ci.md with its commit and tag", () => {
    const docs = readFileSync(join(ROOT, "docs/ci.md"), "utf8");
    const pins = new Map<string, Set<string>>();
    for (const file of FILES) {
      for (const m of text(file).matchAll(/uses: ([\w.-]+\/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)/g)) {
        const [, action, sha, tag] = m;
        pins.set(action!, (pins.get(action!) ?? new Set()).add(`${sha} ${tag}`));
        const line = docs.split("\n").find((l) => l.includes(sha!));
        expect(line, `docs/ci.md names ${action}@${sha}`).toBeDefined();
        expect(line).toContain(action!);
        expect(line).toContain(tag!);
      }
    }
    for (const [action, versions] of pins) expect([action, versions.size]).toEqual([action, 1]);
    expect([...pins.keys()].sort()).toEqual(["actions/checkout", "actions/download-artifact", "actions/upload-artifact"]);
  });

  test("every script the workflows run exists", () => {
    for (const file of FILES) {
      for (const s of allSteps(load(file))) {
        for (const m of (s.run ?? "").matchAll(/(?:^|\s)((?:scripts|\.ci)\/[\w./-]+)/g)) {
          expect(existsSync(join(ROOT, m[1]!)), `${file} runs ${m[1]}`).toBe(true);
        }
      }
    }
  });
});

describe("ci.yml", () => {
  const wf = () => load("ci.yml");

  test("runs on pushes and pull requests, and cancels a pull request's superseded runs", () => {
    expect(Object.keys(wf().on).sort()).toEqual(["pull_request", "push"]);
    expect(wf().concurrency!.group).toContain("github.event.pull_request.number");
    expect(String(wf().concurrency!["cancel-in-progress"])).toContain("pull_request");
  });

  test("runs .ci/run (the README's `npm test`) as root with CI=true on Debian bookworm", () => {
    const jobs = Object.values(wf().jobs);
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    expect(job.container).toBe("node:20-bookworm");
    expect(job.env).toEqual({ CI: "true" });
    expect(job.steps.at(-1)!.run).toBe("bash .ci/run");
    // .ci/run is exactly the README's test command.
    const ciRun = readFileSync(join(ROOT, ".ci/run"), "utf8").trim().split("\n");
    expect(ciRun.at(-1)).toBe("npm test");
    expect(readFileSync(join(ROOT, "README.md"), "utf8")).toMatch(/^npm test\s/m);
  });
});

describe("release.yml", () => {
  const wf = () => load("release.yml");
  const build = () => wf().jobs.build!;
  const publish = () => wf().jobs.publish!;

  test("runs on v* tags only", () => {
    expect(wf().on).toEqual({ push: { tags: ["v*"] } });
  });

  test("build: from a clean install, both targets, the arm64 smoke test under qemu, SHA256SUMS", () => {
    const job = build();
    expect(job.container).toBe("node:20-bookworm");
    expect(job.permissions).toEqual({ contents: "read" });
    const runs = job.steps.map((s) => s.run?.trim() ?? `uses ${s.uses!.split("@")[0]}`);
    const order = [
      "uses actions/checkout",
      "source scripts/lib.sh\nensure_bun",
      "bun install --frozen-lockfile --ignore-scripts",
      "bun scripts/build.ts",
      "dpkg --add-architecture arm64",
      "bun scripts/smoke-arm64.ts dist/picoflow-linux-arm64",
      "sha256sum -c --strict SHA256SUMS",
      'bun scripts/changelog.ts "$VERSION" > notes.md',
      "uses actions/upload-artifact",
    ];
    let at = -1;
    for (const want of order) {
      const i = runs.findIndex((r, n) => n > at && r.startsWith(want));
      expect(i, `step '${want}' after step ${at}`).toBeGreaterThan(at);
      at = i;
    }
    // No --target: both targets.
    expect(step(job, "Build both targets (dist/, with SHA256SUMS)").run!.trim()).toBe("bun scripts/build.ts");
    expect(step(job, "Install qemu and the arm64 C library").run).toContain("apt-get install -y -q --no-install-recommends qemu-user-static libc6:arm64");
    expect(step(job, "Check SHA256SUMS")["working-directory"]).toBe("dist");
    const upload = step(job, "Upload the release files").with!;
    expect(String(upload.path).trim().split("\n")).toEqual(ASSETS);
    expect(upload["if-no-files-found"]).toBe("error");
  });

  test("publish: after build, without a container, from the build's artifacts, with the token in env", () => {
    const job = publish();
    expect(job.needs).toBe("build");
    expect(job.container).toBeUndefined();
    expect(job["runs-on"]).toBe("ubuntu-latest");
    const uploads = build()
      .steps.filter((s) => s.uses?.startsWith("actions/upload-artifact@"))
      .map((s) => s.with!.name);
    const downloads = job.steps.filter((s) => s.uses?.startsWith("actions/download-artifact@")).map((s) => s.with!.name);
    expect(downloads).toEqual(uploads);
    expect(step(job, "Create the release").env).toEqual({ GH_TOKEN: "${{ github.token }}", GH_REPO: "${{ github.repository }}" });
  });

  test("the tag check fails with one clear line unless the tag is v + package.json's version", () => {
    const script = step(build(), "Check that the tag is v + package.json's version").run!;
    withTempDir((dir) => {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "picoflow", version: "1.2.3" }));
      const githubEnv = join(dir, "github-env");
      writeFileSync(githubEnv, "");

      const bad = runStep(script, dir, { GITHUB_REF_NAME: "v1.2.4", GITHUB_ENV: githubEnv });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toBe("::error::release: tag v1.2.4 does not match package.json version 1.2.3 (expected v1.2.3)\n");
      expect(readFileSync(githubEnv, "utf8")).toBe("");

      const good = runStep(script, dir, { GITHUB_REF_NAME: "v1.2.3", GITHUB_ENV: githubEnv });
      expect(good.code).toBe(0);
      expect(readFileSync(githubEnv, "utf8")).toBe("VERSION=1.2.3\n");
    });
  });

  for (const [tag, extra] of [
    ["v1.2.3", []],
    ["v2.0.0-rc.1", ["--prerelease"]],
  ] as const) {
    test(`publishing ${tag}: gh release create with the notes and exactly the three assets`, () => {
      const script = step(publish(), "Create the release").run!;
      withTempDir((dir) => {
        mkdirSync(join(dir, "bin"));
        const argsFile = join(dir, "gh-args");
        // Stand-in for gh: records one argument per line.
        writeFileSync(join(dir, "bin/gh"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsFile}'\n`);
        chmodSync(join(dir, "bin/gh"), 0o755);
        const r = runStep(script, dir, { GITHUB_REF_NAME: tag, PATH: `${join(dir, "bin")}:${process.env.PATH}` });
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const args = readFileSync(argsFile, "utf8").trimEnd().split("\n");
        expect(args).toEqual([
          "release",
          "create",
          tag,
          "--verify-tag",
          ...extra,
          "--title",
          `PicoFlow ${tag.slice(1)}`,
          "--notes-file",
          "notes.md",
          ...ASSETS,
        ]);
      });
    });
  }
});
