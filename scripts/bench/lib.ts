// Measurement helpers for the benchmarks: timed child processes, medians, resident memory
// from /proc, a description of the machine, and compiling small probe programs.

import { closeSync, fsyncSync, openSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Timed {
  seconds: number;
  code: number;
  /** User + system CPU time of the process and the children it waited for. */
  cpuSeconds: number;
  /** Peak resident memory of the process itself (VmHWM, sampled every 10 ms), bytes. */
  peakRss: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a command to completion; wall time from spawn to exit. With `samplePeak`, VmHWM of the
 * process is read every 10 ms (wait4's ru_maxrss would include its children).
 */
export async function timed(
  cmd: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; samplePeak?: boolean } = {},
): Promise<Timed> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env ?? process.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let peakRss = 0;
  let sampling = opts.samplePeak ?? false;
  const sampler = (async () => {
    while (sampling) {
      const m = memory(p.pid);
      if (m) peakRss = Math.max(peakRss, m.hwm);
      await Bun.sleep(10);
    }
  })();
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const seconds = (performance.now() - t0) / 1000;
  sampling = false;
  await sampler;
  const ru = p.resourceUsage();
  const cpuSeconds = ru ? Number(ru.cpuTime.user + ru.cpuTime.system) / 1e6 : 0;
  return { seconds, code, cpuSeconds, peakRss, stdout, stderr };
}

/** Fail loudly: a benchmark of a command that failed measures nothing. */
export function ensureOk(t: Timed, what: string): Timed {
  if (t.code !== 0) throw new Error(`${what} exited ${t.code}\n${t.stdout.slice(-2000)}\n${t.stderr.slice(-2000)}`);
  return t;
}

export interface MemSample {
  /** VmRSS: resident now. */
  rss: number;
  /** VmHWM: peak resident so far. */
  hwm: number;
  /** From smaps_rollup: anonymous (heap, JIT, stacks) and file-backed (the mapped binary) pages. */
  anon: number;
  file: number;
  /** From smaps_rollup: pages only this process has written (heap, stacks, relocated data). */
  privateDirty: number;
}

const kb = (text: string, key: string) => {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : 0;
};

export function memory(pid: number): MemSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    let anon = kb(status, "RssAnon");
    let file = kb(status, "RssFile") + kb(status, "RssShmem");
    let privateDirty = 0;
    try {
      const roll = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      anon = kb(roll, "Anonymous");
      file = kb(roll, "Rss") - anon;
      privateDirty = kb(roll, "Private_Dirty");
    } catch {}
    return { rss: kb(status, "VmRSS"), hwm: kb(status, "VmHWM"), anon, file, privateDirty };
  } catch {
    return null;
  }
}

/** Every descendant of `pid` (children, grandchildren, ...), from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of require("node:fs").readdirSync("/proc") as string[]) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export const MiB = 1024 * 1024;
export const mb = (bytes: number) => (bytes / MiB).toFixed(1);
/** A difference in MB with its sign: "+0.3", "-1.2". */
export const signedMb = (bytes: number) => `${bytes >= 0 ? "+" : "-"}${mb(Math.abs(bytes))}`;

/**
 * Write a file's dirty pages to disk. A program freshly written (a probe just compiled, a
 * binary just built) maps page-cache pages that are still dirty: smaps counts them as its
 * Private_Dirty until the kernel writes them back, which would inflate "private memory".
 */
export function syncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
export const ms = (seconds: number) => (seconds * 1000).toFixed(0);

export function machine(): string {
  const cpu = cpus();
  const model = cpu[0]?.model?.trim() || "unknown CPU";
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {}
  let osName = "";
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
  } catch {}
  const make = Bun.spawnSync(["make", "--version"]).stdout.toString().split("\n")[0] ?? "make";
  return `${cpu.length} × ${model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${kernel} (${osName}), ${process.arch}, Bun ${Bun.version}, ${make}`;
}

export function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

/** Compile a probe program (scripts/bench/probes/NAME.ts) the way the release is built. */
export async function compileProbe(name: string, outdir: string): Promise<string> {
  const outfile = join(outdir, `probe-${name}`);
  const r = await Bun.build({
    entrypoints: [join(ROOT, "scripts/bench/probes", `${name}.ts`)],
    target: "bun",
    minify: { whitespace: true, syntax: true, identifiers: false },
    external: ["cpu-features"],
    compile: { target: process.arch === "arm64" ? "bun-linux-arm64" : "bun-linux-x64", outfile, autoloadDotenv: false, autoloadBunfig: false },
  } as Bun.BuildConfig);
  if (!r.success) throw new Error(`cannot compile probe ${name}: ${r.logs.join("\n")}`);
  syncFile(outfile);
  return outfile;
}

/** A free TCP port on 127.0.0.1 (bound and released; fine for a benchmark). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export async function waitUntil(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/**
 * Ask the kernel to reclaim every file-backed page another process has mapped (its binary,
 * libc): process_madvise(MADV_PAGEOUT) through a pidfd (Linux 5.10+, needs root or
 * CAP_SYS_NICE). What the process touches again afterwards is its real working set; clean
 * file pages it does not touch are what the kernel would take back anyway under pressure.
 * Returns the bytes it asked to page out, or null where that is not possible.
 */
export function pageOutFileMappings(pid: number): number | null {
  try {
    const { dlopen, FFIType, ptr } = require("bun:ffi") as typeof import("bun:ffi");
    const i64 = FFIType.i64;
    const libc = dlopen("libc.so.6", { syscall: { args: [i64, i64, i64, i64, i64, i64], returns: i64 } });
    try {
      const SYS_pidfd_open = 434; // the same number on x86-64 and arm64
      const SYS_process_madvise = 440;
      const MADV_PAGEOUT = 21;
      const pidfd = Number(libc.symbols.syscall(SYS_pidfd_open, pid, 0, 0, 0, 0));
      if (pidfd < 0) return null;
      let total = 0;
      for (const line of readFileSync(`/proc/${pid}/maps`, "utf8").split("\n")) {
        const f = line.split(/\s+/);
        if (f.length < 6 || !f[5]!.startsWith("/")) continue; // file-backed mappings only
        const [start, end] = f[0]!.split("-").map((x) => BigInt(`0x${x}`));
        const iov = new BigUint64Array([start!, end! - start!]);
        const r = Number(libc.symbols.syscall(SYS_process_madvise, pidfd, Number(ptr(iov)), 1, MADV_PAGEOUT, 0));
        if (r > 0) total += r;
      }
      require("node:fs").closeSync(pidfd);
      return total;
    } finally {
      libc.close();
    }
  } catch {
    return null;
  }
}

/** The system calls that write file data or force it to disk, as strace names them. */
export const WRITE_SYSCALLS = ["write", "pwrite64", "pwritev", "pwritev2", "writev", "fsync", "fdatasync"];

/** strace, or a clear message on how to get it. */
export function requireStrace(): string {
  const p = Bun.which("strace");
  if (!p) {
    throw new Error(
      "strace is missing: the write figures (workloads 6 and 7) count system calls with it.\n" +
        "Install it (Debian, Ubuntu, Raspberry Pi OS: `sudo apt-get install -y strace`), or leave them out with --only 1,2,3,4,5,8",
    );
  }
  return p;
}

/** strace arguments that log every write to a file, with the file's path (-y), and no data. */
export function straceArgs(out: string): string[] {
  return ["-f", "-y", "-qq", "-s", "0", "-e", `trace=${WRITE_SYSCALLS.join(",")}`, "-o", out];
}

export interface WriteTally {
  /** Bytes written to the database, its -wal, -shm and -journal. */
  dbBytes: number;
  dbWrites: number;
  /**
   * fsync + fdatasync calls on the database files. In WAL mode with synchronous=NORMAL a
   * commit does not sync, a checkpoint does (and so does a commit in rollback-journal mode,
   * before the database switched to WAL).
   */
  dbSyncs: number;
  /** WAL frames appended (one per page written; each has a 24-byte header written on its own). */
  walFrames: number;
  /** Bytes written to other regular files (not pipes, sockets or terminals). */
  otherFileBytes: number;
  /** Bytes per file, database files and others. */
  byFile: Record<string, number>;
}

/**
 * Sum an `strace -f -y` log (straceArgs) into bytes per file. A call interrupted by another
 * thread's appears as `<unfinished ...>` and later `<... name resumed>`; its file comes from
 * the first half, its result from the second.
 */
export function tallyStrace(text: string, dbPath: string): WriteTally {
  const dbFiles = new Set(["", "-wal", "-shm", "-journal"].map((s) => dbPath + s));
  const t: WriteTally = { dbBytes: 0, dbWrites: 0, dbSyncs: 0, walFrames: 0, otherFileBytes: 0, byFile: {} };
  const pending = new Map<string, { call: string; file: string }>();
  const call = /^(\d+)\s+(\w+)\(\d+<([^>]*)>/;
  const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>/;
  const result = /\)\s+= (-?\d+)/;
  const add = (name: string, file: string, ret: number) => {
    if (ret < 0) return;
    const isDb = dbFiles.has(file);
    if (name === "fsync" || name === "fdatasync") {
      if (isDb) t.dbSyncs++;
      return;
    }
    if (isDb) {
      t.dbBytes += ret;
      t.dbWrites++;
      if (file === `${dbPath}-wal` && ret === 24) t.walFrames++;
    } else if (file.startsWith("/") && !file.startsWith("/dev/") && !file.startsWith("/proc/")) t.otherFileBytes += ret;
    else return;
    t.byFile[file] = (t.byFile[file] ?? 0) + ret;
  };
  for (const line of text.split("\n")) {
    let m = call.exec(line);
    if (m) {
      if (line.includes("<unfinished ...>")) pending.set(m[1]!, { call: m[2]!, file: m[3]! });
      else add(m[2]!, m[3]!, Number(result.exec(line)?.[1] ?? -1));
      continue;
    }
    m = resumed.exec(line);
    if (m) {
      const p = pending.get(m[1]!);
      pending.delete(m[1]!);
      if (p) add(p.call, p.file, Number(result.exec(line)?.[1] ?? -1));
    }
  }
  return t;
}

export const kB = (bytes: number) => (bytes / 1024).toFixed(1);
