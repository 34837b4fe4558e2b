// Loading the daemon's workflow files, at start and at every reload, by one rule: each valid
// file loads; each invalid one is reported with its problems (FILE:LINE:COL lines, masked as
// `validate` masks them) and left out; and no two files may declare the same workflow name,
// which keys history and the overlap rule (the file met later, in argument order, is the
// invalid one). What follows from the outcome (schedule it, keep a last good version, refuse
// to start) is the daemon's to decide.

import { existsSync } from "node:fs";
import { IoError, messageOf, PicoflowError, ValidationError } from "../errors.ts";
import { loadWorkflow, type LoadOptions } from "../workflow/load.ts";
import type { Workflow } from "../workflow/types.ts";

export interface LoadedFile {
  file: string;
  wf: Workflow;
}

export interface InvalidFile {
  file: string;
  wf?: undefined;
  /** One line per problem, each naming the file. */
  problems: string[];
  /** The exit code the problem carries: 2 invalid, 5 unreadable. */
  exitCode: number;
  /** The file no longer exists (deleted since the directory was listed, or never there). */
  gone: boolean;
}

export type FileOutcome = LoadedFile | InvalidFile;

/**
 * Load `files` in order. `current` maps each file whose workflow is loaded now to that
 * workflow's name: a new or changed file may not take a name another file holds.
 */
export function loadFiles(files: string[], opts: LoadOptions, current: ReadonlyMap<string, string>): FileOutcome[] {
  const names = new Map(current);
  const out: FileOutcome[] = [];
  for (const file of files) {
    let wf: Workflow;
    try {
      wf = loadWorkflow(file, opts);
    } catch (err) {
      const gone = err instanceof IoError && !existsSync(file);
      // A deleted file's workflow is unscheduled: its name is free again.
      if (gone) names.delete(file);
      out.push({ file, problems: problemsOf(file, err), exitCode: err instanceof PicoflowError ? err.exitCode : 1, gone });
      continue;
    }
    const holder = [...names].find(([f, name]) => f !== file && name === wf.name)?.[0];
    if (holder !== undefined) {
      const problem = `${file}: workflow name '${wf.name}' is already used by ${holder}; names must be unique`;
      out.push({ file, problems: [problem], exitCode: 2, gone: false });
      continue;
    }
    names.set(file, wf.name);
    out.push({ file, wf });
  }
  return out;
}

function problemsOf(file: string, err: unknown): string[] {
  if (err instanceof ValidationError) return err.problems;
  const message = messageOf(err);
  return [message.startsWith(file) ? message : `${file}: ${message}`];
}

/**
 * Why the daemon must not start with these outcomes, as the error to exit with; null if it
 * may. It refuses when files are invalid and none is valid (it would run nothing, and a
 * service manager should see that), or, with --strict, when any file is invalid. Every
 * problem is in the error: exit 2, or 5 when every problem is an unreadable file.
 */
export function startRefusal(outcomes: FileOutcome[], strict: boolean): PicoflowError | null {
  const invalid = outcomes.filter((o): o is InvalidFile => o.wf === undefined);
  if (!invalid.length) return null;
  if (!strict && invalid.length < outcomes.length) return null;
  const lines = invalid.flatMap((o) => o.problems);
  if (invalid.every((o) => o.exitCode === 5)) return new IoError(lines.join("\n"));
  return new ValidationError(lines);
}
