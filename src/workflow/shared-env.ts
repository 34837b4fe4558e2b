// The workflow-wide environment: `env_file:` (dotenv, every value a secret), `env:` and the
// `secrets:` list. ${VAR} is expanded in layers (process environment < env_file < env), an
// inline script's text is left to the shell, and the values secret by name are collected.

import { dirname, resolve } from "node:path";
import { readEnvFile } from "./env-file.ts";
import { expandTree, type Expansion } from "./expand.ts";
import { bare } from "./message.ts";
import { LITERAL_BRACES } from "./placeholders.ts";
import { HANDLER_KINDS, MAX_NESTING, type Workflow } from "./types.ts";

type Path = (string | number)[];

/** A problem at a path of the file (the loader places and prints it). */
export interface EnvProblem {
  path: Path;
  message: string;
  warning?: boolean;
}

/** What the loader needs of its options here. */
interface EnvOptions {
  env: Record<string, string | undefined>;
}

/** The workflow-wide variables (`env_file:` and `env:`), as expandWorkflow found them. */
export interface SharedEnv {
  /** env_file's values (every one a secret); empty without a readable file. */
  fileValues: Record<string, string>;
  /** env_file as an absolute path, when it names one. */
  envFile?: string;
  /** `env:`'s values, expanded (its string values; the schema checks the rest). */
  own: Record<string, string>;
  /** What ${VAR} in the rest of the file sees: process environment < env_file < env. */
  vars: Record<string, string | undefined>;
  /** The env_file could not be read, or has bad lines. */
  problems: EnvProblem[];
}

const TASK_LISTS: readonly unknown[] = ["tasks", ...HANDLER_KINDS];

/** An inline script's text (`tasks[i].config.script`, handlers too): passed as written. */
function isScriptPath(path: Path): boolean {
  return path.length === 4 && path[3] === "script" && path[2] === "config" && typeof path[1] === "number" && TASK_LISTS.includes(path[0]);
}

/**
 * ${VAR} expansion of the whole file, in three layers: `env_file`'s path sees the process
 * environment (a relative path is relative to the workflow file); `env`'s values see that and
 * env_file's values (not each other); everything else sees all three, env winning. A script's
 * text is left to the shell, which sees the same variables when it runs.
 */
export function expandWorkflow(
  raw: unknown,
  file: string,
  opts: EnvOptions,
  onString: (path: Path, e: Expansion) => void,
): { data: Record<string, unknown>; shared: SharedEnv } {
  const shared: SharedEnv = { fileValues: {}, own: {}, vars: opts.env, problems: [] };
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { data: expandTree(raw, opts.env, onString, MAX_NESTING, [], isScriptPath) as Record<string, unknown>, shared };
  }
  const { env, env_file, ...rest } = raw as Record<string, unknown>;
  const envFile = expandTree(env_file, opts.env, onString, MAX_NESTING, ["env_file"]);
  if (typeof envFile === "string" && envFile !== "") {
    shared.envFile = resolve(dirname(resolve(file)), envFile);
    const read = readEnvFile(shared.envFile);
    if (!read.ok) shared.problems.push({ path: ["env_file"], message: read.error });
    else {
      shared.fileValues = read.values;
      for (const p of read.problems) shared.problems.push({ path: ["env_file"], message: `${shared.envFile}:${p.line}: ${p.message}` });
    }
  }
  const ownEnv = expandTree(env, { ...opts.env, ...shared.fileValues }, onString, MAX_NESTING, ["env"]);
  if (ownEnv !== null && typeof ownEnv === "object" && !Array.isArray(ownEnv)) {
    // Exported as text, never filled in as placeholders: a `{{` a variable put here is `{{` again.
    for (const [k, v] of Object.entries(ownEnv)) if (typeof v === "string") shared.own[k] = v.replaceAll(LITERAL_BRACES, "{{");
  }
  shared.vars = { ...opts.env, ...shared.fileValues, ...shared.own };
  const data = expandTree(rest, shared.vars, onString, MAX_NESTING, [], isScriptPath) as Record<string, unknown>;
  if (env_file !== undefined) data.env_file = envFile;
  if (env !== undefined) data.env = ownEnv;
  return { data, shared };
}

/**
 * The values secret by name: every env_file value, and the value of each variable `secrets:`
 * names, wherever it is set (the environment, env_file, env, a task's or handler's env). A
 * name set nowhere is a warning: there is nothing to mask, which is rarely what was meant.
 */
export function sharedSecrets(data: Record<string, unknown>, shared: SharedEnv): { values: string[]; names: string[]; problems: EnvProblem[] } {
  const values = Object.values(shared.fileValues);
  const problems: EnvProblem[] = [];
  const names: string[] = [];
  const list = Array.isArray(data.secrets) ? data.secrets : [];
  list.forEach((name, i) => {
    if (typeof name !== "string") return;
    names.push(name);
    const found: string[] = [];
    if (shared.vars[name] !== undefined) found.push(shared.vars[name]!);
    for (const kind of TASK_LISTS) {
      const tasks = data[kind as string];
      if (!Array.isArray(tasks)) continue;
      for (const t of tasks) {
        const v = (t as { config?: { env?: Record<string, unknown> } } | null)?.config?.env?.[name];
        if (typeof v === "string") found.push(v);
      }
    }
    if (found.length) values.push(...found);
    else problems.push({ path: ["secrets", i], message: `${bare(name)} is not set (not in the environment, env_file, env or a task's env), so there is nothing to mask`, warning: true });
  });
  // The env_file's names are secret too (Workflow.secretNames).
  for (const name of Object.keys(shared.fileValues)) if (!names.includes(name)) names.push(name);
  return { values, names, problems };
}

/** Workflow.env (env_file's values, then env's over them), envFile and secretNames, when there are any. */
export function envOf(shared: SharedEnv, secretNames: string[]): Pick<Workflow, "env" | "envFile" | "secretNames"> {
  const env = { ...shared.fileValues, ...shared.own };
  return {
    ...(Object.keys(env).length ? { env } : {}),
    ...(shared.envFile !== undefined ? { envFile: shared.envFile } : {}),
    ...(secretNames.length ? { secretNames } : {}),
  };
}
