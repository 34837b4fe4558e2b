// install.sh against a local "GitHub releases" (Bun.serve on 127.0.0.1) holding the freshly
// built binaries and their SHA256SUMS, installing into temporary roots (--root): what a Pi
// user sees (exit codes, messages) and what lands on disk.
//
// The x64 binary is dist/'s when PICOFLOW_BIN is set (CI builds it first), else built here
// from source. The arm64 one is dist/'s if it exists, else a stand-in file: it is never run
// (install.sh installs a binary it cannot run only under --root, saying so).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { ROOT } from "./helpers.ts";

const SCRIPT = join(ROOT, "install.sh");
const UNIT = readFileSync(join(ROOT, "examples/picoflow.service"));
const isRoot = process.getuid?.() === 0;

const scratch = mkdtempSync(join(tmpdir(), "picoflow-install-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A release as served: file name -> bytes (SHA256SUMS included). */
type Release = Map<string, Uint8Array>;
const releases = new Map<string, Release>(); // "v0.2.0" -> files
let latest = "v0.2.0";
const requests: string[] = [];

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A release with its SHA256SUMS (`sums` overrides a file's line, or drops it with null). */
function release(tag: string, files: Record<string, Uint8Array>, sums: Record<string, string | null> = {}): void {
  const lines = Object.entries(files)
    .filter(([name]) => sums[name] !== null)
    .map(([name, bytes]) => `${sums[name] ?? sha256(bytes)}  ${name}\n`);
  releases.set(tag, new Map([...Object.entries(files), ["SHA256SUMS", new TextEncoder().encode(lines.join(""))]]));
}

let server: ReturnType<typeof Bun.serve>;
let x64: Uint8Array;
let arm64: Uint8Array;
/** A second "version": a script that answers --version like picoflow does. */
const V3 = new TextEncoder().encode("#!/bin/sh\necho 'picoflow 0.3.0 (stand-in for the upgrade test)'\n");

beforeAll(async () => {
  const dist = process.env.PICOFLOW_BIN ? dirname(resolve(process.env.PICOFLOW_BIN)) : join(scratch, "dist");
  if (!process.env.PICOFLOW_BIN) {
    const p = Bun.spawn([process.execPath, join(ROOT, "scripts/build.ts"), "--target", "linux-x64", "--outdir", dist], { stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`build failed: ${err}`);
  }
  x64 = readFileSync(join(dist, "picoflow-linux-x64"));
  const arm = join(dist, "picoflow-linux-arm64");
  arm64 = existsSync(arm) ? readFileSync(arm) : new TextEncoder().encode("arm64 stand-in: never run\n");
  release("v0.2.0", { "picoflow-linux-x64": x64, "picoflow-linux-arm64": arm64 });
  release("v0.3.0", { "picoflow-linux-x64": V3, "picoflow-linux-arm64": arm64 });
  release("v0.4.0", { "picoflow-linux-x64": V3, "picoflow-linux-arm64": arm64 }, { "picoflow-linux-x64": "0".repeat(64) });
  release("v0.5.0", { "picoflow-linux-x64": V3, "picoflow-linux-arm64": arm64 }, { "picoflow-linux-x64": null });
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const m = /^\/(?:download\/(v[^/]+)|latest\/download)\/([^/]+)$/.exec(path);
      const body = m ? releases.get(m[1] ?? latest)?.get(m[2]!) : undefined;
      return body ? new Response(body) : new Response("Not Found", { status: 404 });
    },
  });
}, 120_000);
afterAll(() => server?.stop(true));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let n = 0;
/** A fresh, empty directory under the scratch one. */
function dir(name: string): string {
  const d = join(scratch, `${name}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A directory whose `uname -m` prints `machine` (the rest goes to the real uname). */
function fakeUname(machine: string): string {
  const d = dir("uname");
  writeFileSync(join(d, "uname"), `#!/bin/sh\nif [ "$1" = -m ]; then echo ${machine}; else exec /usr/bin/uname "$@"; fi\n`);
  chmodSync(join(d, "uname"), 0o755);
  return d;
}

/** A PATH directory with every command of the system's PATH except `without`. */
function pathWithout(without: string[]): string {
  const d = dir("bin");
  for (const sys of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    if (!existsSync(sys)) continue;
    for (const name of readdirSync(sys)) {
      if (without.includes(name) || existsSync(join(d, name))) continue;
      symlinkSync(join(sys, name), join(d, name));
    }
  }
  return d;
}

/** `sh install.sh ARGS` (sh: dash on Debian), with its own TMPDIR to check it cleans up. */
async function install(args: string[], opts: { path?: string; base?: boolean; tmp?: string; user?: boolean } = {}): Promise<Run> {
  const tmp = opts.tmp ?? dir("tmp");
  const env: Record<string, string> = {
    PATH: opts.path ?? process.env.PATH!,
    TMPDIR: tmp,
    PICOFLOW_TEST_MARK: process.env.PICOFLOW_TEST_MARK!,
  };
  const base = opts.base === false ? [] : ["--base-url", `http://127.0.0.1:${server.port}`];
  // As an ordinary user (nobody), for the root check: setpriv from util-linux.
  const asUser = opts.user ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  const p = Bun.spawn([...asUser, "sh", SCRIPT, ...base, ...args], { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  // Whatever happened, the temporary download directory is gone.
  expect(readdirSync(tmp)).toEqual([]);
  return { code, stdout, stderr };
}

const bin = (root: string) => join(root, "usr/local/bin/picoflow");

/** Nothing but the binary (or nothing at all) in ROOT/usr/local/bin: no temporary names left. */
function binDir(root: string): string[] {
  const d = join(root, "usr/local/bin");
  return existsSync(d) ? readdirSync(d) : [];
}

async function version(path: string): Promise<string> {
  const p = Bun.spawn([path, "--version"], { stdout: "pipe", stderr: "pipe", env: { PICOFLOW_TEST_MARK: process.env.PICOFLOW_TEST_MARK! } });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(code).toBe(0);
  return out;
}

describe("install.sh", () => {
  test("a good checksum installs the binary for this machine, mode 0755, and prints its --version", async () => {
    const root = dir("root");
    const r = await install(["--root", root]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Checksum OK");
    expect(readFileSync(bin(root))).toEqual(Buffer.from(x64));
    expect(statSync(bin(root)).mode & 0o7777).toBe(0o755);
    expect(binDir(root)).toEqual(["picoflow"]);
    const v = await version(bin(root));
    expect(v).toStartWith("picoflow ");
    expect(r.stdout).toContain(v.split("\n")[0]!);
    // The latest release unless a version is given.
    expect(requests).toContain("/latest/download/picoflow-linux-x64");
    expect(requests).toContain("/latest/download/SHA256SUMS");
  });

  test("a checksum mismatch installs nothing, and leaves an installed binary as it was", async () => {
    const root = dir("root");
    let r = await install(["--root", root, "--version", "0.4.0"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`install.sh: checksum mismatch for picoflow-linux-x64: SHA256SUMS says ${"0".repeat(64)}, the download is ${sha256(V3)}: nothing installed\n`);
    expect(binDir(root)).toEqual([]);

    expect((await install(["--root", root, "--version", "0.2.0"])).code).toBe(0);
    r = await install(["--root", root, "--version", "0.4.0"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("checksum mismatch");
    expect(readFileSync(bin(root))).toEqual(Buffer.from(x64));
    expect(binDir(root)).toEqual(["picoflow"]);
  });

  test("SHA256SUMS without a line for the binary installs nothing", async () => {
    const root = dir("root");
    const r = await install(["--root", root, "--version", "0.5.0"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("install.sh: SHA256SUMS has no checksum for picoflow-linux-x64: nothing installed\n");
    expect(binDir(root)).toEqual([]);
  });

  test("32-bit ARM (uname -m armv7l) is refused before downloading anything", async () => {
    for (const machine of ["armv7l", "armv6l"]) {
      const root = dir("root");
      const before = requests.length;
      const r = await install(["--root", root], { path: `${fakeUname(machine)}:${process.env.PATH}` });
      expect(r.code).toBe(1);
      expect(r.stderr).toStartWith(`install.sh: 32-bit ARM (${machine}) is not supported: Bun, which PicoFlow is built on, has no 32-bit ARM build.`);
      expect(r.stderr).toContain("64-bit Raspberry Pi OS");
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(requests.length).toBe(before);
      expect(binDir(root)).toEqual([]);
    }
    const r = await install(["--root", dir("root")], { path: `${fakeUname("riscv64")}:${process.env.PATH}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("install.sh: unsupported architecture 'riscv64': PicoFlow is built for aarch64 (arm64) and x86_64 Linux only\n");
  });

  test("aarch64 gets the arm64 binary", async () => {
    for (const machine of ["aarch64", "arm64"]) {
      const root = dir("root");
      const r = await install(["--root", root, "--version", "v0.2.0"], { path: `${fakeUname(machine)}:${process.env.PATH}` });
      expect(r.code).toBe(0);
      expect(requests).toContain("/download/v0.2.0/picoflow-linux-arm64");
      expect(readFileSync(bin(root))).toEqual(Buffer.from(arm64));
      expect(statSync(bin(root)).mode & 0o7777).toBe(0o755);
    }
  });

  test("--version pins the release URL, with or without its v", async () => {
    for (const v of ["0.3.0", "v0.3.0"]) {
      const root = dir("root");
      requests.length = 0;
      const r = await install(["--root", root, "--version", v]);
      expect(r.code).toBe(0);
      expect(requests).toEqual(["/download/v0.3.0/SHA256SUMS", "/download/v0.3.0/picoflow-linux-x64"]);
      expect(r.stdout).toContain("picoflow 0.3.0 (stand-in for the upgrade test)");
    }
  });

  test("run again, it upgrades in place; an identical binary is left alone", async () => {
    const root = dir("root");
    expect((await install(["--root", root])).code).toBe(0);
    const v2 = (await version(bin(root))).split("\n")[0]!;
    let r = await install(["--root", root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`is already this binary: left as it is\n${v2}\n`);

    latest = "v0.3.0";
    try {
      r = await install(["--root", root]);
    } finally {
      latest = "v0.2.0";
    }
    expect(r.code).toBe(0);
    expect(readFileSync(bin(root))).toEqual(Buffer.from(V3));
    expect(statSync(bin(root)).mode & 0o7777).toBe(0o755);
    expect(r.stdout).toContain(`Installed ${bin(root)} (was: ${v2})`);
    expect(r.stdout).toContain("picoflow 0.3.0");
    expect(binDir(root)).toEqual(["picoflow"]);
  });

  test("a release that is not there fails with the URL, and installs nothing", async () => {
    const root = dir("root");
    const r = await install(["--root", root, "--version", "9.9.9"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`install.sh: could not download http://127.0.0.1:${server.port}/download/v9.9.9/SHA256SUMS (`);
    expect(r.stderr).toContain("404");
    expect(r.stderr).toEndWith("): nothing installed\n");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(binDir(root)).toEqual([]);
  });

  test("without curl it uses wget; without either it says so", async () => {
    const root = dir("root");
    let r = await install(["--root", root], { path: pathWithout(["curl"]) });
    expect(r.code).toBe(0);
    expect(readFileSync(bin(root))).toEqual(Buffer.from(x64));
    r = await install(["--root", root, "--version", "9.9.9"], { path: pathWithout(["curl"]) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("404");

    r = await install(["--root", dir("root")], { path: pathWithout(["curl", "wget"]) });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("install.sh: neither curl nor wget found: install one (sudo apt-get install curl) and run this again\n");
  });

  test.skipIf(!isRoot)("--with-service under --root: user, config, directories, the unit (examples/picoflow.service), enabled", async () => {
    const root = dir("root");
    mkdirSync(join(root, "etc"));
    // The smallest system useradd --root works on.
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\n");
    writeFileSync(join(root, "etc/shadow"), "root:*:20000:0:99999:7:::\n", { mode: 0o600 });
    writeFileSync(join(root, "etc/gshadow"), "root:*::\n", { mode: 0o600 });
    mkdirSync(join(root, "usr/sbin"), { recursive: true });
    writeFileSync(join(root, "usr/sbin/nologin"), "", { mode: 0o755 }); // else useradd warns
    const r = await install(["--root", root, "--with-service"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);

    const user = readFileSync(join(root, "etc/passwd"), "utf8").split("\n").find((l) => l.startsWith("picoflow:"))!.split(":");
    expect([user[5], user[6]]).toEqual(["/var/lib/picoflow", "/usr/sbin/nologin"]);
    const group = readFileSync(join(root, "etc/group"), "utf8").split("\n").find((l) => l.startsWith("picoflow:"))!.split(":");
    expect(group[2]).toBe(user[3]); // its own group: the unit says Group=picoflow
    expect(Number(user[2])).toBeLessThan(1000); // a system user

    expect(readFileSync(join(root, "etc/picoflow/config.toml"), "utf8")).toContain('\ndb_path = "/var/lib/picoflow/picoflow.db"\n');
    expect(statSync(join(root, "etc/picoflow/workflows")).isDirectory()).toBe(true);
    const state = statSync(join(root, "var/lib/picoflow"));
    expect([state.mode & 0o7777, state.uid, state.gid]).toEqual([0o750, Number(user[2]), Number(user[3])]);
    const unit = join(root, "etc/systemd/system/picoflow.service");
    expect(readFileSync(unit)).toEqual(UNIT); // install.sh's copy is byte-identical
    expect(statSync(unit).mode & 0o7777).toBe(0o644);
    const wants = join(root, "etc/systemd/system/multi-user.target.wants/picoflow.service");
    expect(lstatSync(wants).isSymbolicLink()).toBe(true);
    expect(readlinkSync(wants)).toBe("/etc/systemd/system/picoflow.service");
    expect(r.stdout).toContain("the service is not started");

    // Again, with the user's own config: nothing duplicated, nothing overwritten.
    writeFileSync(join(root, "etc/picoflow/config.toml"), 'db_path = "/srv/mine.db"\n');
    const again = await install(["--root", root, "--with-service"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("User picoflow exists");
    expect(again.stdout).toContain("config.toml exists: left as it is");
    expect(again.stdout).toContain("picoflow.service is up to date");
    expect(readFileSync(join(root, "etc/picoflow/config.toml"), "utf8")).toBe('db_path = "/srv/mine.db"\n');
    expect(readFileSync(join(root, "etc/passwd"), "utf8").match(/^picoflow:/gm)).toHaveLength(1);
  });

  test.skipIf(!isRoot)("--with-service under a --root without etc/passwd skips the user and says so", async () => {
    const root = dir("root");
    const r = await install(["--root", root, "--with-service"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`note: no ${root}/etc/passwd: user picoflow not created`);
    expect(readFileSync(join(root, "etc/systemd/system/picoflow.service"))).toEqual(UNIT);
    expect(statSync(join(root, "var/lib/picoflow")).mode & 0o7777).toBe(0o750);
  });

  test.skipIf(!isRoot)("not root: / needs sudo, --with-service needs root, a --root of one's own is fine", async () => {
    const home = mkdtempSync(join(tmpdir(), "picoflow-install-user-"));
    const tmp = join(home, "tmp");
    mkdirSync(tmp, { mode: 0o777 });
    chmodSync(tmp, 0o777);
    chmodSync(home, 0o755);
    try {
      let r = await install([], { user: true, tmp });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("install.sh: installing into / needs root: run with sudo (sudo sh install.sh ...)\n");
      const root = join(home, "root");
      mkdirSync(root);
      chmodSync(root, 0o777);
      r = await install(["--root", root, "--with-service"], { user: true, tmp });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("--with-service needs root");
      r = await install(["--root", root], { user: true, tmp });
      expect(r.code).toBe(0);
      expect(statSync(bin(root)).uid).toBe(65534);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  // At / for real, inside a private mount namespace: /etc is an overlay (its upper directory
  // holds exactly what install.sh changed), /usr/local/bin and /var/lib are scratch
  // directories, and /run/systemd/system says "systemd runs". systemd itself cannot run in
  // the test machine, so `systemctl` is a stand-in that records its calls and answers
  // is-active from a file.
  describe.skipIf(!isRoot)("at / (in a private mount namespace)", () => {
    const at = join(scratch, "slash");
    const calls = join(at, "calls");
    const active = join(at, "active");
    let usable = false;
    const wrapper = `set -e
S="$1"; shift
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$S/etc-upper,workdir=$S/etc-work" /etc
mount --bind "$S/bin" /usr/local/bin
mount --bind "$S/var-lib" /var/lib
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
PATH="$S/fake:$PATH" exec sh "${SCRIPT}" "$@"`;

    beforeAll(async () => {
      for (const d of ["etc-upper", "etc-work", "bin", "var-lib", "fake"]) mkdirSync(join(at, d), { recursive: true });
      writeFileSync(
        join(at, "fake/systemctl"),
        `#!/bin/sh\necho "$*" >> ${calls}\ncase "$1" in is-active) [ -f ${active} ] ;; start|restart) touch ${active} ;; esac\n`,
        { mode: 0o755 },
      );
      // Only where mount namespaces and overlayfs are allowed (not in every container).
      const probe = Bun.spawn(["unshare", "-m", "sh", "-c", wrapper.replace(/PATH=.*$/, "true"), "sh", at], { stdout: "ignore", stderr: "ignore" });
      usable = (await probe.exited) === 0;
      if (!usable) console.warn("install.test.ts: no mount namespace with overlayfs here; the tests at / are skipped");
    });

    async function atSlash(args: string[]): Promise<Run & { calls: string[] }> {
      writeFileSync(calls, "");
      const tmp = dir("tmp");
      const p = Bun.spawn(["unshare", "-m", "sh", "-c", wrapper, "sh", at, "--base-url", `http://127.0.0.1:${server.port}`, ...args], {
        env: { PATH: process.env.PATH!, TMPDIR: tmp, PICOFLOW_TEST_MARK: process.env.PICOFLOW_TEST_MARK! },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      expect(readdirSync(tmp)).toEqual([]);
      return { code, stdout, stderr, calls: readFileSync(calls, "utf8").split("\n").filter(Boolean) };
    }

    test("the first --with-service starts the service; later runs restart it only if it was running and something changed", async () => {
      if (!usable) return;
      let r = await atSlash(["--version", "0.2.0", "--with-service"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(readFileSync(join(at, "bin/picoflow"))).toEqual(Buffer.from(x64));
      expect(readFileSync(join(at, "etc-upper/passwd"), "utf8")).toMatch(/^picoflow:x:\d+:\d+:[^:]*:\/var\/lib\/picoflow:\/usr\/sbin\/nologin$/m);
      expect(readFileSync(join(at, "etc-upper/picoflow/config.toml"), "utf8")).toContain('db_path = "/var/lib/picoflow/picoflow.db"');
      expect(readFileSync(join(at, "etc-upper/systemd/system/picoflow.service"))).toEqual(UNIT);
      expect(statSync(join(at, "var-lib/picoflow")).mode & 0o7777).toBe(0o750);
      expect(r.calls).toContain("enable --quiet picoflow.service");
      expect(r.calls.slice(-2)).toEqual(["daemon-reload", "start picoflow.service"]);

      // Running, same version: nothing to restart.
      r = await atSlash(["--version", "0.2.0", "--with-service"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("picoflow.service is running; nothing changed, so it was not restarted");
      expect(r.calls.filter((c) => /^(start|restart|daemon-reload)/.test(c))).toEqual([]);

      // Running, a new version (without --with-service: an upgrade of the binary alone).
      r = await atSlash(["--version", "0.3.0"]);
      expect(r.code).toBe(0);
      expect(readFileSync(join(at, "bin/picoflow"))).toEqual(Buffer.from(V3));
      expect(r.calls).toEqual(["is-active --quiet picoflow.service", "restart picoflow.service"]);
      expect(r.stdout).toContain("Restarted picoflow.service");

      // Stopped: upgraded, and left stopped.
      rmSync(active);
      r = await atSlash(["--version", "0.2.0", "--with-service"]);
      expect(r.code).toBe(0);
      expect(readFileSync(join(at, "bin/picoflow"))).toEqual(Buffer.from(x64));
      expect(r.calls.filter((c) => /^(start|restart)/.test(c))).toEqual([]);
      expect(r.stdout).toContain("picoflow.service is not running: left stopped");
      expect(readFileSync(join(at, "etc-upper/passwd"), "utf8").match(/^picoflow:/gm)).toHaveLength(1);
    });
  });

  test("--help prints the usage; a wrong option is one line and exit 2", async () => {
    const help = await install(["--help"], { base: false });
    expect(help.code).toBe(0);
    for (const opt of ["--version X.Y.Z", "--with-service", "--root DIR", "--base-url URL", "PICOFLOW_INSTALL_BASE_URL"]) expect(help.stdout).toContain(opt);
    for (const [args, message] of [
      [["--bogus"], "unknown option '--bogus'"],
      [["--version"], "--version needs a value"],
      [["--version", "latest"], "--version: 'latest' is not a version like 1.2.3"],
      [["--root", "/nonexistent/dir"], "--root: no such directory: /nonexistent/dir"],
    ] as const) {
      const r = await install([...args], { base: false });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`install.sh: ${message} (see sh install.sh --help)\n`);
      expect(r.stdout).toBe("");
    }
  });

  test("it is POSIX sh: shellcheck --shell=sh finds nothing", async () => {
    const p = Bun.spawn(["shellcheck", "--shell=sh", SCRIPT], { stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(out).toBe("");
    expect(code).toBe(0);
  });

  test("PICOFLOW_INSTALL_BASE_URL sets the base URL", async () => {
    const root = dir("root");
    const tmp = dir("tmp");
    const p = Bun.spawn(["sh", SCRIPT, "--root", root, "--version", "0.3.0"], {
      env: { PATH: process.env.PATH!, TMPDIR: tmp, PICOFLOW_INSTALL_BASE_URL: `http://127.0.0.1:${server.port}/`, PICOFLOW_TEST_MARK: process.env.PICOFLOW_TEST_MARK! },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await p.exited).toBe(0);
    expect(readFileSync(bin(root))).toEqual(Buffer.from(V3));
  });
});
