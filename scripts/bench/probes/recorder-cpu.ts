// Probe: CPU time of the run recorder per task, without processes: 1000 attempts recorded as
// the engine records them at max_parallel 8 (start, pid, ~1 ms later the end), then the run's
// end. Prints user+system microseconds per task and the commits (BEGIN IMMEDIATE) it made.
//   bun scripts/bench/probes/recorder-cpu.ts [--src ROOT] [--tasks N]
// --src: the source tree to load store/ from (an older checkout, for an A/B comparison).

import { mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const root = resolve(arg("--src") ?? join(import.meta.dir, "../../.."));
const tasks = Number(arg("--tasks") ?? 1000);
const { openDatabase } = await import(join(root, "src/store/db.ts"));
const { SqliteRecorder } = await import(join(root, "src/store/recorder.ts"));

const dir = mkdtempSync("/tmp/picoflow-probe-");
try {
  const db = openDatabase(join(dir, "picoflow.db"));
  let commits = 0;
  const prepare = db.prepare.bind(db);
  // Count the recorder's commits: it prepares BEGIN IMMEDIATE once and runs it per commit.
  db.prepare = (sql: string) => {
    const st = prepare(sql);
    if (sql !== "BEGIN IMMEDIATE") return st;
    const run = st.run.bind(st);
    st.run = (...a: unknown[]) => (commits++, run(...a));
    return st;
  };
  const rec = new SqliteRecorder(db, { pid: process.pid, identity: "probe" }, "probe.db");
  const names = Array.from({ length: tasks }, (_, i) => `t${i}`);
  const wf = { name: "probe", file: "probe.yaml", tasks: names.map((name) => ({ name })) };
  const before = process.cpuUsage();
  const runId = rec.startRun(wf, "manual", {});
  for (let i = 0; i < tasks; i += 8) {
    const ids = names.slice(i, i + 8).map((t) => rec.startAttempt(runId, t, 1));
    for (const id of ids) rec.attemptSpawned(id, process.pid);
    await Bun.sleep(1);
    for (const id of ids) rec.finishAttempt(id, { status: "success", exitCode: 0, stdout: "", stderr: "" }, 0.001);
  }
  rec.finishRun(runId, { status: "success", durationSeconds: 1, successfulTasks: tasks, failedTasks: 0, skipped: [] });
  const cpu = process.cpuUsage(before);
  db.close();
  console.log(JSON.stringify({ src: root, tasks, cpu_us_per_task: Math.round((cpu.user + cpu.system) / tasks), commits }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
