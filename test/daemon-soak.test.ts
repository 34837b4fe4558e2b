// Soak: a few hundred scheduled runs through one daemon; its resident memory, sampled from
// /proc at the start and the end, must not grow. Many workflows every second keep it short.

import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { FAST_CONFIG, rows, sandbox, spawnCli, waitFor } from "./helpers.ts";

const s = sandbox(`${FAST_CONFIG}
[metrics]
enabled = false
[daemon]
shutdown_grace_seconds = 5
heartbeat_seconds = 1
`);
afterAll(() => s.cleanup());

const WORKFLOWS = 12;
const WARMUP_RUNS = 60;
const TOTAL_RUNS = 400;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]);
}

test(`${TOTAL_RUNS} scheduled runs: memory does not grow`, async () => {
  const files: string[] = [];
  for (let i = 0; i < WORKFLOWS; i++) {
    files.push(
      s.workflow(`name: soak${i}
schedule: "* * * * * *"
tasks:
  - name: first
    type: shell
    config: { command: /bin/echo, args: ["run ${i}"] }
  - name: second
    type: shell
    depends_on: [first]
    config: { command: /bin/true }
`),
    );
  }
  const d = spawnCli(s, ["daemon", "start", ...files]);
  let log = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const c of d.stderr) log += dec.decode(c, { stream: true });
  })();
  const finished = () => rows(s.db, `SELECT count(*) AS n FROM workflow_executions WHERE status = 'success'`)[0]!.n as number;
  try {
    await waitFor(() => finished() >= WARMUP_RUNS, 30_000, "warm-up runs");
    const start = rssKb(d.pid);
    await waitFor(() => finished() >= TOTAL_RUNS, 120_000, "soak runs");
    const end = rssKb(d.pid);
    // Allow noise (allocator, JIT), not a leak: a leak of even 10 KB per run would add ~3.4 MB.
    console.log(`soak: ${finished()} runs, RSS ${start} kB after warm-up, ${end} kB at the end`);
    expect(end).toBeLessThanOrEqual(start * 1.1 + 2048);
  } finally {
    d.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    await reading;
  }
  expect(rows(s.db, `SELECT count(*) AS n FROM workflow_executions WHERE status NOT IN ('success', 'skipped')`)[0]!.n).toBe(0);
  expect(rows(s.db, `SELECT count(*) AS n FROM task_executions WHERE status != 'success'`)[0]!.n).toBe(0);
  expect(log).not.toContain('"level":"error"');
}, 180_000);
