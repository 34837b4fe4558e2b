// Load-time checks of a shell task's `command`. It is one program, started without a shell:
// a whole command line there ("echo hello world") can never start, so it is an error, with
// the `args` and `/bin/sh -c` forms that do what was meant. A program that is not on this
// machine is only a warning: the workflow may be meant for another one.

import { accessSync, constants, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { bare, quoted } from "./message.ts";

/** execvp's default when PATH is not set at all. */
const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

/** Shell syntax that splitting into args would not keep: only `/bin/sh -c` does what was meant. */
const SHELL_SYNTAX = /[|&;<>()$`\\"'*?[\]#~={}]/;

export interface CommandProblem {
  level: "error" | "warning";
  message: string;
}

type Found = "found" | "missing" | "directory" | "not-executable";

/**
 * Checks commands, remembering each lookup for the life of one load: a thousand tasks that run
 * the same program cost one PATH search, not a thousand.
 */
export class CommandChecker {
  private readonly seen = new Map<string, Found>();

  /**
   * Problems with `command` for a task run in `workdir` (else the current directory) with
   * `path` as its PATH (the task's own env, else the environment's).
   */
  check(command: string, args: readonly string[], path: string | undefined, workdir: string | undefined): CommandProblem | null {
    if (command === "" || command.includes("\0")) return null; // the schema reports these
    const found = this.find(command, path ?? DEFAULT_PATH, workdir ?? process.cwd());
    if (found === "found") return null;
    // A program whose name holds a space is still one program, if it exists.
    if (found === "missing" && /\s/.test(command)) return { level: "error", message: commandLineMessage(command, args) };
    if (found === "directory") return { level: "warning", message: `${quoted(command)} is a directory, not a program` };
    if (found === "not-executable") return { level: "warning", message: `${quoted(command)} is not executable (chmod +x it, or run it with command: /bin/sh and args: [${bare(JSON.stringify(command))}])` };
    if (command.includes("/")) return { level: "warning", message: `${quoted(command)} does not exist on this machine` };
    return { level: "warning", message: `${quoted(command)} is not found in PATH on this machine` };
  }

  private find(command: string, path: string, cwd: string): Found {
    const key = `${path}\u0000${cwd}\u0000${command}`;
    let found = this.seen.get(key);
    if (found === undefined) {
      found = command.includes("/") ? probe(resolve(cwd, command)) : searchPath(command, path, cwd);
      this.seen.set(key, found);
    }
    return found;
  }
}

/** As execvp searches: the first directory holding an executable file of that name (empty means the current directory). */
function searchPath(name: string, path: string, cwd: string): Found {
  let best: Found = "missing";
  for (const dir of path.split(":")) {
    const f = probe(resolve(cwd, join(dir || ".", name)));
    if (f === "found") return f;
    if (f === "not-executable") best = f;
  }
  return best;
}

function probe(file: string): Found {
  try {
    const st = statSync(file);
    if (st.isDirectory()) return "directory";
    accessSync(file, constants.X_OK);
    return "found";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EACCES" ? "not-executable" : "missing";
  }
}

/** The error for a command line in `command`, with the forms that would work. */
function commandLineMessage(command: string, args: readonly string[]): string {
  const words = command.trim().split(/\s+/);
  const yamlList = (items: string[]) => `[${items.map((a) => JSON.stringify(a)).join(", ")}]`;
  const forms: string[] = [];
  if (!SHELL_SYNTAX.test(command) && words.length > 0 && words[0] !== "") {
    forms.push(`command: ${bare(words[0]!)} with args: ${bare(yamlList([...words.slice(1), ...args]))}`);
  }
  if (args.length === 0) forms.push(`command: /bin/sh with args: ${bare(yamlList(["-c", command.trim()]))}`);
  const how = forms.length
    ? `write ${forms.join(", or ")}`
    : "put the program in command and each argument in args, or run a shell: command: /bin/sh with args: [\"-c\", \"...\"]";
  return `${quoted(command)} is a whole command line, but command is one program, started without a shell: ${how}`;
}
