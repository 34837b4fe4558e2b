// Memory module by module: compiles each probe in scripts/bench/probes (a program that loads
// one package or runtime feature, collects garbage, and sleeps) the way the release is built,
// runs them all at once, and samples their resident memory, split into anonymous and
// file-backed pages, after a few seconds. The picoflow daemon is sampled beside them.
//
//   bun run build && bun scripts/bench/modules.ts [--seconds S] [--bin PATH]

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compileProbe, freePort, mb, memory, ROOT, type MemSample } from "./lib.ts";
import { scheduledYaml } from "./workloads.ts";

const PROBES: [string, string][] = [
  ["sleep", "nothing: a compiled Bun program that only sleeps"],
  ["gc", "the same after Bun.gc(true)"],
  ["js", "200k iterations of plain JavaScript (the JIT tiers up)"],
  ["intl", "one Intl.DateTimeFormat with a time zone (ICU data)"],
  ["sqlite", "bun:sqlite with a WAL database open"],
  ["server", "a Bun.serve HTTP server on 127.0.0.1"],
  ["zod", "zod and one schema"],
  ["yaml", "the yaml package, one small document parsed"],
  ["croner", "croner with one job scheduled"],
  ["prom-client", "prom-client, a registry and three metrics"],
  ["prom-client-defaults", "prom-client with collectDefaultMetrics()"],
  ["ssh2", "ssh2 (pure-JS paths), one Client"],
];

let seconds = 10;
let bin = join(ROOT, "dist/picoflow-linux-x64");
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "--seconds") seconds = Number(process.argv[++i]);
  else if (process.argv[i] === "--bin") bin = resolve(process.argv[++i]!);
  else throw new Error(`unknown argument ${process.argv[i]}`);
}

const work = mkdtempSync(join(tmpdir(), "picoflow-modules-"));
try {
  const procs: { label: string; p: ReturnType<typeof Bun.spawn> }[] = [];
  for (const [name, label] of PROBES) {
    const exe = await compileProbe(name, work);
    procs.push({ label: `\`${name}\`: ${label}`, p: Bun.spawn([exe], { cwd: work, env: {}, stdout: "ignore", stderr: "inherit" }) });
  }
  if (existsSync(bin)) {
    const wf = join(work, "nightly.yaml");
    writeFileSync(wf, scheduledYaml("0 0 3 * * *"));
    for (const metrics of [false, true]) {
      const dir = mkdtempSync(join(work, "daemon-"));
      writeFileSync(join(dir, "c.toml"), `[metrics]\nenabled = ${metrics}\nport = ${freePort()}\n`);
      const cmd = [bin, "--config", join(dir, "c.toml"), "--db-path", join(dir, "d.db"), "daemon", "start", wf];
      procs.push({ label: `\`picoflow daemon start\`, metrics ${metrics ? "on" : "off"}`, p: Bun.spawn(cmd, { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, stdout: "ignore", stderr: "ignore" }) });
    }
  }
  await Bun.sleep(seconds * 1000);
  const base = memory(procs[0]!.p.pid)!;
  console.log(`| program (sampled after ${seconds} s) | RSS | anonymous | file-backed | RSS over baseline |`);
  console.log(`|---|---|---|---|---|`);
  for (const { label, p } of procs) {
    const m: MemSample | null = memory(p.pid);
    if (!m) console.log(`| ${label} | exited | | | |`);
    else console.log(`| ${label} | ${mb(m.rss)} MB | ${mb(m.anon)} MB | ${mb(m.file)} MB | +${mb(m.rss - base.rss)} MB |`);
  }
  for (const { p } of procs) p.kill("SIGTERM");
  await Promise.all(procs.map(({ p }) => p.exited));
} finally {
  rmSync(work, { recursive: true, force: true });
}
