// Probe: bun:sqlite with one WAL database open.
import { Database } from "bun:sqlite";
import { idle } from "./idle.ts";

const dir = (await import("node:fs")).mkdtempSync("/tmp/picoflow-probe-");
const db = new Database(`${dir}/p.db`, { create: true });
db.run("PRAGMA journal_mode = WAL");
db.run("CREATE TABLE t (a TEXT)");
db.run("INSERT INTO t VALUES ('x')");
process.on("SIGTERM", () => {
  db.close();
  (require("node:fs") as typeof import("node:fs")).rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
idle(db);
