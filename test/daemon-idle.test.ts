// An idle daemon (nothing due for a year) writes nothing: not to the database, its WAL or its
// -shm file, and no line at info level or above, while its periodic work goes on (retention
// passes and database checks, here every second). An SD card wears with every write.

import { afterAll, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { FAST_CONFIG, sandbox, startDaemon, waitFor } from "./helpers.ts";

const s = sandbox(`${FAST_CONFIG}
[daemon]
database_check_seconds = 1
cleanup_interval_seconds = 1
[metrics]
port = 0
`);
afterAll(() => s.cleanup());

/** Size and modification time (ns) of the database, its WAL and its -shm file. */
function files(): string[] {
  return ["", "-wal", "-shm"].map((x) => {
    const st = existsSync(s.db + x) ? statSync(s.db + x, { bigint: true }) : null;
    return st ? `picoflow.db${x} ${st.size} bytes, mtime ${st.mtimeNs}` : `picoflow.db${x} absent`;
  });
}

test("an idle daemon writes nothing and logs nothing at info level across retention passes and database checks", async () => {
  const wf = s.workflow(`name: yearly
schedule: "0 0 0 1 1 *"
tasks:
  - name: a
    type: shell
    config: { command: /bin/true }
`);
  const d = await startDaemon(s, [wf], { PICOFLOW_LOG_LEVEL: "debug" });
  const passes = () => d.lines().filter((l) => l.msg === "log retention applied").length;
  try {
    // Settled: started, its start-up writes checkpointed once it fell quiet, one retention pass done.
    await waitFor(() => d.lines().some((l) => l.msg === "database checkpointed (daemon quiet)"), 10_000, "the quiet checkpoint");
    const settledAt = d.lines().length;
    await waitFor(() => passes() >= 1, 10_000, "a retention pass");
    const before = files();
    const seen = passes();
    // Three more passes, each a second apart; the database is checked every second too.
    await waitFor(() => passes() >= seen + 3, 15_000, "three more retention passes");
    expect(files()).toEqual(before);
    const logged = d.lines().slice(settledAt).filter((l) => l.level !== "debug");
    expect(logged).toEqual([]);
  } finally {
    expect(await d.stop()).toBe(0);
  }
}, 40_000);
