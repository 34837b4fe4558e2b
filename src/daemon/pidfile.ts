// The daemon's PID file: line 1 the pid (what other tools expect), line 2 the process identity
// ("bootid:starttime", see sys/proc.ts) so a pid the kernel reused for another program, or a
// file left by a power cut, is recognised as stale instead of blocking the next start.
// The file is trusted only if it is the invoking user's own, is not a symlink, and names a
// PicoFlow daemon of that user: `daemon stop` run as root must not signal a pid planted by
// another user in a shared directory.

import { closeSync, constants, fstatSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { IoError, PicoflowError, systemErrorText } from "../errors.ts";
import { describeUser, isProcessAlive, openPathsOf, pidsOfUser, processArgv, processUids, runsSameProgram, selfIdentity } from "../sys/proc.ts";

// node:crypto on first use, not imported: the compiled binary is one bundle, whose static
// imports all load at start-up, and node:crypto brings Node's stream modules (a few ms).
const nodeCrypto = () => require("node:crypto") as typeof import("node:crypto");

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;

/** Default: picoflow.pid in the database's directory. */
export function defaultPidFile(dbPath: string): string {
  return join(dirname(resolve(dbPath)), "picoflow.pid");
}

export interface PidFileContent {
  pid: number;
  identity: string | null;
  raw: string;
}

export type PidFileState =
  | { state: "missing" }
  | { state: "live"; pid: number; identity: string | null }
  | { state: "stale"; pid: number | null; why: string; raw: string };

/** The one-line refusal of a PID file that belongs to another user (exit 1). */
function foreignFile(path: string, owner: number): PicoflowError {
  const me = process.geteuid!();
  return new PicoflowError(
    `PID file ${path} is owned by ${describeUser(owner)}, not by ${describeUser(me)}; refusing to trust it (run as its owner, or remove it if it is not yours to keep)`,
    1,
  );
}

/**
 * Parse a PID file; null if it does not exist. It is opened without following a symlink
 * (refused, exit 1), must be a regular file (else IoError) and must belong to the invoking
 * user (else exit 1): a file anyone else could have written names nothing we act on.
 */
export function readPidFile(path: string): PidFileContent | { pid: null; raw: string } | null {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted under the name must not hang us; it is refused below.
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP") throw new PicoflowError(`PID file ${path} is a symbolic link; refusing to follow it (remove it)`, 1);
    throw new IoError(`${path}: cannot read PID file: ${systemErrorText(err)}`);
  }
  let raw: string;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new IoError(`${path}: PID file is a directory`);
    if (!st.isFile()) throw new IoError(`${path}: PID file is not a regular file`);
    if (st.uid !== process.geteuid!()) throw foreignFile(path, st.uid);
    raw = readFileSync(fd, "utf8");
  } catch (err) {
    if (err instanceof PicoflowError) throw err;
    throw new IoError(`${path}: cannot read PID file: ${systemErrorText(err)}`);
  } finally {
    closeSync(fd);
  }
  const [first, second] = raw.split("\n");
  if (!/^\d+$/.test(first?.trim() ?? "") || Number(first) < 1) return { pid: null, raw };
  const identity = second?.trim() || null;
  return { pid: Number(first), identity, raw };
}

/**
 * Why live process `pid` is not a PicoFlow daemon of this user, or null if it is one: it
 * must run as us (the PID file's owner, checked by readPidFile) and be a `daemon start`.
 * pidFileState then also wants it to run this same program (sys/proc.ts runsSameProgram).
 */
function notOurDaemon(pid: number): string | null {
  const uids = processUids(pid);
  if (uids === null) return `process ${pid} is gone`;
  const me = process.geteuid!();
  if (uids.real !== me || uids.effective !== me) return `pid ${pid} runs as ${describeUser(uids.effective)}, not as the PID file's owner`;
  const argv = processArgv(pid) ?? [];
  if (!argv.includes("daemon") || !argv.includes("start")) return `pid ${pid} is not a picoflow daemon`;
  return null;
}

/**
 * A `daemon start` of this user that runs another program (another copy of picoflow, say one
 * in a download directory while the service runs /usr/local/bin/picoflow): neither signalled
 * nor treated as stale, since removing its PID file would let a second daemon start beside it.
 */
function otherProgram(path: string, pid: number): PicoflowError {
  return new PicoflowError(
    `PID file ${path} names pid ${pid}, a 'daemon start' of ${processArgv(pid)?.[0] ?? "another program"}, which is not this program; ` +
      `refusing to act on it (use the program the daemon runs, or remove the file if no daemon uses it)`,
    1,
  );
}

/** Is the daemon named by this PID file alive? */
export function pidFileState(path: string): PidFileState {
  const c = readPidFile(path);
  if (c === null) return { state: "missing" };
  if (c.pid === null) return { state: "stale", pid: null, why: "it does not contain a pid", raw: c.raw };
  const { pid, identity } = c as PidFileContent;
  // Our own pid in the file: written by an earlier daemon that had it before a reboot.
  if (pid === process.pid) return { state: "stale", pid, why: `pid ${pid} is this process (the file is from before a reboot)`, raw: c.raw };
  if (!isProcessAlive(pid, null)) return { state: "stale", pid, why: `process ${pid} is gone`, raw: c.raw };
  if (identity !== null && !isProcessAlive(pid, identity)) return { state: "stale", pid, why: `pid ${pid} now belongs to another process`, raw: c.raw };
  const why = notOurDaemon(pid);
  if (why !== null) return { state: "stale", pid, why, raw: c.raw };
  if (!runsSameProgram(pid, "daemon")) throw otherProgram(path, pid);
  return { state: "live", pid, identity };
}

/**
 * The live PicoFlow daemons of this user (running this same program), each with the database
 * it has open (the file whose -wal it also has open), for a `daemon stop` or `status` that
 * found no PID file where it looked: they tell the user where to look instead.
 */
export function runningDaemons(): { pid: number; dbPath: string | null }[] {
  return pidsOfUser(process.geteuid!())
    .filter((pid) => pid !== process.pid && notOurDaemon(pid) === null && runsSameProgram(pid, "daemon"))
    .map((pid) => {
      const open = new Set(openPathsOf(pid));
      return { pid, dbPath: [...open].find((p) => open.has(`${p}-wal`)) ?? null };
    });
}

/** Remove a stale PID file, but only if it still holds what we judged stale (another starter may have replaced it). */
function removeIfUnchanged(path: string, raw: string): void {
  try {
    if (readPidFile(path)?.raw === raw) unlinkSync(path);
  } catch {}
}

export interface PidFileHandle {
  path: string;
  /** What was replaced, if a stale file was found. */
  replaced?: { pid: number | null; why: string };
  release(): void;
}

/**
 * Claim the PID file for this process. A live daemon on the same file refuses the start
 * (exit 1); a stale file of ours is replaced; a symlink or another user's file is refused
 * (exit 1), never removed or written through. The file appears complete and atomically
 * (written to a temporary name, then hard-linked into place, which fails if the name exists
 * in any form, a dangling symlink included).
 */
export function acquirePidFile(path: string): PidFileHandle {
  const abs = resolve(path);
  const content = `${process.pid}\n${selfIdentity()}\n`;
  // A fresh, unguessable name created exclusively: a symlink or file planted under a
  // predictable name must not make a root daemon write through it.
  const tmp = join(dirname(abs), `.${basename(abs)}.${nodeCrypto().randomBytes(9).toString("hex")}.tmp`);
  try {
    const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } catch (err) {
      unlinkSync(tmp);
      throw err;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new IoError(`${path}: cannot write PID file: directory ${dirname(abs)} does not exist`);
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") throw new IoError(`${path}: cannot write PID file: permission denied`);
    throw new IoError(`${path}: cannot write PID file: ${systemErrorText(err)}`);
  }
  let replaced: PidFileHandle["replaced"];
  try {
    for (let tries = 0; ; tries++) {
      try {
        linkSync(tmp, abs);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || tries >= 5) {
          throw new IoError(`${path}: cannot write PID file: ${systemErrorText(err)}`);
        }
      }
      const st = pidFileState(abs);
      if (st.state === "live") {
        throw new PicoflowError(`a daemon is already running (pid ${st.pid}, PID file ${path}); stop it first with 'picoflow daemon stop'`, 1);
      }
      if (st.state === "stale") {
        replaced = { pid: st.pid, why: st.why };
        removeIfUnchanged(abs, st.raw);
      }
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {}
  }
  return {
    path: abs,
    replaced,
    release: () => removeIfUnchanged(abs, content),
  };
}
