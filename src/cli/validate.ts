// `picoflow validate FILE`: check a workflow and show its dependency structure and, for a
// scheduled one, when it runs next. Warnings go to stderr and do not change the exit code.

import type { CAC } from "cac";
import { nextRuns } from "../daemon/scheduler.ts";
import { sixFields } from "../workflow/cron.ts";
import type { Workflow } from "../workflow/types.ts";
import { dagLevels } from "../workflow/dag.ts";
import { loadWorkflow } from "../workflow/load.ts";
import { createContext, loadOptions, type GlobalOptions } from "./context.ts";
import { localTime, maxParallelText } from "./format.ts";

export function registerValidate(cli: CAC): void {
  cli
    .command("validate <workflow_file>", "Validate a workflow file and show its DAG")
    .example("picoflow validate backup.yaml")
    .action((file: string, opts: GlobalOptions) => validateCommand(String(file), opts));
}

function validateCommand(file: string, opts: GlobalOptions): void {
  const ctx = createContext(opts);
  const wf = loadWorkflow(file, loadOptions(ctx));
  printWarnings(wf);
  const levels = dagLevels(wf.tasks);
  const types = new Map<string, number>();
  for (const t of wf.tasks) types.set(t.type, (types.get(t.type) ?? 0) + 1);
  let text = `Workflow '${wf.name}' is valid\n`;
  text += `Tasks:        ${wf.tasks.length} (${[...types].map(([t, n]) => `${n} ${t}`).join(", ")})\n`;
  text += `Max parallel: ${maxParallelText(wf.maxParallel, ctx.settings.execution.maxParallel)}\n`;
  if (wf.schedule) text += scheduleLines(wf.schedule, wf.timezone, new Date());
  text += `Levels:       ${levels.length} (a task starts when everything it depends on has succeeded)\n`;
  levels.forEach((names, i) => (text += `  ${String(i + 1).padStart(3)}: ${names.join(", ")}\n`));
  ctx.out(text);
}

/** The loader's warnings, one `FILE:LINE:COL: warning: ...` line each, on stderr (as errors are). */
function printWarnings(wf: Workflow): void {
  if (wf.warnings?.length) process.stderr.write(wf.warnings.map((w) => `${w}\n`).join(""));
}

/** The schedule and its next 3 triggers in local time (and in the workflow's time zone, if it has one). */
function scheduleLines(schedule: string, timezone: string | undefined, now: Date): string {
  const six = sixFields(schedule);
  let text = `Schedule:     ${schedule}${six !== schedule.trim() ? ` = ${six}` : ""}${timezone ? ` (${timezone})` : ""}\n`;
  nextRuns(schedule, timezone, now, 3).forEach((t, i) => {
    const there = timezone ? `  (${zonedTime(t, timezone)} ${timezone})` : "";
    text += `${i === 0 ? "Next runs:    " : "              "}${localTime(t.toISOString())} local time${there}\n`;
  });
  return text;
}

/** `YYYY-MM-DD HH:MM:SS` in a named time zone. */
function zonedTime(t: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(t)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}
