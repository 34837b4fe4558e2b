// Preloaded by `bun test`: marks every process the tests start, and fails the run if any
// of them is still alive when a test file ends (a leaked task, daemon or sshd).

import { afterAll, setDefaultTimeout } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";

setDefaultTimeout(60_000);

const MARK = `PICOFLOW_TEST_MARK=${process.pid}-${Math.random().toString(36).slice(2)}`;
process.env.PICOFLOW_TEST_MARK = MARK.split("=")[1];

/** Pids of live processes (other than this one) that inherited the test mark. */
export function markedProcesses(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`, "latin1");
      if (!env.split("\0").includes(MARK)) continue;
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue; // zombie: already dead
      out.push(Number(d));
    } catch {}
  }
  return out;
}

afterAll(async () => {
  // Give processes that are being stopped a moment to go.
  let left = markedProcesses();
  for (let i = 0; i < 40 && left.length; i++) {
    await Bun.sleep(100);
    left = markedProcesses();
  }
  if (left.length) {
    const names = left.map((p) => {
      try {
        return `${p}: ${readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ").trim()}`;
      } catch {
        return String(p);
      }
    });
    for (const p of left) {
      try {
        process.kill(p, "SIGKILL");
      } catch {}
    }
    throw new Error(`processes leaked by this test file:\n${names.join("\n")}`);
  }
});
