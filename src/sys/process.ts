// The one place that spawns task processes (Bun.spawn). Each child leads its own process
// group, so a timeout or Ctrl-C can stop the whole tree: SIGTERM to the group, SIGKILL after
// a grace period. Both pipes are drained concurrently with a cap, so a child never blocks.

import { closeSync, openSync, readSync, statSync } from "node:fs";
import { constants } from "node:os";
import { systemErrorText } from "../errors.ts";
import { drain, OutputBuffer } from "../executors/capture.ts";
import { findMarkedProcesses } from "./environ.ts";
import { bootId, groupHasLiveMembers, identityMatches, isProcessAlive, processStartTime, readStat, spawnedIdentity } from "./proc.ts";

export interface ProcessSpec {
  argv: string[];
  cwd?: string;
  env: Record<string, string | undefined>;
  signal: AbortSignal;
  killGraceMs: number;
  outputLimit: number;
  onOutput?: (stream: "stdout" | "stderr", text: string) => void;
  /** The child started: its pid and identity ("bootid:starttime", see proc.ts), for crash recovery. */
  onSpawn?: (pid: number, identity: string) => void;
}

export interface ProcessOutcome {
  /** Exit code, or 128 + signal number when killed by a signal (as shells report it). */
  exitCode: number | null;
  /** Signal that ended the process, if any. */
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Set when the process could not be started at all. */
  spawnError?: string;
  /** The process could not be started and trying again cannot change that (see startProblem). */
  permanent?: boolean;
  /** True when `signal` was aborted before the process ended on its own. */
  stopped: boolean;
}

/** Send `sig` to every process in group `pgid`. False if the group no longer exists. */
export function killGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kill what is left of a task's process group after its owner died (kill -9, power loss).
 * `identity` is the leader's "bootid:starttime" when it started. The group is only touched
 * when that identity still holds, or when the leader is gone in the same boot: the kernel
 * never reuses a pid as long as a process group of that number has members, so then the
 * members are the task's own leftovers.
 */
export function killOrphanGroup(pgid: number, identity: string | null): boolean {
  if (!identity) return false;
  if (!identity.startsWith(`${bootId()}:`)) return false;
  const now = processStartTime(pgid);
  if (now !== null && !identityMatches(identity, now)) return false; // the pid now names another process
  return killGroup(pgid, "SIGKILL");
}

/** Rounds of scan-and-kill: a process forked between a scan and its kill is found by the next. */
const MARKED_KILL_ROUNDS = 5;

/**
 * SIGKILL every live process carrying the marker of one of `runIds` (runs whose owner is
 * dead), together with the process group it leads, and wait up to `waitMs` until they are gone.
 * This process and its own group are never touched (a `picoflow run` started by a task of a
 * dead run carries that run's marker too). Returns how many processes were found.
 */
export async function killMarkedProcesses(runIds: ReadonlySet<string>, waitMs: number): Promise<number> {
  const self = process.pid;
  const ownGroup = readStat(self)?.pgid;
  const seen = new Set<number>();
  const deadline = Date.now() + waitMs;
  for (let round = 0; round < MARKED_KILL_ROUNDS; round++) {
    const found = findMarkedProcesses(runIds).filter((p) => p.pid !== self);
    if (!found.length) break;
    // A group is killed whole only when its leader is marked too (a task, or a child that
    // called setsid): then its members are the run's, marked or not. A marked process that
    // joined a group led by another process is killed alone.
    const marked = new Set(found.map((p) => p.pid));
    for (const p of found) {
      seen.add(p.pid);
      if (marked.has(p.pgid) && p.pgid !== ownGroup) killGroup(p.pgid, "SIGKILL");
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {}
    }
    // SIGKILL is delivered at once, but a process in uninterruptible sleep (D) dies only when
    // its I/O returns: wait for it, within bounds.
    while (found.some((p) => isProcessAlive(p.pid, null)) && Date.now() < deadline) await Bun.sleep(10);
    if (Date.now() >= deadline) break;
  }
  return seen.size;
}

/** How long recovery waits for a dead run's processes to be gone after SIGKILL. */
const LEFTOVER_WAIT_MS = 2000;

/**
 * Stop everything dead runs left running: the process groups their unfinished attempts
 * recorded, and every process carrying one of their markers (a pid that was never recorded,
 * a child that left its group with setsid).
 */
export async function stopLeftovers(left: { runIds: string[]; groups: { pid: number; identity: string | null }[] }): Promise<void> {
  // A `picoflow run` that a dead run's task exec'd into leads that task's group: not itself.
  const ownGroup = readStat(process.pid)?.pgid;
  for (const g of left.groups) if (g.pid !== ownGroup) killOrphanGroup(g.pid, g.identity);
  await killMarkedProcesses(new Set(left.runIds), LEFTOVER_WAIT_MS);
}

/** The group exists and has a member that is not a zombie. */
function groupAlive(pgid: number): boolean {
  return killGroup(pgid, 0) && groupHasLiveMembers(pgid);
}

/** SIGTERM the group, SIGKILL whatever is left after `graceMs`. Resolves when the group is gone. */
export async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  if (!killGroup(pgid, "SIGTERM")) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await Bun.sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    if (!groupAlive(pgid)) return;
  }
  killGroup(pgid, "SIGKILL");
}

/**
 * Why a process could not be started, in words. `permanent`: the same start would fail the
 * same way a second later (a missing or non-executable command or workdir), so the runner
 * does not retry it; anything else (out of memory, too many processes) may pass next time.
 */
function startProblem(spec: ProcessSpec, err: unknown): { exitCode: number | null; message: string; permanent: boolean } {
  if (spec.cwd) {
    let isDir = false;
    try {
      isDir = statSync(spec.cwd).isDirectory();
    } catch {}
    if (!isDir) return { exitCode: null, message: `workdir ${spec.cwd} does not exist or is not a directory`, permanent: true };
  }
  const code = (err as NodeJS.ErrnoException).code;
  const cmd = spec.argv[0];
  if (code === "ENOENT") return { exitCode: 127, message: `command not found: ${cmd}`, permanent: true };
  if (code === "EACCES" || code === "EPERM") return { exitCode: 126, message: `permission denied: ${cmd}`, permanent: true };
  if (code === "ENOEXEC") return { exitCode: 126, message: `cannot execute ${cmd}: exec format error (a program for another machine, or a damaged file)`, permanent: true };
  return { exitCode: 126, message: `cannot start ${cmd}: ${systemErrorText(err)}`, permanent: false };
}

/**
 * A file the kernel refused to execute (ENOEXEC) is a script without a `#!` line, or a binary
 * it cannot run. As execvp(3) and cron do, a script is run with /bin/sh; a binary (an ELF
 * header or NUL bytes near the start: an arm64 build on x86, a truncated download) is not.
 */
function shellFallback(argv: string[], spec: ProcessSpec): string[] | null {
  const cmd = argv[0]!;
  const path = cmd.includes("/") ? cmd : Bun.which(cmd, { PATH: spec.env.PATH ?? "", cwd: spec.cwd });
  if (!path) return null;
  let head: Buffer;
  try {
    const fd = openSync(path, "r");
    try {
      head = Buffer.alloc(512);
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  if (head.includes(0) || head.subarray(0, 4).toString("latin1") === "\x7fELF") return null;
  return ["/bin/sh", path, ...argv.slice(1)];
}

type Child = Bun.Subprocess<"ignore", "pipe", "pipe">;

function spawnChild(argv: string[], spec: ProcessSpec): Child {
  return Bun.spawn(argv, {
    cwd: spec.cwd,
    env: spec.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // setsid(): the child leads a new process group, and Ctrl-C on our terminal does not
    // reach it directly; we decide when and how it is stopped.
    detached: true,
  });
}

/** Start the command; a script without `#!` is handed to /bin/sh (see shellFallback). */
function startChild(spec: ProcessSpec): Child {
  try {
    return spawnChild(spec.argv, spec);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOEXEC") throw err;
    const viaShell = shellFallback(spec.argv, spec);
    if (!viaShell) throw err;
    return spawnChild(viaShell, spec);
  }
}

export async function runProcess(spec: ProcessSpec): Promise<ProcessOutcome> {
  const out = new OutputBuffer(spec.outputLimit);
  const err = new OutputBuffer(spec.outputLimit);
  if (spec.signal.aborted) return { exitCode: null, signal: null, stdout: "", stderr: "", spawnError: "not started: stopped", stopped: true };

  let child: Child;
  const spawnStart = performance.now();
  try {
    child = startChild(spec);
  } catch (e) {
    const p = startProblem(spec, e);
    return { exitCode: p.exitCode, signal: null, stdout: "", stderr: "", spawnError: p.message, permanent: p.permanent, stopped: false };
  }
  const pgid = child.pid;
  spec.onSpawn?.(pgid, spawnedIdentity(pgid, spawnStart));

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= terminateGroup(pgid, spec.killGraceMs);
  };
  spec.signal.addEventListener("abort", stop, { once: true });

  let drained = false;
  const drains = Promise.all([
    drain(child.stdout, out, spec.onOutput && ((t) => spec.onOutput!("stdout", t))),
    drain(child.stderr, err, spec.onOutput && ((t) => spec.onOutput!("stderr", t))),
  ]).then(() => {
    drained = true;
  });

  let stopped = false;
  try {
    await child.exited;
    stopped = spec.signal.aborted;
    // The leader is gone. Anything it left in its group (a backgrounded child) is stopped
    // too, so no orphan outlives its task; it would also hold our pipes open.
    if (groupAlive(pgid)) stop();
    if (stopping) await stopping;
    // The pipes close once every writer is gone. A process that escaped the group with its
    // own setsid() could keep them open: don't wait for it forever.
    // Usually both have ended by now: no timer then.
    if (!drained) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([drains, new Promise((r) => (timer = setTimeout(r, spec.killGraceMs + 1000)))]);
      clearTimeout(timer);
    }
  } finally {
    spec.signal.removeEventListener("abort", stop);
  }

  const sig = child.signalCode as string | null;
  const signum = sig ? (constants.signals as Record<string, number>)[sig] ?? 0 : 0;
  const exitCode = child.exitCode ?? (sig ? 128 + signum : null);
  return { exitCode, signal: sig, stdout: out.text(), stderr: err.text(), stopped };
}
