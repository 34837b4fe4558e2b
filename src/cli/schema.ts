// `picoflow schema [--output FILE]`: the JSON Schema (draft 2020-12) of workflow files, for
// editors (yaml-language-server in VS Code and Neovim). Needs no config file and no database.
// The code that builds it is imported only when this command runs, so the start-up of every
// other command does not pay for it.

import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, constants } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { IoError, systemErrorText } from "../errors.ts";
import { textOption } from "./read.ts";

// node:crypto on first use, not imported: the compiled binary is one bundle, whose static
// imports all load at start-up, and node:crypto brings Node's stream modules (a few ms).
const nodeCrypto = () => require("node:crypto") as typeof import("node:crypto");

/** `output`: the --output value as cac gives it. */
export async function schemaCommand(outputOption: unknown): Promise<void> {
  const output = textOption(outputOption, "--output");
  const { workflowJsonSchema } = await import("../workflow/json-schema.ts");
  const text = `${JSON.stringify(workflowJsonSchema(pkg.version), null, 2)}\n`;
  if (output === undefined) process.stdout.write(text);
  else writeAtomically(output, text);
}

/**
 * The whole file or nothing, even for an editor reading it meanwhile: written under a fresh,
 * unguessable name in the same directory (never through a planted symlink), then renamed
 * over the target. 0644 whatever the umask: a schema is no secret, and editors run as anyone.
 */
function writeAtomically(path: string, text: string): void {
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${basename(abs)}.${nodeCrypto().randomBytes(9).toString("hex")}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    writeSync(fd, text);
    fchmodSync(fd, 0o644);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, abs);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Not created, or already renamed.
    }
    throw writeProblem(path, abs, err);
  }
}

function writeProblem(path: string, abs: string, err: unknown): IoError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new IoError(`${path}: cannot write: directory ${dirname(abs)} does not exist`);
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return new IoError(`${path}: cannot write: permission denied`);
  if (code === "EISDIR") return new IoError(`${path}: cannot write: is a directory`);
  return new IoError(`${path}: cannot write: ${systemErrorText(err)}`);
}
