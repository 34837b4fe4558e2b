// `picoflow validate FILE`: check a workflow and show its dependency structure.

import type { CAC } from "cac";
import { dagLevels } from "../workflow/dag.ts";
import { loadWorkflow } from "../workflow/load.ts";
import { createContext, loadOptions, type GlobalOptions } from "./context.ts";

export function registerValidate(cli: CAC): void {
  cli
    .command("validate <workflow_file>", "Validate a workflow file and show its DAG")
    .example("picoflow validate backup.yaml")
    .action((file: string, opts: GlobalOptions) => validateCommand(String(file), opts));
}

function validateCommand(file: string, opts: GlobalOptions): void {
  const ctx = createContext(opts);
  const wf = loadWorkflow(file, loadOptions(ctx));
  const levels = dagLevels(wf.tasks);
  const types = new Map<string, number>();
  for (const t of wf.tasks) types.set(t.type, (types.get(t.type) ?? 0) + 1);
  let text = `Workflow '${wf.name}' is valid\n`;
  text += `Tasks:        ${wf.tasks.length} (${[...types].map(([t, n]) => `${n} ${t}`).join(", ")})\n`;
  text += `Max parallel: ${wf.maxParallel}\n`;
  if (wf.schedule) text += `Schedule:     ${wf.schedule}${wf.timezone ? ` (${wf.timezone})` : ""}\n`;
  text += `Levels:       ${levels.length} (a task starts when everything it depends on has succeeded)\n`;
  levels.forEach((names, i) => (text += `  ${String(i + 1).padStart(3)}: ${names.join(", ")}\n`));
  ctx.out(text);
}
