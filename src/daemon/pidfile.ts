// The daemon's PID file: line 1 the pid (what other tools expect), line 2 the process identity
// ("bootid:starttime", see sys/proc.ts) so a pid the kernel reused for another program, or a
// file left by a power cut, is recognised as stale instead of blocking the next start.

import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { IoError, PicoflowError } from "../errors.ts";
import { isProcessAlive, selfIdentity } from "../sys/proc.ts";

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

/** Parse a PID file; null if it does not exist. Throws IoError if it cannot be read. */
export function readPidFile(path: string): PidFileContent | { pid: null; raw: string } | null {
  let raw: string;
  try {
    raw = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "EISDIR") throw new IoError(`${path}: PID file is a directory`);
    throw new IoError(`${path}: cannot read PID file: ${code ?? (err as Error).message}`);
  }
  const [first, second] = raw.split("\n");
  if (!/^\d+$/.test(first?.trim() ?? "") || Number(first) < 1) return { pid: null, raw };
  const identity = second?.trim() || null;
  return { pid: Number(first), identity, raw };
}

/** A pid without a recorded identity counts as ours only if its command line is a picoflow daemon. */
function looksLikeDaemon(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.includes("daemon") && argv.includes("start");
  } catch {
    return false;
  }
}

/** Is the daemon named by this PID file alive? */
export function pidFileState(path: string): PidFileState {
  const c = readPidFile(path);
  if (c === null) return { state: "missing" };
  if (c.pid === null) return { state: "stale", pid: null, why: "it does not contain a pid", raw: c.raw };
  const { pid, identity } = c as PidFileContent;
  // Our own pid in the file: written by an earlier daemon that had it before a reboot.
  if (pid === process.pid) return { state: "stale", pid, why: `pid ${pid} is this process (the file is from before a reboot)`, raw: c.raw };
  if (identity !== null) {
    if (isProcessAlive(pid, identity)) return { state: "live", pid, identity };
    return { state: "stale", pid, why: isProcessAlive(pid, null) ? `pid ${pid} now belongs to another process` : `process ${pid} is gone`, raw: c.raw };
  }
  if (isProcessAlive(pid, null) && looksLikeDaemon(pid)) return { state: "live", pid, identity: null };
  return { state: "stale", pid, why: isProcessAlive(pid, null) ? `pid ${pid} is not a picoflow daemon` : `process ${pid} is gone`, raw: c.raw };
}

/** Remove a stale PID file, but only if it still holds what we judged stale (another starter may have replaced it). */
function removeIfUnchanged(path: string, raw: string): void {
  try {
    if (readFileSync(path, "utf8") === raw) unlinkSync(path);
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
 * (exit 1); a stale file is replaced. The file appears complete and atomically (written to
 * a temporary name, then hard-linked into place, which fails if the name exists).
 */
export function acquirePidFile(path: string): PidFileHandle {
  const abs = resolve(path);
  const content = `${process.pid}\n${selfIdentity()}\n`;
  const tmp = `${abs}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, "w", 0o644);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new IoError(`${path}: cannot write PID file: directory ${dirname(abs)} does not exist`);
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") throw new IoError(`${path}: cannot write PID file: permission denied`);
    throw new IoError(`${path}: cannot write PID file: ${code ?? (err as Error).message}`);
  }
  let replaced: PidFileHandle["replaced"];
  try {
    for (let tries = 0; ; tries++) {
      try {
        linkSync(tmp, abs);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || tries >= 5) {
          throw new IoError(`${path}: cannot write PID file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
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
