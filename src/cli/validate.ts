// `picoflow validate FILE`: check a workflow and show its dependency structure and, for a
// scheduled one, when it runs next. Warnings go to stderr and do not change the exit code.

import { nextRuns } from "../daemon/scheduler.ts";
import { sixFields } from "../workflow/cron.ts";
import { maskedTarget } from "../notify/target.ts";
import { HANDLER_KINDS, type NotifyTarget, type Workflow } from "../workflow/types.ts";
import { dagLevels } from "../workflow/dag.ts";
import { loadWorkflow } from "../workflow/load.ts";
import { createContext, loadOptions, printLoadWarnings, type GlobalOptions } from "./context.ts";
import { localTime, maxParallelText } from "./format.ts";

export function validateCommand(file: string, opts: GlobalOptions): void {
  const ctx = createContext(opts);
  const wf = loadWorkflow(file, loadOptions(ctx));
  printLoadWarnings(wf);
  const levels = dagLevels(wf.tasks);
  const types = new Map<string, number>();
  for (const t of wf.tasks) types.set(t.type, (types.get(t.type) ?? 0) + 1);
  let text = `Workflow '${wf.name}' is valid\n`;
  text += `Tasks:        ${wf.tasks.length} (${[...types].map(([t, n]) => `${n} ${t}`).join(", ")})\n`;
  text += `Max parallel: ${maxParallelText(wf.maxParallel, ctx.settings.execution.maxParallel)}\n`;
  if (wf.failFast === false) text += `Fail fast:    no (a failure skips only the tasks that depend on it)\n`;
  if (wf.schedule) text += scheduleLines(wf.schedule, wf.timezone, new Date());
  text += `Levels:       ${levels.length} (a task starts when everything it depends on has succeeded)\n`;
  levels.forEach((names, i) => (text += `  ${String(i + 1).padStart(3)}: ${names.join(", ")}\n`));
  text += handlerLines(wf);
  text += notifyLines(wf, ctx.settings.notify.target);
  ctx.out(text);
}

/** The handlers by list, in the order they run (names and types only: no config value, so no secret). */
function handlerLines(wf: Workflow): string {
  if (!wf.handlers?.length) return "";
  let text = `Handlers:     ${wf.handlers.length} (run after the DAG, in this order; on_failure or on_success, then on_exit)\n`;
  for (const kind of HANDLER_KINDS) {
    const list = wf.handlers.filter((h) => h.handler === kind);
    if (list.length) text += `  ${`${kind}:`.padEnd(12)}${list.map((h) => `${h.name} (${h.type})`).join(", ")}\n`;
  }
  return text;
}

/** Where runs are reported, URLs masked (a notify or ping URL is a credential). */
function notifyLines(wf: Workflow, fromConfig: NotifyTarget | null): string {
  let text = "";
  const target = wf.notify === false ? null : (wf.notify ?? fromConfig);
  if (wf.notify === false) text += `Notify:       off (notify: false${fromConfig ? `; [notify] in the config file is not used` : ""})\n`;
  else if (target) {
    const from = wf.notify ? "the workflow's notify:" : "[notify] in the config file";
    text += `Notify:       ${target.format} to ${maskedTarget(target.url)} on ${target.on.join(", ")} (${from})\n`;
  }
  if (wf.healthcheck) text += `Healthcheck:  ${maskedTarget(wf.healthcheck)} (pinged at /start, then on success, or at /fail)\n`;
  return text;
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
