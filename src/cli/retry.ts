// `picoflow retry EXECUTION_ID`: run a failed execution again in this process, from where it
// failed: its failed, timed-out, skipped and never-started tasks and everything downstream;
// its successes are reused (engine/retry.ts). Recorded with trigger `retry`, linked by retry_of.

import { planRetry } from "../engine/retry.ts";
import { isProcessAlive } from "../sys/proc.ts";
import { loadWorkflow } from "../workflow/load.ts";
import { createContext, loadOptions, printLoadWarnings, type GlobalOptions } from "./context.ts";
import { answeredBeforeFirstRun, textOption, withHistory } from "./read.ts";
import { runLoaded } from "./run.ts";

export interface RetryCliOptions extends GlobalOptions {
  from?: unknown;
  file?: unknown;
}

export async function retryCommand(id: string, opts: RetryCliOptions): Promise<void> {
  const from = textOption(opts.from, "--from");
  const file = textOption(opts.file, "--file");
  const ctx = createContext(opts);
  // No database yet: no execution to retry (exit 5), and none is created.
  answeredBeforeFirstRun(ctx, "table", { executionId: id });
  const load = loadOptions(ctx);
  const prepared = withHistory(ctx, (h) => planRetry(h, id, { file, from, load: (f) => loadWorkflow(f, load), isAlive: isProcessAlive }));
  const { workflow: wf, plan, notes } = prepared;
  if (ctx.log.enabled("warn")) {
    printLoadWarnings(wf);
    for (const n of notes) process.stderr.write(`picoflow: warning: ${n}\n`);
  }
  ctx.out(`Retrying execution ${prepared.original}: ${plan.run.size} task${plan.run.size === 1 ? "" : "s"} to run, ${plan.reused.size} reused\n`);
  await runLoaded(ctx, wf, { plan, trigger: "retry" });
}
