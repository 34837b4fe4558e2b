// `picoflow run FILE --dry-run`: the plan of a run, printed instead of run: tasks in start
// order with their levels, each command as it would run (${VAR} expanded, secrets masked),
// retries, timeouts and handlers. Nothing is started and no database is opened.

import type { RunPlan } from "../engine/plan.ts";
import { maskSecrets } from "../secrets.ts";
import { dagLevels, topoOrder } from "../workflow/dag.ts";
import type { Task, Workflow } from "../workflow/types.ts";

/** A word of a command line as a shell user would read it: quoted when it needs to be. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** What the task does, in one or more lines (unmasked; the caller masks). */
function describe(t: Task): string[] {
  switch (t.type) {
    case "shell": {
      const c = t.config;
      // A script as written, under its shell: one entry, masked whole (a secret may span lines).
      const lines = c.script !== undefined ? [`script (${shellWord(c.command)} -e):\n${c.script.replace(/\n$/, "")}`] : [`$ ${[c.command, ...c.args].map(shellWord).join(" ")}`];
      if (c.workdir) lines.push(`workdir ${c.workdir}`);
      for (const [k, v] of Object.entries(c.env)) lines.push(`env ${k}=${v}`);
      return lines;
    }
    case "ssh": {
      const c = t.config;
      return [`ssh ${c.user}@${c.host}:${c.port} (key ${c.keyPath}, connect timeout ${c.timeout}s)`, `$ ${c.command}`];
    }
    case "http": {
      const c = t.config;
      const lines = [`${c.method} ${c.url}`];
      for (const [k, v] of Object.entries(c.headers)) lines.push(`${k}: ${v}`);
      if (c.body !== undefined) lines.push(`body ${JSON.stringify(c.body)}`);
      return lines;
    }
  }
}

/** Retries, timeout and continue_on_failure of a task, in words. */
function limits(t: Task): string {
  const parts = [t.retry ? `retry ${t.retry} (up to ${t.retry + 1} attempts)` : "no retry", t.timeout ? `timeout ${t.timeout}s` : "no timeout"];
  if (t.continueOnFailure) parts.push("continue_on_failure");
  return parts.join(", ");
}

/** An entry of describe(), masked, indented under its task; a script's lines one step further. */
function indented(entry: string): string {
  const [first, ...rest] = entry.split("\n");
  return `   ${first}\n${rest.map((l) => `     ${l}\n`).join("")}`;
}

/** The workflow's env_file and env (masked: every env_file value is a secret), which shell tasks get. */
function sharedEnvLines(wf: Workflow, mask: (s: string) => string): string {
  if (!wf.env && !wf.envFile) return "";
  let out = `Workflow env${wf.envFile ? ` (env_file ${wf.envFile})` : ""}, for every shell task under its own env:\n`;
  for (const [k, v] of Object.entries(wf.env ?? {})) out += indented(mask(`env ${k}=${v}`));
  return out;
}

/** `cap`: tasks at a time (the workflow's max_parallel, maybe lowered by the config). */
export function formatPlan(wf: Workflow, plan: RunPlan | undefined, cap: number): string {
  const tasks = plan ? wf.tasks.filter((t) => plan.run.has(t.name)) : wf.tasks;
  const names = new Set(tasks.map((t) => t.name));
  // Dependencies outside a partial run are not waited for (plan.ts): levels and order without them.
  const nodes = tasks.map((t) => ({ name: t.name, dependsOn: t.dependsOn.filter((d) => names.has(d)) }));
  const level = new Map<string, number>();
  dagLevels(nodes).forEach((names, l) => names.forEach((n) => level.set(n, l)));
  const mask = (s: string) => maskSecrets(s, wf.secrets ?? []);
  const of = tasks.length === wf.tasks.length ? `${tasks.length} task${tasks.length === 1 ? "" : "s"}` : `${tasks.length} of ${wf.tasks.length} tasks`;
  let out = `Dry run of '${wf.name}' (${wf.file}): ${of}, at most ${cap} at a time; nothing is run.\n`;
  if (wf.failFast === false) out += "fail_fast: false (a failure holds back only its own dependants)\n";
  out += sharedEnvLines(wf, mask);
  topoOrder(nodes).forEach((i, k) => {
    const t = tasks[i]!;
    const after = nodes[i]!.dependsOn.length ? `, after ${nodes[i]!.dependsOn.join(", ")}` : "";
    const ignored = t.dependsOn.filter((d) => !names.has(d));
    out += `\n${k + 1}. ${t.name} (level ${level.get(t.name)}, ${t.type}${after})\n`;
    for (const line of describe(t)) out += indented(mask(line));
    out += `   ${limits(t)}\n`;
    if (ignored.length) out += `   not waiting for ${ignored.join(", ")} (not part of this run)\n`;
  });
  if (wf.handlers?.length) {
    out += `\nHandlers (after the tasks, by the run's outcome):\n`;
    for (const h of wf.handlers) {
      out += `\n- ${h.name} (${h.handler}, ${h.type})\n`;
      for (const line of describe(h)) out += indented(mask(line));
      out += `   ${limits(h)}\n`;
    }
  }
  return out;
}
