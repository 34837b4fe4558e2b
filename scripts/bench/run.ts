// The benchmarks of docs/benchmarks.md, side by side on this machine, median of several runs:
//
//   bun run build && bun scripts/bench/run.ts [--runs N] [--only 1,2,3,4,5] [--bin PATH]
//                                            [--idle-seconds S] [--daemon-metrics on|off] [--json FILE]
//
//   1. 1000-task layered DAG of /bin/true, max_parallel 8, vs `make -j8` on the same graph
//   2. 200-task chain of /bin/true vs `make`
//   3. `picoflow validate` of the 1000-task file, compiled binary, cold process
//   4. idle daemon memory vs a compiled Bun program that only sleeps; 10 tasks in parallel;
//      binary sizes
//   5. peak memory of a task printing 10 MiB and one printing 100 MB
//
// PicoFlow and make alternate run by run, so a noisy neighbour hurts both alike. Nothing here
// is asserted in `bun test`: timings belong to benchmarks, not tests.

import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import {
  compileProbe,
  ensureOk,
  freePort,
  loadAverage,
  machine,
  mb,
  median,
  memory,
  MiB,
  ms,
  pageOutFileMappings,
  ROOT,
  timed,
  waitUntil,
  type MemSample,
  type Timed,
} from "./lib.ts";
import { chain, layered, outputYaml, parallelSleepYaml, scheduledYaml, writeGraph } from "./workloads.ts";

interface Args {
  runs: number;
  only: Set<number>;
  bin: string;
  idleSeconds: number;
  daemonMetrics: boolean;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { runs: 5, only: new Set([1, 2, 3, 4, 5]), bin: join(ROOT, "dist/picoflow-linux-x64"), idleSeconds: 30, daemonMetrics: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => argv[++i] ?? "";
    if (k === "--runs") a.runs = Math.max(1, Number(v()));
    else if (k === "--only") a.only = new Set(v().split(",").map(Number));
    else if (k === "--bin") a.bin = resolve(v());
    else if (k === "--idle-seconds") a.idleSeconds = Number(v());
    else if (k === "--json") a.json = resolve(v());
    else if (k === "--daemon-metrics") a.daemonMetrics = v() !== "off";
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
if (!existsSync(args.bin)) {
  console.error(`${relative(process.cwd(), args.bin)} is missing: run \`bun run build\` first`);
  process.exit(1);
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
  const big = await sample([args.bin, "validate", files.yaml]);
  const small = await sample([args.bin, "validate", one]);
  const version = await sample([args.bin, "--version"]);
  const m = median(big);
  say(`| \`validate\` 1000 tasks, cold process | **${ms(m)} ms** | < 150 ms | ${m < 0.15 ? "met" : "missed"} |`);
  say(`| \`validate\` 1 task (start-up + one small file) | ${ms(median(small))} ms | | |`);
  say(`| \`--version\` (process start-up alone) | ${ms(median(version))} ms | | |`);
  say(`|   runs, 1000 tasks (ms) | ${big.map(ms).join(", ")} | | |`);
  results.workload3 = { validate1000Ms: m * 1000, validate1Ms: median(small) * 1000, versionMs: median(version) * 1000 };
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

  say();
  say(`| binary | size |`);
  say(`|---|---|`);
  for (const t of ["linux-x64", "linux-arm64"]) {
    const f = join(ROOT, "dist", `picoflow-${t}`);
    if (existsSync(f)) say(`| \`dist/picoflow-${t}\` | ${mb(statSync(f).size)} MiB |`);
  }
  say(`| baseline (a compiled Bun program that only sleeps) | ${mb(statSync(sleepBin).size)} MiB |`);
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
  say();
  say(`load average at end ${loadAverage()}`);
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2) + "\n");
} finally {
  rmSync(work, { recursive: true, force: true });
}
