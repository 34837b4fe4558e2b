// The benchmarks of docs/benchmarks.md, side by side on this machine, median of several runs:
//
//   bun run build && bun run bench [--runs N] [--only 1,2,...,9] [--bin PATH] [--quick]
//       [--idle-seconds S] [--idle-writes-seconds S] [--soak-seconds S]
//       [--daemon-metrics on|off] [--json FILE]
//
//   1. 1000-task layered DAG of /bin/true, max_parallel 8, vs `make -j8` on the same graph
//   2. 200-task chain of /bin/true vs `make`
//   3. `picoflow validate` of the 1000-task file, compiled binary, cold process, block and
//      flow style
//   4. idle daemon memory (resident, private) vs a compiled Bun program that only sleeps;
//      10 tasks in parallel; binary sizes
//   5. peak memory of a task printing 10 MiB and one printing 100 MB
//   6. bytes written to the database files per task: strace of the 1000-task DAG run
//   7. bytes an idle daemon writes (strace for --idle-writes-seconds, default 300)
//   8. idle daemon private memory after a soak of 20 workflows firing every second
//      (--soak-seconds, default 600)
//   9. the dashboard's budgets: JS + CSS the page loads, the idle daemon's private memory with
//      [web] enabled but unvisited vs enabled = false (and after a visit), GET /api/v1/overview
//      with 10,000 runs in the database (scripts/bench/dashboard.ts)
//
// Every run ends with a summary table in the README's "How fast / how small" shape.
// --quick shortens the idle, idle-writes and soak phases (for trying the harness out).
//
// PicoFlow and make alternate run by run, so a noisy neighbour hurts both alike. Nothing here
// is asserted in `bun test`: timings belong to benchmarks, not tests.

import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import {
  compileProbe,
  ensureOk,
  freePort,
  kB,
  loadAverage,
  machine,
  mb,
  median,
  memory,
  MiB,
  ms,
  pageOutFileMappings,
  requireStrace,
  ROOT,
  signedMb,
  straceArgs,
  syncFile,
  tallyStrace,
  timed,
  waitUntil,
  type MemSample,
  type Timed,
  type WriteTally,
} from "./lib.ts";
import { dashboardWorkload } from "./dashboard.ts";
import { chain, layered, outputYaml, parallelSleepYaml, scheduledYaml, workflowFlowYaml, writeGraph } from "./workloads.ts";

interface Args {
  runs: number;
  only: Set<number>;
  bin: string;
  idleSeconds: number;
  idleWritesSeconds: number;
  soakSeconds: number;
  daemonMetrics: boolean;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    runs: 5,
    only: new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    bin: join(ROOT, "dist/picoflow-linux-x64"),
    idleSeconds: 30,
    idleWritesSeconds: 300,
    soakSeconds: 600,
    daemonMetrics: true,
  };
  let quick = false;
  const set: Record<string, boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => argv[++i] ?? "";
    if (k === "--runs") a.runs = Math.max(1, Number(v()));
    else if (k === "--only") a.only = new Set(v().split(",").map(Number));
    else if (k === "--bin") a.bin = resolve(v());
    else if (k === "--idle-seconds") (a.idleSeconds = Number(v())), (set.idle = true);
    else if (k === "--idle-writes-seconds") (a.idleWritesSeconds = Number(v())), (set.writes = true);
    else if (k === "--soak-seconds") (a.soakSeconds = Number(v())), (set.soak = true);
    else if (k === "--quick") quick = true;
    else if (k === "--json") a.json = resolve(v());
    else if (k === "--daemon-metrics") a.daemonMetrics = v() !== "off";
    else if (k === "--help" || k === "-h") {
      // The usage is this file's opening comment.
      const head = readFileSync(import.meta.path, "utf8").split("\n\n")[0]!;
      console.log(head.replace(/^\/\/ ?/gm, ""));
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  // Short phases for trying the harness; explicit durations still win.
  if (quick) {
    if (!set.idle) a.idleSeconds = 5;
    if (!set.writes) a.idleWritesSeconds = 20;
    if (!set.soak) a.soakSeconds = 30;
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
if (!existsSync(args.bin)) {
  console.error(`${relative(process.cwd(), args.bin)} is missing: run \`bun run build\` first`);
  process.exit(1);
}
// Its pages in the page cache must not be dirty, or they count as its private memory.
syncFile(args.bin);
// The write figures need strace: say so before the long workloads, not after them.
if (args.only.has(6) || args.only.has(7)) {
  try {
    requireStrace();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
const work = mkdtempSync(join(tmpdir(), "picoflow-bench-"));
// `[execution] max_parallel` (default 4) caps the tasks of a `run`; the workloads set their own
// max_parallel (8 for the 1000-task DAG, as `make -j8`) and the cap must not lower it, so the
// figures stay comparable with earlier ones. Runs start in `work`: ./picoflow.toml applies.
writeFileSync(join(work, "picoflow.toml"), "[execution]\nmax_parallel = 8\n");
const results: Record<string, unknown> = { machine: machine(), runs: args.runs, bin: relative(ROOT, args.bin) };
const lines: string[] = [];
const say = (s = "") => {
  lines.push(s);
  console.log(s);
};
/** Rows of the closing summary: figure, PicoFlow's result against its target, reference. */
const summary: [string, string, string][] = [];
const verdict = (met: boolean) => (met ? "met" : "**missed**");

/** Environment of every PicoFlow run: nothing from this machine's config, JSON logs. */
function pfEnv(dir: string): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, PICOFLOW_LOG_FORMAT: "json", PICOFLOW_METRICS_PORT: String(freePort()) };
}

/**
 * One `picoflow run`. By default into `db`, a database that already exists, as on a machine
 * that has been running PicoFlow (creating the schema is a one-time cost); with no `db`, into
 * a fresh one that is removed afterwards.
 */
let dbCounter = 0;
async function pfRun(file: string, opts: { samplePeak?: boolean; db?: string } = {}): Promise<Timed> {
  const db = opts.db ?? join(work, `run-${++dbCounter}.db`);
  const t = ensureOk(
    await timed([args.bin, "--db-path", db, "run", file], { cwd: work, env: pfEnv(work), samplePeak: opts.samplePeak }),
    `picoflow run ${file}`,
  );
  if (!opts.db) for (const suffix of ["", "-wal", "-shm"]) rmSync(db + suffix, { force: true });
  return t;
}

function ratioLine(label: string, pf: Timed[], other: Timed[], otherName: string, target: number): Record<string, number> {
  const p = median(pf.map((t) => t.seconds));
  const o = median(other.map((t) => t.seconds));
  const ratio = p / o;
  // Per-run ratios of adjacent runs: robust against a neighbour that slows the machine for a while.
  const paired = median(pf.map((t, i) => t.seconds / other[i]!.seconds));
  const pc = median(pf.map((t) => t.cpuSeconds));
  const oc = median(other.map((t) => t.cpuSeconds));
  say(
    `| ${label} | ${ms(p)} ms | ${ms(o)} ms | **${ratio.toFixed(2)}×** (paired ${paired.toFixed(2)}×) | ≤ ${target}× | ${ratio <= target ? "met" : "missed"} |`,
  );
  say(`|   CPU time, user + system incl. tasks | ${ms(pc)} ms | ${ms(oc)} ms | ${(pc / oc).toFixed(2)}× | | |`);
  say(`|   wall, each run (PicoFlow / ${otherName}, ms) | ${pf.map((t) => ms(t.seconds)).join(", ")} | ${other.map((t) => ms(t.seconds)).join(", ")} | | | |`);
  return { picoflowMs: p * 1000, otherMs: o * 1000, ratio, pairedRatio: paired, picoflowCpuMs: pc * 1000, otherCpuMs: oc * 1000 };
}

async function versusMake(n: number, label: string, graph: ReturnType<typeof layered>, makeArgs: string[], target: number) {
  const files = writeGraph(work, graph);
  // Check once that the run really did every task, then warm the page cache for all three.
  const db = join(work, `check-${graph.name}.db`);
  ensureOk(await timed([args.bin, "--db-path", db, "run", files.yaml], { cwd: work, env: pfEnv(work) }), "picoflow run");
  const check = new Database(db, { readonly: true });
  const ok = (check.query("SELECT count(*) AS n FROM task_executions WHERE status = 'success'").get() as { n: number }).n;
  check.close();
  if (ok !== graph.tasks.length) throw new Error(`${graph.name}: expected ${graph.tasks.length} successful tasks, found ${ok}`);
  const makeCmd = ["make", "-s", ...makeArgs, "-f", files.makefile];
  const floorCmd = [await spawnProbe(), files.json];
  ensureOk(await timed(makeCmd, { cwd: work }), "make");
  ensureOk(await timed(floorCmd, { cwd: work }), "spawn-graph probe");

  const pf: Timed[] = [];
  const mk: Timed[] = [];
  const floor: Timed[] = [];
  for (let r = 0; r < args.runs; r++) {
    pf.push(await pfRun(files.yaml, { db }));
    mk.push(ensureOk(await timed(makeCmd, { cwd: work }), "make"));
    floor.push(ensureOk(await timed(floorCmd, { cwd: work }), "spawn-graph probe"));
  }
  const res = ratioLine(label, pf, mk, `make ${makeArgs.join(" ")}`.trim(), target);
  const f = median(floor.map((t) => t.seconds));
  const o = median(mk.map((t) => t.seconds));
  say(
    `|   bare \`Bun.spawn\` of the same graph, nothing recorded (compiled probe) | ${ms(f)} ms (${(res.picoflowMs! / 1000 / f).toFixed(2)}× is PicoFlow's own) | ${ms(o)} ms | ${(f / o).toFixed(2)}× (the runtime's) | | |`,
  );
  results[`workload${n}`] = { ...res, bunFloorMs: f * 1000, bunFloorRatio: f / o };
  const makeName = `make ${makeArgs.join(" ")}`.trim();
  summary.push([
    n === 1 ? "1000 `/bin/true` tasks, 10-level DAG, 8 at a time" : "200 `/bin/true` tasks in a chain",
    `${ms(res.picoflowMs! / 1000)} ms: ${res.ratio!.toFixed(2)}× \`${makeName}\` (paired ${res.pairedRatio!.toFixed(2)}×; target ${target}×: ${verdict(res.ratio! <= target)})`,
    `\`${makeName}\` ${ms(o)} ms; Bun's bare spawn ${ms(f)} ms`,
  ]);
}

let spawnProbeBin: Promise<string> | undefined;
/** The compiled reference runner (probes/spawn-graph.ts), built once per benchmark run. */
function spawnProbe(): Promise<string> {
  return (spawnProbeBin ??= compileProbe("spawn-graph", join(work, "probes")));
}

async function validateCold() {
  const files = writeGraph(work, layered());
  const one = join(work, "one.yaml");
  writeFileSync(one, "name: one\ntasks:\n  - name: a\n    type: shell\n    config:\n      command: /bin/true\n");
  const env = pfEnv(work);
  const sample = async (cmd: string[]) => {
    ensureOk(await timed(cmd, { cwd: work, env }), cmd.join(" "));
    const xs: number[] = [];
    for (let r = 0; r < Math.max(args.runs, 5) * 2; r++) xs.push(ensureOk(await timed(cmd, { cwd: work, env }), cmd.join(" ")).seconds);
    return xs;
  };
  // The same tasks with each one a flow mapping on a line (`- { name: a, type: shell, ... }`).
  const flowFile = join(work, "layered-flow.yaml");
  writeFileSync(flowFile, workflowFlowYaml(layered()));
  const big = await sample([args.bin, "validate", files.yaml]);
  const flow = await sample([args.bin, "validate", flowFile]);
  const small = await sample([args.bin, "validate", one]);
  const version = await sample([args.bin, "--version"]);
  const m = median(big);
  const mf = median(flow);
  say(`| \`validate\` 1000 tasks, block style, cold process | **${ms(m)} ms** | < 150 ms | ${m < 0.15 ? "met" : "missed"} |`);
  say(`| \`validate\` 1000 tasks, flow style (\`- { name: a, ... }\`), cold process | **${ms(mf)} ms** | < 150 ms | ${mf < 0.15 ? "met" : "missed"} |`);
  say(`| \`validate\` 1 task (start-up + one small file) | ${ms(median(small))} ms | | |`);
  say(`| \`--version\` (process start-up alone) | ${ms(median(version))} ms | | |`);
  say(`|   runs, 1000 tasks block style (ms) | ${big.map(ms).join(", ")} | | |`);
  say(`|   runs, 1000 tasks flow style (ms) | ${flow.map(ms).join(", ")} | | |`);
  results.workload3 = { validate1000Ms: m * 1000, validate1000FlowMs: mf * 1000, validate1Ms: median(small) * 1000, versionMs: median(version) * 1000 };
  summary.push([
    "`validate` of a 1000-task file, cold, block / flow style",
    `${ms(m)} / ${ms(mf)} ms (target < 150 ms each: ${verdict(m < 0.15 && mf < 0.15)})`,
    `start-up alone (\`--version\`) ${ms(median(version))} ms`,
  ]);
}

/** Seconds a process is left alone after its file pages were reclaimed. */
const SETTLE_SECONDS = 20;

/**
 * Start a process, sample its memory after `seconds`; then have the kernel reclaim its
 * file-backed pages, leave it idle SETTLE_SECONDS more, and sample what it touched again.
 */
async function idleSample(cmd: string[], seconds: number, opts: { cwd?: string; env?: Record<string, string>; ready?: () => boolean } = {}) {
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env ?? {}, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const stderr = new Response(p.stderr).text();
  void new Response(p.stdout).text();
  try {
    if (opts.ready) await waitUntil(opts.ready, 30_000, `${cmd.join(" ")} to be ready`);
    await Bun.sleep(seconds * 1000);
    const m = memory(p.pid);
    if (!m || p.exitCode !== null) throw new Error(`${cmd.join(" ")} is not running:\n${await stderr}`);
    let settled: MemSample | null = null;
    if (pageOutFileMappings(p.pid) !== null) {
      await Bun.sleep(SETTLE_SECONDS * 1000);
      settled = memory(p.pid);
    }
    return { ...m, settled };
  } finally {
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), 70_000);
    await p.exited;
    clearTimeout(timer);
  }
}

async function hasDaemon(): Promise<boolean> {
  const t = await timed([args.bin, "daemon", "--help"], { cwd: work, env: pfEnv(work) });
  return t.code === 0 && /daemon/.test(t.stdout);
}

const memRow = (label: string, m: MemSample, note = "", settled?: MemSample | null) =>
  say(
    `| ${label} | ${mb(m.rss)} MB | ${mb(m.anon)} MB | ${mb(m.file)} MB | ` +
      `${settled ? `${mb(settled.rss)} MB (${mb(settled.anon)} + ${mb(settled.file)})` : "-"} | ${note} |`,
  );

/** The idle daemon's and the baseline's private memory from workload 4, for the summary. */
let idleDaemonPrivate: { daemon: number; baseline: number; anon: number } | undefined;

async function memoryWorkload() {
  const probes = join(work, "probes");
  const sleepBin = await compileProbe("sleep", probes);
  const secs = args.idleSeconds;
  say(
    `| process (sampled after ${secs} s) | RSS | anonymous | file-backed | working set: RSS ${SETTLE_SECONDS} s after the kernel reclaimed its file pages (anon + file) | note |`,
  );
  say(`|---|---|---|---|---|---|`);
  const daemonAvailable = await hasDaemon();
  const env = pfEnv(work);
  const wf = join(work, "nightly.yaml");
  // Scheduled for 03:00: nothing runs during the sample, the daemon is idle.
  writeFileSync(wf, scheduledYaml("0 0 3 * * *"));
  const config = join(work, "daemon.toml");
  writeFileSync(config, `[metrics]\nenabled = ${args.daemonMetrics}\nport = ${freePort()}\n`);
  const [baseline, daemon] = await Promise.all([
    idleSample([sleepBin], secs),
    daemonAvailable
      ? idleSample([args.bin, "--config", config, "--db-path", join(work, "daemon.db"), "daemon", "start", wf], secs, {
          cwd: work,
          env,
          ready: () => existsSync(join(work, "picoflow.pid")),
        })
      : Promise.resolve(null),
  ]);
  memRow("compiled Bun program that only sleeps (baseline)", baseline, "", baseline.settled);
  const res: Record<string, unknown> = { baselineRss: baseline.rss, baselineWorkingSet: baseline.settled?.rss };
  if (daemon) {
    const ratio = daemon.rss / baseline.rss;
    memRow(
      `\`picoflow daemon start\` (1 scheduled shell workflow, metrics ${args.daemonMetrics ? "on" : "off"})`,
      daemon,
      `**${ratio.toFixed(2)}×** baseline (target ≤ 1.3×, ≤ 35 MB): ${ratio <= 1.3 && daemon.rss <= 35 * MiB ? "met" : "missed"}` +
        (daemon.settled && baseline.settled ? `; working set ${(daemon.settled.rss / baseline.settled.rss).toFixed(2)}× the baseline's` : ""),
      daemon.settled,
    );
    res.daemonRss = daemon.rss;
    res.daemonRatio = ratio;
    res.daemonWorkingSet = daemon.settled?.rss;
  } else {
    say(`| \`picoflow daemon start\` | pending | | | | this binary has no \`daemon\` command yet |`);
  }

  // Ten shell tasks at once: sample the run's own RSS while they sleep.
  const par = join(work, "parallel.yaml");
  writeFileSync(par, parallelSleepYaml(10, 3));
  const db = join(work, "parallel.db");
  // Ten at once: above the default cap of 4 and the 8 of ./picoflow.toml.
  const parConfig = join(work, "parallel.toml");
  writeFileSync(parConfig, "[execution]\nmax_parallel = 10\n");
  const p = Bun.spawn([args.bin, "--config", parConfig, "--db-path", db, "run", par], { cwd: work, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  void new Response(p.stdout).text();
  const err = new Response(p.stderr).text();
  let peak: MemSample | null = null;
  let hwm = 0;
  while (p.exitCode === null) {
    const m = memory(p.pid);
    if (m && (!peak || m.rss > peak.rss)) peak = m;
    if (m) hwm = Math.max(hwm, m.hwm);
    await Bun.sleep(50);
  }
  if ((await p.exited) !== 0 || !peak) throw new Error(`parallel run failed: ${await err}`);
  memRow("`picoflow run` with 10 shell tasks running at once", peak, `peak ${mb(hwm)} MB (target < 60 MB): ${hwm < 60 * MiB ? "met" : "missed"}`);
  res.parallel10Rss = peak.rss;
  res.parallel10Peak = hwm;
  results.workload4 = res;
  summary.push([
    "10 shell tasks at once, peak",
    `${mb(hwm)} MB (target 60 MB: ${verdict(hwm < 60 * MiB)})`,
    "",
  ]);

  // Private memory: pages only this process wrote (smaps_rollup Private_Dirty; Anonymous
  // beside it, nearly the same pages). Unlike RSS it leaves out the binary's shared, clean
  // code pages, which the kernel can drop and read again.
  say();
  say(`| process (sampled after ${secs} s) | private (Private_Dirty) | Anonymous | vs the baseline | target | |`);
  say(`|---|---|---|---|---|---|`);
  say(`| compiled Bun program that only sleeps (baseline) | ${mb(baseline.privateDirty)} MB | ${mb(baseline.anon)} MB | 1.00× | | |`);
  if (daemon) {
    const met = daemon.privateDirty <= 12 * MiB;
    say(
      `| \`picoflow daemon start\`, idle | **${mb(daemon.privateDirty)} MB** | ${mb(daemon.anon)} MB | ` +
        `${(daemon.privateDirty / baseline.privateDirty).toFixed(2)}× (${signedMb(daemon.privateDirty - baseline.privateDirty)} MB) | ≤ 12 MB | ${met ? "met" : "missed"} |`,
    );
    res.daemonPrivateDirty = daemon.privateDirty;
    res.daemonAnonymous = daemon.anon;
    res.baselinePrivateDirty = baseline.privateDirty;
    idleDaemonPrivate = { daemon: daemon.privateDirty, baseline: baseline.privateDirty, anon: daemon.anon };
  }

  say();
  say(`| binary | size |`);
  say(`|---|---|`);
  for (const t of ["linux-x64", "linux-arm64"]) {
    const f = join(ROOT, "dist", `picoflow-${t}`);
    if (existsSync(f)) say(`| \`dist/picoflow-${t}\` | ${mb(statSync(f).size)} MiB |`);
  }
  say(`| baseline (a compiled Bun program that only sleeps) | ${mb(statSync(sleepBin).size)} MiB |`);
  summary.push(["binary", `${mb(statSync(args.bin).size)} MiB (${relative(ROOT, args.bin)})`, `${mb(statSync(sleepBin).size)} MiB for Bun alone`]);
}

async function outputWorkload() {
  const sizes = [1024, 10 * MiB, 100_000_000];
  const peaks: Record<number, number[]> = {};
  for (const s of sizes) writeFileSync(join(work, `out-${s}.yaml`), outputYaml(s));
  for (let r = 0; r < Math.max(3, Math.min(args.runs, 5)); r++) {
    for (const s of sizes) (peaks[s] ??= []).push((await pfRun(join(work, `out-${s}.yaml`), { samplePeak: true })).peakRss);
  }
  const label = (s: number) => (s === 1024 ? "1 KiB" : s === 10 * MiB ? "10 MiB" : "100 MB");
  for (const s of sizes) say(`| task printing ${label(s)} | ${mb(median(peaks[s]!))} MB | ${peaks[s]!.map(mb).join(", ")} |`);
  const grow = median(peaks[100_000_000]!) / median(peaks[10 * MiB]!);
  say(`| 100 MB vs 10 MiB peak | **${grow.toFixed(2)}×** | target: no growth (≈ 1.0×) |`);
  results.workload5 = Object.fromEntries(sizes.map((s) => [label(s), median(peaks[s]!)]));
  summary.push(["task printing 100 MB vs 10 MiB, peak", `${grow.toFixed(2)}× (flat: ${verdict(grow <= 1.1)})`, `${mb(median(peaks[10 * MiB]!))} MB for 10 MiB`]);
}

/** Start `daemon start ...` in `dir` (its database and PID file there) and wait until it is up. */
async function startDaemon(dir: string, target: string) {
  const config = join(dir, "daemon.toml");
  writeFileSync(config, `[metrics]\nenabled = ${args.daemonMetrics}\nport = ${freePort()}\n`);
  const db = join(dir, "picoflow.db");
  const p = Bun.spawn([args.bin, "--config", config, "--db-path", db, "daemon", "start", target], {
    cwd: dir,
    env: pfEnv(dir),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  void new Response(p.stdout).text();
  const stderr = new Response(p.stderr).text();
  await waitUntil(() => existsSync(join(dir, "picoflow.pid")) || p.exitCode !== null, 30_000, "the daemon to start");
  if (p.exitCode !== null) throw new Error(`daemon exited ${p.exitCode}:\n${await stderr}`);
  const stop = async () => {
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), 70_000);
    await p.exited;
    clearTimeout(timer);
  };
  return { proc: p, db, stop };
}

/** Workload 6: what the 1000-task DAG run writes to its database files, counted by strace. */
async function bytesPerTask() {
  const strace = requireStrace();
  const g = layered();
  const files = writeGraph(work, g);
  const tallies: WriteTally[] = [];
  const sizes: number[] = [];
  /** Bytes per database file of each run, by suffix ("", "-wal", "-shm", "-journal"). */
  const parts: Record<string, number>[] = [];
  // Byte counts barely vary from run to run: three are enough, and strace slows each a lot.
  for (let r = 0; r < Math.min(args.runs, 3); r++) {
    const dir = mkdtempSync(join(work, "writes-"));
    const db = join(dir, "picoflow.db");
    const trace = join(dir, "strace.txt");
    ensureOk(await timed([strace, ...straceArgs(trace), args.bin, "--db-path", db, "run", files.yaml], { cwd: work, env: pfEnv(work) }), "strace picoflow run");
    const ok = new Database(db, { readonly: true });
    const done = (ok.query("SELECT count(*) AS n FROM task_executions WHERE status = 'success'").get() as { n: number }).n;
    ok.close();
    if (done !== g.tasks.length) throw new Error(`expected ${g.tasks.length} successful tasks, found ${done}`);
    const tally = tallyStrace(readFileSync(trace, "utf8"), db);
    tallies.push(tally);
    parts.push(Object.fromEntries(["", "-wal", "-shm", "-journal"].map((x) => [x, tally.byFile[db + x] ?? 0])));
    sizes.push(statSync(db).size + (existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0));
    rmSync(dir, { recursive: true, force: true });
  }
  const n = g.tasks.length;
  const pick = (f: (t: WriteTally) => number) => median(tallies.map(f));
  const bytes = pick((t) => t.dbBytes);
  const perTask = bytes / n;
  const size = median(sizes);
  const file = (suffix: string) => median(parts.map((p) => p[suffix]!));
  const met = perTask <= 8 * 1024;
  say(`| 1000-task layered DAG, fresh database, \`strace -f -y\` | median of ${tallies.length} | target | |`);
  say(`|---|---|---|---|`);
  say(`| bytes written to the database files, per task | **${kB(perTask)} KB** (${(perTask / 8192).toFixed(2)}× the target) | ≤ 8 KB | ${met ? "met" : "missed"} |`);
  say(`|   in all: database / -wal / -shm / -journal | ${mb(bytes)} MB: ${mb(file(""))} MB / ${mb(file("-wal"))} MB / ${kB(file("-shm"))} KB / ${kB(file("-journal"))} KB | | |`);
  say(`|   write calls; WAL frames (pages) appended | ${pick((t) => t.dbWrites)}; ${pick((t) => t.walFrames)} | | |`);
  say(`|   fsync + fdatasync of the database files (checkpoints: a commit does not sync under synchronous=NORMAL) | ${pick((t) => t.dbSyncs)} | | |`);
  say(`|   final database size (with its -wal) | ${kB(size)} KB: written ${(bytes / size).toFixed(0)}× what it holds | | |`);
  say(`|   bytes written to other files | ${pick((t) => t.otherFileBytes)} | | |`);
  say(`|   per run (bytes per task) | ${tallies.map((t) => kB(t.dbBytes / n)).join(", ")} KB | | |`);
  results.workload6 = { bytesPerTask: perTask, totalBytes: bytes, walFrames: pick((t) => t.walFrames), syncs: pick((t) => t.dbSyncs), dbSize: size, tallies };
  summary.push([
    "bytes written per task, 1000-task DAG (strace, database files)",
    `${kB(perTask)} KB: ${(perTask / 8192).toFixed(2)}× the target of 8 KB (${verdict(met)})`,
    `the database at the end: ${kB(size)} KB (written ${(bytes / size).toFixed(0)}× over); ${pick((t) => t.dbSyncs)} fsyncs`,
  ]);
}

/** Workload 7: what an idle daemon (nothing due) writes, counted by strace attached to it. */
async function idleWrites() {
  const strace = requireStrace();
  const secs = args.idleWritesSeconds;
  const dir = mkdtempSync(join(work, "idle-writes-"));
  const wf = join(dir, "nightly.yaml");
  writeFileSync(wf, scheduledYaml("0 0 3 * * *"));
  const d = await startDaemon(dir, wf);
  let tally: WriteTally;
  try {
    // Start-up writes (schema, the daemon's state row) are over once it settled.
    await Bun.sleep(IDLE_WRITES_SETTLE * 1000);
    const trace = join(dir, "strace.txt");
    const st = Bun.spawn([strace, ...straceArgs(trace), "-p", String(d.proc.pid)], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const stErr = new Response(st.stderr).text();
    await Bun.sleep(secs * 1000);
    st.kill("SIGINT"); // strace detaches and writes out what it has
    await st.exited;
    if (d.proc.exitCode !== null) throw new Error(`the daemon exited during the idle-writes sample (${d.proc.exitCode})`);
    if (!existsSync(trace)) throw new Error(`strace -p ${d.proc.pid} failed: ${await stErr}`);
    tally = tallyStrace(readFileSync(trace, "utf8"), d.db);
  } finally {
    await d.stop();
  }
  const perMin = (tally.dbBytes / secs) * 60;
  const otherPerMin = (tally.otherFileBytes / secs) * 60;
  say(`| idle daemon (one workflow due at 03:00), strace for ${secs} s | per minute | reference | |`);
  say(`|---|---|---|---|`);
  say(`| bytes written to the database files | **${kB(perMin)} KB/min** (${tally.dbBytes} bytes in ${secs} s; ${kB(perMin * 60 * 24 / 1024)} MB a day) | 0 | ${tally.dbBytes === 0 ? "met" : "missed"} |`);
  say(`|   write calls; fsyncs | ${tally.dbWrites}; ${tally.dbSyncs} | 0 | |`);
  say(`| bytes written to other files | ${kB(otherPerMin)} KB/min | 0 | |`);
  for (const [f, b] of Object.entries(tally.byFile)) say(`|   ${relative(dir, f)} | ${b} bytes | | |`);
  results.workload7 = { seconds: secs, dbBytes: tally.dbBytes, dbBytesPerMinute: perMin, otherBytes: tally.otherFileBytes, syncs: tally.dbSyncs, byFile: tally.byFile };
  summary.push([
    `idle daemon writes (nothing due, ${secs >= 60 ? `${(secs / 60).toFixed(secs % 60 ? 1 : 0)} min` : `${secs} s`})`,
    `${kB(perMin)} KB/min (target 0: ${verdict(tally.dbBytes === 0)})`,
    "zero",
  ]);
}
/** Seconds an idle daemon is left alone after start-up before its writes are counted. */
const IDLE_WRITES_SETTLE = 5;

/** Workload 8: the daemon's private memory before, during and after 20 workflows firing every second. */
async function soak() {
  const secs = args.soakSeconds;
  const dir = mkdtempSync(join(work, "soak-"));
  const wfs = join(dir, "workflows");
  mkdirSync(wfs);
  for (let i = 0; i < 20; i++) {
    writeFileSync(
      join(wfs, `every_second_${i}.yaml`),
      `name: every_second_${i}\nschedule: "* * * * * *"\nconfig:\n  retry_default: 0\ntasks:\n  - name: tick\n    type: shell\n    config:\n      command: /bin/true\n`,
    );
  }
  const d = await startDaemon(dir, wfs);
  const samples: { at: number; m: MemSample }[] = [];
  // Warm-up: the first runs load the code that runs them (JIT, SQLite statements, caches).
  const warmup = Math.min(60, secs / 5);
  let runs = 0;
  try {
    const t0 = performance.now();
    const sample = () => {
      const m = memory(d.proc.pid);
      if (!m || d.proc.exitCode !== null) throw new Error("the daemon is gone during the soak");
      samples.push({ at: (performance.now() - t0) / 1000, m });
    };
    sample();
    while ((performance.now() - t0) / 1000 < secs) {
      await Bun.sleep(Math.min(5000, Math.max(0, secs * 1000 - (performance.now() - t0))));
      sample();
    }
    const db = new Database(d.db, { readonly: true });
    runs = (db.query("SELECT count(*) AS n FROM workflow_executions").get() as { n: number }).n;
    db.close();
  } finally {
    await d.stop();
  }
  const start = samples[0]!.m;
  const warm = samples.find((x) => x.at >= warmup)?.m ?? samples.at(-1)!.m;
  const end = samples.at(-1)!.m;
  const most = Math.max(...samples.map((x) => x.m.privateDirty));
  const growth = end.privateDirty - warm.privateDirty;
  const met = growth <= 2 * MiB;
  say(`| daemon with 20 workflows firing every second, ${secs} s (${runs} runs) | private (Private_Dirty) | Anonymous | RSS | target | |`);
  say(`|---|---|---|---|---|---|`);
  say(`| at start-up | ${mb(start.privateDirty)} MB | ${mb(start.anon)} MB | ${mb(start.rss)} MB | | |`);
  say(`| after the warm-up (${warmup.toFixed(0)} s) | ${mb(warm.privateDirty)} MB | ${mb(warm.anon)} MB | ${mb(warm.rss)} MB | | |`);
  say(`| at the end | ${mb(end.privateDirty)} MB | ${mb(end.anon)} MB | ${mb(end.rss)} MB | | |`);
  say(`| growth over the soak, after the warm-up | **${signedMb(growth)} MB** (highest ${mb(most)} MB) | | | ≤ +2 MB | ${met ? "met" : "missed"} |`);
  if (idleDaemonPrivate) say(`| end of the soak vs the idle daemon of workload 4 | ${signedMb(end.privateDirty - idleDaemonPrivate.daemon)} MB | | | | |`);
  results.workload8 = { seconds: secs, runs, warmupSeconds: warmup, start, warm, end, growth, samples: samples.map((x) => [Math.round(x.at), x.m.privateDirty]) };
  soakGrowth = { growth, secs, met };
}
let soakGrowth: { growth: number; secs: number; met: boolean } | undefined;

/** The closing summary, in the README's "How fast / how small" shape. */
function printSummary() {
  if (idleDaemonPrivate || soakGrowth) {
    const p = idleDaemonPrivate;
    const parts: string[] = [];
    if (p) parts.push(`${mb(p.daemon)} MB (target 12 MB: ${verdict(p.daemon <= 12 * MiB)})`);
    if (soakGrowth) {
      const g = soakGrowth;
      parts.push(`${signedMb(g.growth)} MB after ${g.secs >= 60 ? `${(g.secs / 60).toFixed(g.secs % 60 ? 1 : 0)} min` : `${g.secs} s`} of 20 workflows firing every second (target +2 MB: ${verdict(g.met)})`);
    }
    summary.push([
      "idle daemon, private memory (Private_Dirty)",
      parts.join("; "),
      p ? `${mb(p.baseline)} MB for a compiled Bun program that only sleeps (${(p.daemon / p.baseline).toFixed(1)}×)` : "",
    ]);
  }
  say();
  say("Summary (README, \"How fast / how small\"):");
  say();
  say("| | PicoFlow | compared with |");
  say("|---|---|---|");
  // The issue's figures first, in its order, then the README's other rows.
  const order = ["1000 `/bin/true`", "200 `/bin/true`", "bytes written", "idle daemon writes", "`validate`", "idle daemon, private", "10 shell", "task printing", "dashboard", "binary"];
  const rank = (label: string) => order.findIndex((o) => label.startsWith(o));
  for (const [a, b, c] of [...summary].sort((x, y) => rank(x[0]) - rank(y[0]))) say(`| ${a} | ${b} | ${c} |`);
}

try {
  say(`Machine: ${results.machine}`);
  say(`Binary: ${relative(ROOT, args.bin)}; ${args.runs} runs each, medians; load average at start ${loadAverage()}`);
  if (args.only.has(1) || args.only.has(2)) {
    say();
    say(`| workload | PicoFlow | make | ratio (medians) | target | |`);
    say(`|---|---|---|---|---|---|`);
    if (args.only.has(1)) await versusMake(1, "1000-task layered DAG, max_parallel 8 vs `make -j8`", layered(), ["-j8"], 1.5);
    if (args.only.has(2)) await versusMake(2, "200-task chain vs `make`", chain(), [], 1.3);
  }
  if (args.only.has(3)) {
    say();
    say(`| workload | median | target | |`);
    say(`|---|---|---|---|`);
    await validateCold();
  }
  if (args.only.has(4)) {
    say();
    await memoryWorkload();
  }
  if (args.only.has(5)) {
    say();
    say(`| workload | peak RSS (median) | runs |`);
    say(`|---|---|---|`);
    await outputWorkload();
  }
  if (args.only.has(6)) {
    say();
    await bytesPerTask();
  }
  if (args.only.has(7)) {
    say();
    await idleWrites();
  }
  if (args.only.has(8)) {
    say();
    await soak();
  }
  if (args.only.has(9)) {
    say();
    const d = await dashboardWorkload({ bin: args.bin, work, runs: args.runs, idleSeconds: args.idleSeconds, env: pfEnv, say });
    Object.assign(results, d.results);
    summary.push(...d.summary);
  }
  printSummary();
  say();
  say(`load average at end ${loadAverage()}`);
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2) + "\n");
} finally {
  rmSync(work, { recursive: true, force: true });
}
