// Process identity from /proc: a pid plus its start time names one process, even after the
// kernel reuses the pid. Used to tell a dead run's owner from a live one, and (with its uid
// and program) a real PicoFlow daemon from any process a PID file may name.

import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";

/**
 * State letter (field 3), process group (field 5) and start time in clock ticks since boot
 * (field 22) of /proc/PID/stat, or null if gone.
 */
export function readStat(pid: number | string): { state: string; pgid: number; start: string | null } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: rest[0] ?? "", pgid: Number(rest[2]), start: rest[19] ?? null };
  } catch {
    return null;
  }
}

/** Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or null if gone. */
export function processStartTime(pid: number): string | null {
  return readStat(pid)?.start ?? null;
}

let cachedBootId: string | undefined;

/**
 * Boot id, so start times from before a reboot never match a process after it. It cannot
 * change while this process lives, so it is read once (it is asked for on every task spawn).
 */
export function bootId(): string {
  if (cachedBootId !== undefined) return cachedBootId;
  try {
    cachedBootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
  return cachedBootId;
}

/** Identity string of process `pid`: "bootid:starttime" ("bootid:?" if it is already gone). */
export function identityOf(pid: number): string {
  return `${bootId()}:${processStartTime(pid) ?? "?"}`;
}

/**
 * Clock ticks (1/100 s) since boot now, from /proc/uptime: the clock and unit a process's
 * start time (field 22 of /proc/PID/stat) is counted in. Null if it cannot be read.
 */
function bootTicks(): number | null {
  try {
    const text = readFileSync("/proc/uptime", "latin1");
    const m = /^(\d+)\.(\d\d)/.exec(text);
    return m ? Number(m[1]) * 100 + Number(m[2]) : null;
  } catch {
    return null;
  }
}

/** How far the clock may have moved during the spawn for its reading to stand for the start time. */
const SPAWN_ESTIMATE_MAX_MS = 30;

/**
 * Identity of a child spawned since `spawnStartMs` (performance.now() just before the spawn).
 * Reading the child's /proc/PID/stat right after the spawn waits for its exec to finish:
 * 0.2-0.3 ms of blocked main thread per task, about 0.1 ms of it CPU (a 1000-task chain,
 * docs/benchmarks.md). The boot clock read now is instead: the child started between
 * `spawnStartMs` and now, so when the spawn took under SPAWN_ESTIMATE_MAX_MS the reading is at
 * most 4 ticks past its start time, well inside START_TOLERANCE_TICKS. A slower spawn (a
 * loaded machine) reads the real start time.
 */
export function spawnedIdentity(pid: number, spawnStartMs: number): string {
  const ticks = bootTicks();
  if (ticks === null || performance.now() - spawnStartMs > SPAWN_ESTIMATE_MAX_MS) return identityOf(pid);
  return `${bootId()}:${ticks}`;
}

/** Identity string of this process. */
export function selfIdentity(): string {
  return identityOf(process.pid);
}

/**
 * Start times that differ by this many clock ticks (1/100 s) still name the same process.
 * Under qemu-user (how the arm64 binary is smoke-tested) a process reads its own start time
 * from qemu's emulated /proc/self/stat, a couple of ticks off what other processes read for
 * it. The kernel hands out pids in rising order and reuses one only after pid_max others, which
 * takes far longer than a tenth of a second, so the tolerance cannot confuse two processes.
 */
const START_TOLERANCE_TICKS = 10;

/** Does `identity` ("bootid:starttime") name a process of this boot that started at `start`? */
export function identityMatches(identity: string, start: string): boolean {
  const sep = identity.lastIndexOf(":");
  const then = identity.slice(sep + 1);
  if (identity.slice(0, sep) !== bootId() || !/^\d+$/.test(then) || !/^\d+$/.test(start)) return false;
  return Math.abs(Number(start) - Number(then)) <= START_TOLERANCE_TICKS;
}

/**
 * True if the process `pid` that had identity `identity` is still running. A zombie counts as
 * gone: it has exited and only waits for its parent to reap it.
 */
export function isProcessAlive(pid: number, identity: string | null): boolean {
  const st = readStat(pid);
  if (st === null || st.state === "Z" || st.state === "X") return false;
  if (!identity) return true; // no identity recorded: assume alive, never close a live run
  return st.start !== null && identityMatches(identity, st.start);
}

/**
 * True if process group `pgid` has a member that is not a zombie. kill(-pgid, 0) alone is
 * not enough: it succeeds for zombies, and where pid 1 is slow to reap orphans (some
 * containers) a dead group would look alive for the whole kill grace.
 */
export function groupHasLiveMembers(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true;
  }
  const pg = String(pgid);
  for (const d of entries) {
    const c = d.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "latin1");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 3);
      if (f[2] === pg && f[0] !== "Z" && f[0] !== "X") return true;
    } catch {}
  }
  return false;
}

/** Resident set size of `pid` in bytes from /proc/PID/status, or null. */
export function residentBytes(pid: number = process.pid): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Real and effective uid of `pid` (the "Uid:" line of /proc/PID/status), or null if it is gone. */
export function processUids(pid: number): { real: number; effective: number } | null {
  try {
    const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? { real: Number(m[1]), effective: Number(m[2]) } : null;
  } catch {
    return null;
  }
}

/** Pids of the processes running now whose real and effective uid are `uid`. */
export function pidsOfUser(uid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    const uids = processUids(Number(d));
    if (uids && uids.real === uid && uids.effective === uid) out.push(Number(d));
  }
  return out;
}

/** The paths of the files `pid` has open (the targets of /proc/PID/fd), or [] if unreadable. */
export function openPathsOf(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const fd of fds) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {}
  }
  return out;
}

/** Command-line arguments of `pid` (argv[0] first), or null if it is gone or unreadable. */
export function processArgv(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw.endsWith("\0") ? raw.slice(0, -1).split("\0") : raw.split("\0");
  } catch {
    return null;
  }
}

/** dev:ino of a file, following symlinks (and /proc's magic links), or null. */
function fileKey(path: string): string | null {
  try {
    const st = statSync(path);
    return st.isFile() ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

/**
 * The file that is this program: the compiled binary, or the script when Bun runs the source
 * (the executable is then Bun itself). A compiled binary's Bun.main is a path in its embedded
 * file system, which stat answers too, so it is recognised by its prefix.
 */
function selfProgram(): string {
  return Bun.main.startsWith("/$bunfs/") ? process.execPath : Bun.main;
}

/**
 * Does process `pid` run this same program? Yes if its executable is the same file as ours
 * (a compiled binary), or one of its arguments before `beforeArg` names that file, resolved
 * against its working directory: the script Bun runs from source, or the binary that
 * qemu-user runs (there the kernel's /proc/PID/exe is qemu). A binary replaced by an upgrade
 * while the daemon runs still counts by its path ("/usr/bin/picoflow (deleted)").
 */
export function runsSameProgram(pid: number, beforeArg: string): boolean {
  const self = selfProgram();
  const key = fileKey(self);
  if (key === null) return false;
  if (fileKey(`/proc/${pid}/exe`) === key) return true;
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`);
    if (exe.endsWith(" (deleted)") && exe.slice(0, -" (deleted)".length) === realpathSync(self)) return true;
  } catch {}
  const argv = processArgv(pid);
  if (!argv) return false;
  let cwd: string;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return false;
  }
  const end = argv.indexOf(beforeArg);
  for (const arg of argv.slice(0, end < 0 ? argv.length : end)) {
    if (fileKey(resolve(cwd, arg)) === key) return true;
  }
  return false;
}

/** "nobody (uid 65534)", or "uid 1234" when /etc/passwd has no such user. */
export function describeUser(uid: number): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && f[2] === String(uid) && f[0]) return `${f[0]} (uid ${uid})`;
    }
  } catch {}
  return `uid ${uid}`;
}
