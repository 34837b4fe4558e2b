// Which workflow files the daemon loads. It remembers its arguments and re-reads them on
// every SIGHUP, so added and removed files are picked up:
//   - a plain file: loaded; when it is gone at a reload, its workflow is unscheduled;
//   - a directory: every *.yaml / *.yml file directly in it;
//   - a pattern with * ? [ or { that reached us unexpanded (systemd never expands globs, and a
//     quoted pattern is not expanded by the shell): expanded by the daemon, each time.
// A pattern the shell already expanded arrives as a fixed list of files: the daemon cannot
// know it was a pattern. Pass the directory (or quote the pattern) to pick up new files.

import { readdirSync, statSync } from "node:fs";
import { isAbsolute, join, resolve, sep } from "node:path";

const GLOB_CHARS = /[*?[{]/;

export interface Expansion {
  /** Absolute paths, in argument order, each once. */
  files: string[];
  /** Plain file arguments (absolute): a missing one is an error at start, a removal later. */
  explicit: Set<string>;
  /** Arguments that matched nothing (directories or patterns), for a warning. */
  empty: string[];
}

export function isPattern(arg: string): boolean {
  return GLOB_CHARS.test(arg);
}

function isWorkflowName(name: string): boolean {
  return name.endsWith(".yaml") || name.endsWith(".yml");
}

/** Expand a pattern: the part before the first segment with a glob character is the base directory. */
function expandPattern(arg: string, cwd: string): string[] {
  const abs = isAbsolute(arg) ? arg : join(cwd, arg);
  const parts = abs.split(sep);
  const first = parts.findIndex((p) => GLOB_CHARS.test(p));
  const base = parts.slice(0, first).join(sep) || sep;
  const pattern = parts.slice(first).join("/");
  try {
    if (!statSync(base).isDirectory()) return [];
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const f of new Bun.Glob(pattern).scanSync({ cwd: base, onlyFiles: true, dot: false })) out.push(resolve(base, f));
  return out.sort();
}

function expandDirectory(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => (d.isFile() || d.isSymbolicLink()) && isWorkflowName(d.name) && !d.name.startsWith("."))
      .map((d) => join(dir, d.name))
      .filter((f) => {
        try {
          return statSync(f).isFile();
        } catch {
          return false;
        }
      })
      .sort();
  } catch {
    return [];
  }
}

/** Expand the daemon's arguments as of now. Never throws. */
export function expandArguments(args: string[], cwd: string): Expansion {
  const files: string[] = [];
  const seen = new Set<string>();
  const explicit = new Set<string>();
  const empty: string[] = [];
  const add = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    files.push(f);
  };
  for (const arg of args) {
    const abs = resolve(cwd, arg);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {}
    if (isDir) {
      const found = expandDirectory(abs);
      if (!found.length) empty.push(arg);
      found.forEach(add);
    } else if (isPattern(arg) && !exists(abs)) {
      const found = expandPattern(arg, cwd);
      if (!found.length) empty.push(arg);
      found.forEach(add);
    } else {
      explicit.add(abs);
      add(abs);
    }
  }
  return { files, explicit, empty };
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
