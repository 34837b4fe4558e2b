// File-level security, end to end as root with a second, unprivileged user (nobody): PID
// files another user planted, symlinks under the PID file's and the database's names, and
// the modes of the database files PicoFlow creates.

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, cli, FAST_CONFIG, picoflowCommand, rows, sandbox, waitFor, type Sandbox } from "./helpers.ts";

const CONFIG = `${FAST_CONFIG}
[metrics]
enabled = false
[daemon]
shutdown_grace_seconds = 5
`;

const NOBODY = 65534;
const AS_NOBODY = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"];

const sandboxes: Sandbox[] = [];
const children: { kill(sig?: number | NodeJS.Signals): void; exited: Promise<number> }[] = [];
afterAll(async () => {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
    await c.exited;
  }
  sandboxes.forEach((s) => s.cleanup());
});

/**
 * A sandbox nobody can reach: its directory is traversable (0711) and `shared` in it is
 * writable by everyone (0777, no sticky bit), like a careless shared directory.
 */
function sb(): Sandbox & { shared: string } {
  const s = sandbox(CONFIG);
  sandboxes.push(s);
  chmodSync(s.dir, 0o711);
  chmodSync(join(s.dir, "picoflow.toml"), 0o644);
  const shared = join(s.dir, "shared");
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  return Object.assign(s, { shared });
}

/** Run a command as nobody and wait for it. */
async function asNobody(cmd: string[]): Promise<void> {
  const p = Bun.spawn([...AS_NOBODY, ...cmd], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
  expect(await p.exited).toBe(0);
}

/** A process's identity as PicoFlow records it: "bootid:starttime", public in /proc. */
function identityOf(pid: number): string {
  const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return `${boot}:${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
}

/** A long-lived process that is not a PicoFlow daemon; killed after the file. */
function bystander(cmd: string[] = ["/bin/sleep", "300"]) {
  const p = Bun.spawn(cmd, { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
  children.push(p);
  return p;
}

const scheduledYaml = `name: idle
schedule: "0 0 0 1 1 *"
tasks:
  - name: t
    type: shell
    config: { command: /bin/true }
`;

/** Start a daemon (any command line that ends in picoflow's daemon start) and wait until it is up. */
async function startDaemon(s: Sandbox, cmd: string[]) {
  const proc = Bun.spawn(cmd, { cwd: s.dir, env: s.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.push(proc);
  let log = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  const exited = proc.exited.then(async (code) => {
    await reading;
    return code;
  });
  const up = await Promise.race([waitFor(() => log.includes('"daemon started"'), 30_000, "daemon start").then(() => true), exited.then(() => false)]);
  if (!up) throw new Error(`daemon did not start:\n${log}`);
  return { pid: proc.pid, exited, log: () => log };
}

describe("PID files", () => {
  test("another user's PID file naming a live daemon: stop, status and start refuse it (exit 1, file and owner named); nothing is signalled", async () => {
    const s = sb();
    const wf = s.workflow(scheduledYaml);
    // A real daemon of root's, with its own PID file.
    const d = await startDaemon(s, [...picoflowCommand(), "daemon", "start", "--pid-file", join(s.dir, "root.pid"), wf]);
    // nobody names it in a PID file of theirs: pid and identity are public in /proc.
    const planted = join(s.shared, "picoflow.pid");
    const content = `${d.pid}\n${identityOf(d.pid)}\n`;
    await asNobody(["/bin/sh", "-c", `printf '%s' "$1" > "$2"`, "sh", content, planted]);
    expect(statSync(planted).uid).toBe(NOBODY);
    const refusal = `picoflow: PID file ${planted} is owned by nobody (uid ${NOBODY}), not by root (uid 0); refusing to trust it (run as its owner, or remove it if it is not yours to keep)\n`;

    const stop = await cli(s, ["daemon", "stop", "--pid-file", planted]);
    expect({ code: stop.code, stdout: stop.stdout, stderr: stop.stderr }).toEqual({ code: 1, stdout: "", stderr: refusal });
    const status = await cli(s, ["daemon", "status", "--pid-file", planted]);
    expect({ code: status.code, stdout: status.stdout, stderr: status.stderr }).toEqual({ code: 1, stdout: "", stderr: refusal });
    // A start on that file neither replaces nor removes another user's file.
    const start = await cli(s, ["daemon", "start", "--pid-file", planted, wf]);
    expect({ code: start.code, stderr: start.stderr.split("\n").filter((l) => !l.startsWith("{")).join("\n") }).toEqual({ code: 1, stderr: refusal });
    expect(readFileSync(planted, "utf8")).toBe(content);
    expect(statSync(planted).uid).toBe(NOBODY);

    expect(alive(d.pid)).toBe(true);
    // Its own PID file still works.
    const own = await cli(s, ["daemon", "stop", "--pid-file", join(s.dir, "root.pid")]);
    expect(own.code).toBe(0);
    expect(own.stdout).toStartWith(`Daemon stopped (pid ${d.pid})`);
    expect(await d.exited).toBe(0);
  });

  test("a daemon run by nobody is stopped by nobody; root's stop refuses nobody's PID file", async () => {
    const s = sb();
    const wf = s.workflow(scheduledYaml);
    chmodSync(wf, 0o644);
    const db = join(s.shared, "picoflow.db");
    const pidFile = join(s.shared, "picoflow.pid");
    const d = await startDaemon(s, [...AS_NOBODY, ...picoflowCommand(), "--db-path", db, "daemon", "start", wf]);
    expect(statSync(pidFile).uid).toBe(NOBODY);
    const byRoot = await cli(s, ["--db-path", db, "daemon", "stop"]);
    expect(byRoot.code).toBe(1);
    expect(byRoot.stderr).toBe(
      `picoflow: PID file ${pidFile} is owned by nobody (uid ${NOBODY}), not by root (uid 0); refusing to trust it (run as its owner, or remove it if it is not yours to keep)\n`,
    );
    const nobodyCli = (args: string[]) =>
      Bun.spawn([...AS_NOBODY, ...picoflowCommand(), "--db-path", db, ...args], { cwd: s.dir, env: s.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const status = nobodyCli(["daemon", "status"]);
    expect(await status.exited).toBe(0);
    expect(await new Response(status.stdout).text()).toContain(`PID:       ${d.pid}\n`);
    const stop = nobodyCli(["daemon", "stop"]);
    expect(await stop.exited).toBe(0);
    expect(await new Response(stop.stdout).text()).toStartWith(`Daemon stopped (pid ${d.pid})`);
    expect(await d.exited).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
  });

  test("the user's own PID file naming a live process that is not a PicoFlow daemon of theirs is stale: never signalled", async () => {
    const s = sb();
    const pidFile = join(s.dir, "picoflow.pid");
    // Root's own process, not PicoFlow; and nobody's process whose command line says "daemon start".
    const sleeper = bystander();
    const foreign = bystander([...AS_NOBODY, "/bin/sh", "-c", "read line", "sh", "daemon", "start"]);
    await waitFor(() => readFileSync(`/proc/${foreign.pid}/status`, "utf8").includes(`Uid:\t${NOBODY}`), 10_000, "nobody's process");
    for (const [pid, why] of [
      [sleeper.pid, `pid ${sleeper.pid} is not a picoflow daemon`],
      [foreign.pid, `pid ${foreign.pid} runs as nobody (uid ${NOBODY}), not as the PID file's owner`],
    ] as const) {
      writeFileSync(pidFile, `${pid}\n${identityOf(pid)}\n`);
      const status = await cli(s, ["daemon", "status"]);
      expect(status.code).toBe(1);
      expect(status.stdout).toContain(`Daemon:    stopped (stale PID file: ${why})\n`);
      const stop = await cli(s, ["daemon", "stop"]);
      expect({ code: stop.code, stderr: stop.stderr }).toEqual({ code: 1, stderr: `picoflow: no daemon is running (stale PID file ${pidFile}: ${why}; removed it)\n` });
      expect(existsSync(pidFile)).toBe(false);
      expect(alive(pid)).toBe(true);
    }
  });

  test("the user's own PID file naming a 'daemon start' of another program: refused by status, stop and start, never signalled, never removed", async () => {
    const s = sb();
    const pidFile = join(s.dir, "picoflow.pid");
    // Another copy of PicoFlow would look like this: our user, 'daemon start', another program.
    const other = bystander(["/bin/sh", "-c", "read line", "sh", "daemon", "start"]);
    const content = `${other.pid}\n${identityOf(other.pid)}\n`;
    writeFileSync(pidFile, content);
    const refusal =
      `picoflow: PID file ${pidFile} names pid ${other.pid}, a 'daemon start' of /bin/sh, which is not this program; ` +
      `refusing to act on it (use the program the daemon runs, or remove the file if no daemon uses it)\n`;
    for (const args of [["daemon", "status"], ["daemon", "stop"], ["daemon", "start", s.workflow(scheduledYaml)]]) {
      const r = await cli(s, args);
      const stderr = r.stderr.split("\n").filter((l) => !l.startsWith("{")).join("\n");
      expect({ args, code: r.code, stdout: r.stdout, stderr }).toEqual({ args, code: 1, stdout: "", stderr: refusal });
      expect(readFileSync(pidFile, "utf8")).toBe(content);
      expect(alive(other.pid)).toBe(true);
    }
  });

  test("a PID file that is a symlink is refused by status, stop and start; nothing is written through it", async () => {
    const s = sb();
    const wf = s.workflow(scheduledYaml);
    const pidFile = join(s.dir, "picoflow.pid");
    const precious = s.file("precious", "precious\n");
    symlinkSync(precious, pidFile);
    const refusal = `picoflow: PID file ${pidFile} is a symbolic link; refusing to follow it (remove it)\n`;
    for (const args of [["daemon", "status"], ["daemon", "stop"], ["daemon", "start", wf]]) {
      const r = await cli(s, args);
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr.split("\n").filter((l) => !l.startsWith("{")).join("\n") }).toEqual({ args, code: 1, stdout: "", stderr: refusal });
      expect(lstatSync(pidFile).isSymbolicLink()).toBe(true);
      expect(readFileSync(precious, "utf8")).toBe("precious\n");
    }
  });

  test("a PID file that is a FIFO is refused at once (exit 5), not waited on", async () => {
    const s = sb();
    const fifo = join(s.dir, "fifo.pid");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const r = await cli(s, ["daemon", "status", "--pid-file", fifo]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 5, stderr: `picoflow: ${fifo}: PID file is not a regular file\n` });
  });

  test("the temporary PID file is created exclusively under an unpredictable name: a symlink planted at the old name is not written through", async () => {
    const s = sb();
    const wf = s.workflow(scheduledYaml);
    const pidFile = join(s.shared, "picoflow.pid");
    const precious = s.file("precious", "precious\n");
    // nobody plants <pidfile>.<pid>.tmp -> precious for the pid the daemon will have ($$, kept by exec).
    const d = await startDaemon(s, [
      "/bin/sh",
      "-c",
      `${AS_NOBODY.join(" ")} ln -s "$1" "$2.$$.tmp" && shift 2 && exec "$@"`,
      "sh",
      precious,
      pidFile,
      ...picoflowCommand(),
      "daemon",
      "start",
      "--pid-file",
      pidFile,
      wf,
    ]);
    expect(readFileSync(precious, "utf8")).toBe("precious\n");
    const planted = `${pidFile}.${d.pid}.tmp`;
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
    const st = lstatSync(pidFile);
    expect({ file: st.isFile(), uid: st.uid, pid: readFileSync(pidFile, "utf8").split("\n")[0] }).toEqual({ file: true, uid: 0, pid: String(d.pid) });
    // No temporary file is left behind (beside the PID file: the planted link, the control socket).
    expect(readdirSync(s.shared).sort()).toEqual(["picoflow.pid", `picoflow.pid.${d.pid}.tmp`, "picoflow.sock"]);
    const stop = await cli(s, ["daemon", "stop", "--pid-file", pidFile]);
    expect(stop.code).toBe(0);
    expect(await d.exited).toBe(0);
    expect(readFileSync(precious, "utf8")).toBe("precious\n");
  });
});

/** The CLI with umask 0, so that every mode is PicoFlow's and SQLite's doing. */
function underUmask0(s: Sandbox, args: string[]) {
  const p = Bun.spawn(["/bin/sh", "-c", `umask 000; exec "$@"`, "sh", ...picoflowCommand(), ...args], {
    cwd: s.dir,
    env: s.env,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  children.push(p);
  return p;
}

/**
 * Run a workflow that waits, under umask 000, with `--db-path dbPath`; while it runs (so the
 * -wal and -shm files exist) read the modes of `file` and its -wal and -shm, then let it end.
 */
async function modesWhileRunning(s: Sandbox, dbPath: string, file: string): Promise<string[]> {
  const gate = join(s.dir, "go");
  const wf = s.workflow(`name: held
tasks:
  - name: wait
    type: shell
    config: { command: /bin/sh, args: ["-c", "while [ ! -e '${gate}' ]; do sleep 0.05; done"] }
`);
  const run = underUmask0(s, ["--db-path", dbPath, "run", wf]);
  const files = [file, `${file}-wal`, `${file}-shm`];
  try {
    await waitFor(() => files.every((f) => existsSync(f)) && rows(file, "SELECT 1 FROM workflow_executions WHERE status = 'running'").length, 20_000, "a running run");
    return files.map((f) => (statSync(f).mode & 0o777).toString(8));
  } finally {
    writeFileSync(gate, "");
    expect(await run.exited).toBe(0);
  }
}

describe("database files", () => {
  const manual = `name: manual
tasks:
  - name: t
    type: shell
    config: { command: /bin/true }
`;

  test("a dangling symlink is refused (exit 6, one line); its target is not created", async () => {
    const s = sb();
    const wf = s.workflow(manual);
    const target = join(s.dir, "elsewhere.db");
    const link = join(s.dir, "link.db");
    symlinkSync(target, link);
    const r = await cli(s, ["--db-path", link, "run", wf]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 6,
      stderr: `picoflow: ${link} (from --db-path): is a symbolic link to ${target}, which does not exist; PicoFlow does not create a database through a link (create the file, or use the real path)\n`,
    });
    expect(existsSync(target)).toBe(false);
    const read = await cli(s, ["--db-path", link, "history"]);
    expect({ code: read.code, stderr: read.stderr }).toEqual({ code: 6, stderr: `picoflow: ${link} (from --db-path): is a symbolic link to ${target}, which does not exist\n` });
    expect(existsSync(target)).toBe(false);
  });

  test("a symlink planted by another user, or to another user's empty file, is not followed: the file stays empty", async () => {
    const s = sb();
    const wf = s.workflow(manual);
    // nobody's link (in the shared directory) to an empty file of root's.
    const rootsEmpty = s.file("roots-empty", "");
    const nobodysLink = join(s.shared, "picoflow.db");
    await asNobody(["ln", "-s", rootsEmpty, nobodysLink]);
    let r = await cli(s, ["--db-path", nobodysLink, "run", wf]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 6,
      stderr: `picoflow: ${nobodysLink} (from --db-path): is a symbolic link to ${rootsEmpty}, and the link is owned by nobody (uid ${NOBODY}); PicoFlow follows only links of your own or root's\n`,
    });
    expect(statSync(rootsEmpty).size).toBe(0);

    // root's own link to an empty file of nobody's.
    const nobodysEmpty = join(s.shared, "nobodys-empty");
    await asNobody(["/bin/sh", "-c", `: > "$1"`, "sh", nobodysEmpty]);
    const link = join(s.dir, "link.db");
    symlinkSync(nobodysEmpty, link);
    r = await cli(s, ["--db-path", link, "run", wf]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 6,
      stderr: `picoflow: ${link} (from --db-path): is a symbolic link to ${nobodysEmpty}, which is owned by nobody (uid ${NOBODY}), not by you\n`,
    });
    expect(statSync(nobodysEmpty).size).toBe(0);

    // And an empty file of nobody's right at the path.
    r = await cli(s, ["--db-path", nobodysEmpty, "run", wf]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 6,
      stderr: `picoflow: ${nobodysEmpty} (from --db-path): is an empty file owned by nobody (uid ${NOBODY}); PicoFlow fills only an empty file of your own\n`,
    });
    expect(statSync(nobodysEmpty).size).toBe(0);
  });

  test("another program's database, or a symlink to a file that is no database, is refused and left as it was", async () => {
    const s = sb();
    const wf = s.workflow(manual);
    // Another program's SQLite database: refused before any pragma changes it (journal mode).
    const other = join(s.dir, "other.sqlite");
    const odb = new Database(other, { create: true });
    odb.run("CREATE TABLE things (x)");
    odb.close();
    const otherLink = join(s.dir, "other.db");
    symlinkSync(other, otherLink);
    for (const path of [otherLink, other]) {
      const r = await cli(s, ["--db-path", path, "run", wf]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 6, stderr: `picoflow: ${path} (from --db-path): not a PicoFlow database (it has tables of another program)\n` });
    }
    expect(rows(other, "PRAGMA journal_mode")[0]!.journal_mode).toBe("delete");

    const notes = s.file("notes.txt", "my notes\n");
    const link = join(s.dir, "notes.db");
    symlinkSync(notes, link);
    const r = await cli(s, ["--db-path", link, "run", wf]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 6, stderr: `picoflow: ${link} (from --db-path): is a symbolic link to ${notes}, which is not a database; refusing to overwrite it\n` });
    expect(readFileSync(notes, "utf8")).toBe("my notes\n");
  });

  test("a symlink of the user's to their own empty file is followed; the database, -wal and -shm are 0600", async () => {
    const s = sb();
    const dataDir = join(s.dir, "data");
    mkdirSync(dataDir);
    const target = join(dataDir, "picoflow.db");
    writeFileSync(target, "");
    chmodSync(target, 0o644);
    const link = join(s.dir, "link.db");
    symlinkSync(target, link);
    expect(await modesWhileRunning(s, link, target)).toEqual(["600", "600", "600"]);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    const h = await cli(s, ["--db-path", link, "history"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("held");
  });

  test("a database PicoFlow creates is 0600, and so are its -wal and -shm files, whatever the umask", async () => {
    const s = sb();
    const db = join(s.dir, "new.db");
    expect(await modesWhileRunning(s, db, db)).toEqual(["600", "600", "600"]);
  });
});
