// A workflow's `env_file:`: KEY=VALUE lines, dotenv style, every value a secret. The file is
// read only when it is safe to trust: a regular file of the invoking user's (or root's), not
// readable or writable by others, and reached through a symlink only if the link is the user's
// or root's (the rule the database path follows, store/db.ts). Messages never quote a value.

import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readSync, type Stats } from "node:fs";
import { systemErrorText } from "../errors.ts";
import { describeUser } from "../sys/proc.ts";
import { MAX_FILE_BYTES } from "./types.ts";

/** A problem of one line of the file (1-based), without the file's name. */
export interface EnvLineProblem {
  line: number;
  message: string;
}

export interface EnvFileContent {
  /** The variables, in file order; a later line wins over an earlier one with the same name. */
  values: Record<string, string>;
  problems: EnvLineProblem[];
}

export type EnvFileRead = ({ ok: true } & EnvFileContent) | { ok: false; error: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Read `path` (absolute) if its owner and mode allow it, and parse it. */
export function readEnvFile(path: string): EnvFileRead {
  const trust = trustProblem(path);
  if (trust) return { ok: false, error: trust };
  let text: string;
  try {
    text = readTrusted(path);
  } catch (err) {
    if (err instanceof EnvFileError) return { ok: false, error: err.message };
    return { ok: false, error: openProblem(path, err) };
  }
  return { ok: true, ...parseEnvFile(text) };
}

class EnvFileError extends Error {}

function openProblem(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return `env file ${path} does not exist`;
  if (code === "EACCES" || code === "EPERM") return `cannot read env file ${path}: permission denied`;
  return `cannot read env file ${path}: ${systemErrorText(err)}`;
}

/** Why a symlink at `path` is not followed, or null (also null when there is no file: reading says so). */
function trustProblem(path: string): string | null {
  let link: Stats;
  try {
    link = lstatSync(path);
  } catch (err) {
    return openProblem(path, err);
  }
  if (!link.isSymbolicLink()) return null;
  const me = process.geteuid!();
  if (link.uid !== me && link.uid !== 0) {
    return `env file ${path} is a symbolic link owned by ${describeUser(link.uid)}; PicoFlow follows only links of your own or root's`;
  }
  return null;
}

/**
 * The file's text, checked on the open file itself (what is read is what was checked): a
 * regular file, the user's or root's, not accessible by others, at most MAX_FILE_BYTES, UTF-8.
 */
function readTrusted(path: string): string {
  // O_NONBLOCK: a FIFO planted at the path must not hang the loader.
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new EnvFileError(`env file ${path} is not a regular file`);
    const me = process.geteuid!();
    if (st.uid !== me && st.uid !== 0) {
      throw new EnvFileError(`env file ${path} is owned by ${describeUser(st.uid)}, not by ${describeUser(me)} or root; refusing to read it`);
    }
    // Like the ssh key check (executors/ssh.ts), but group access is allowed: a 0640 file of a
    // service's group is the usual way to share one.
    if ((st.mode & 0o007) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      throw new EnvFileError(`env file ${path} is accessible by others (mode ${mode}); run: chmod 600 ${path}`);
    }
    if (st.size > MAX_FILE_BYTES) throw new EnvFileError(`env file ${path} is ${st.size} bytes; an env file may be at most ${MAX_FILE_BYTES} bytes (1 MiB)`);
    const data = Buffer.alloc(st.size);
    let off = 0;
    while (off < data.length) {
      const n = readSync(fd, data, off, data.length - off, off);
      if (n <= 0) break;
      off += n;
    }
    const bytes = data.subarray(0, off);
    if (bytes.includes(0)) throw new EnvFileError(`env file ${path} is not a text file (it contains binary data)`);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new EnvFileError(`env file ${path} is not a text file (it is not valid UTF-8)`);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * dotenv lines: `KEY=VALUE` or `export KEY=VALUE`, `#` comments and blank lines. A value in
 * single quotes is literal; in double quotes `\n`, `\"` and `\\` are escapes; an unquoted value
 * ends at ` #` (a comment) and is trimmed. Each bad line is one problem.
 */
export function parseEnvFile(text: string): EnvFileContent {
  const values: Record<string, string> = {};
  const problems: EnvLineProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const r = parseLine(raw);
    if (r === null) return;
    if ("problem" in r) problems.push({ line: i + 1, message: r.problem });
    else values[r.name] = r.value;
  });
  return { values, problems };
}

type LineResult = { name: string; value: string } | { problem: string } | null;

function parseLine(raw: string): LineResult {
  let s = raw.trim();
  if (s === "" || s.startsWith("#")) return null;
  if (/^export\s/.test(s)) s = s.slice(6).trimStart();
  const name = NAME.exec(s)?.[0];
  if (!name) return { problem: "expected KEY=VALUE (a variable name: letters, digits and '_', not starting with a digit)" };
  const rest = s.slice(name.length).trimStart();
  if (!rest.startsWith("=")) return { problem: `expected '=' after ${name}` };
  const v = rest.slice(1).trimStart();
  if (v.startsWith("'") || v.startsWith('"')) return quoted(name, v);
  // Unquoted: a comment starts at whitespace then '#'.
  const comment = /\s#/.exec(v);
  return { name, value: (comment ? v.slice(0, comment.index) : v).trimEnd() };
}

/** A quoted value: it must close on its line, and only a comment may follow it. */
function quoted(name: string, v: string): LineResult {
  const q = v[0]!;
  let value = "";
  let i = 1;
  for (; i < v.length && v[i] !== q; i++) {
    if (q === '"' && v[i] === "\\" && i + 1 < v.length) {
      const next = v[i + 1]!;
      if (next === "n") value += "\n";
      else if (next === '"' || next === "\\") value += next;
      else value += `\\${next}`;
      i++;
    } else value += v[i];
  }
  if (i >= v.length) return { problem: `the value of ${name} has no closing ${q === "'" ? "single" : "double"} quote (a value is one line)` };
  const after = v.slice(i + 1).trim();
  if (after !== "" && !after.startsWith("#")) return { problem: `unexpected text after the quoted value of ${name}` };
  return { name, value };
}
