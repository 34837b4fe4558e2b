// ${VAR} expansion of string values after parsing, so a value can never change the document's shape.
//
// The forms are the shell's: `${NAME}` ("" when unset, with a warning from the loader),
// `${NAME:-word}` (word when unset or empty), `${NAME-word}` (word when unset),
// `${NAME:?message}` (an error when unset or empty), `${NAME?message}` (an error when unset),
// and `$$` for a literal `$`. A word or message may itself hold ${...}. Anything else,
// `$HOME` and `$(cmd)` included, is literal text. A `{{` in a variable's value stays literal
// text: it is written escaped, so it never becomes a run-time placeholder. The loader expands
// in layers (process env < env_file < env) and leaves an inline script's text to the shell.

export interface Expansion {
  value: string;
  /** The values that variables (or their defaults) put into the string (for secret masking). */
  substituted: string[];
  /** Variables used without a default that are not set at all (they became ""). */
  unset: string[];
  /** `${NAME:?message}` whose variable was unset (or empty): each is a validation error. */
  required: RequiredVariable[];
}

export interface RequiredVariable {
  name: string;
  /** The message written after `?`, expanded; "" if none. */
  message: string;
  /** Set but empty (only the `:?` form refuses that). */
  empty: boolean;
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

/** Expand one string; see the header for the forms. */
export function expandString(input: string, env: Record<string, string | undefined>): Expansion {
  const exp: Expansion = { value: input, substituted: [], unset: [], required: [] };
  if (input.includes("$")) exp.value = expandPart(input, 0, input.length, env, exp);
  return exp;
}

/** Expand input[from, to), recording what happened in `exp`. */
function expandPart(input: string, from: number, to: number, env: Record<string, string | undefined>, exp: Expansion): string {
  let out = "";
  let i = from;
  while (i < to) {
    const dollar = input.indexOf("$", i);
    if (dollar < 0 || dollar >= to) {
      out += input.slice(i, to);
      break;
    }
    out += input.slice(i, dollar);
    if (input[dollar + 1] === "$" && dollar + 1 < to) {
      out += "$";
      i = dollar + 2;
      continue;
    }
    const ref = input[dollar + 1] === "{" ? parseReference(input, dollar, to) : null;
    if (!ref) {
      out += "$";
      i = dollar + 1;
      continue;
    }
    out += resolveReference(input, ref, env, exp);
    i = ref.end;
  }
  return out;
}

interface Reference {
  name: string;
  /** "" for plain ${NAME}; else ":-", "-", ":?" or "?". */
  op: string;
  /** The word (or message) is input[wordStart, wordEnd). */
  wordStart: number;
  wordEnd: number;
  /** Index after the closing brace. */
  end: number;
}

/** `${...}` starting at `dollar`, or null if it is not one of the forms (then it is literal). */
function parseReference(input: string, dollar: number, to: number): Reference | null {
  NAME.lastIndex = dollar + 2;
  const m = NAME.exec(input);
  if (!m) return null;
  let i = dollar + 2 + m[0].length;
  if (input[i] === "}" && i < to) return { name: m[0], op: "", wordStart: i, wordEnd: i, end: i + 1 };
  const op = input.startsWith(":-", i) || input.startsWith(":?", i) ? input.slice(i, i + 2) : input[i] === "-" || input[i] === "?" ? input[i]! : null;
  if (op === null) return null;
  const wordStart = i + op.length;
  // The word ends at the brace that closes this reference: nested ${...} and $$ are skipped.
  let depth = 0;
  for (i = wordStart; i < to; i++) {
    const c = input[i];
    if (c === "$" && (input[i + 1] === "$" || input[i + 1] === "{")) {
      if (input[i + 1] === "{") depth++;
      i++;
    } else if (c === "}") {
      if (depth === 0) return { name: m[0], op, wordStart, wordEnd: i, end: i + 1 };
      depth--;
    }
  }
  return null;
}

function resolveReference(input: string, ref: Reference, env: Record<string, string | undefined>, exp: Expansion): string {
  const value = env[ref.name];
  const colon = ref.op.startsWith(":");
  const missing = value === undefined || (colon && value === "");
  if (ref.op === "") {
    if (value === undefined) exp.unset.push(ref.name);
    if (value) exp.substituted.push(value);
    return literalBraces(value ?? "");
  }
  if (!missing) {
    if (value) exp.substituted.push(value);
    return literalBraces(value!);
  }
  const word = expandPart(input, ref.wordStart, ref.wordEnd, env, exp);
  if (ref.op.endsWith("?")) {
    exp.required.push({ name: ref.name, message: word, empty: value === "" });
    return "";
  }
  if (word) exp.substituted.push(word);
  return word;
}

/**
 * A variable's value is text, never a run-time placeholder (workflow/placeholders.ts): each
 * `{{` in it is written in the escaped form, which becomes `{{` again when the task runs.
 */
function literalBraces(value: string): string {
  return value.includes("{{") ? value.replaceAll("{{", '{{ "{{" }}') : value;
}

/** Thrown by expandTree for a tree nested deeper than its limit (an alias can make one). */
export class TooDeepError extends Error {
  constructor(readonly path: (string | number)[]) {
    super("nested too deeply");
  }
}

/**
 * Expand every string value (not keys) in a parsed YAML tree. `onString` sees the path of each
 * string that held a variable reference, with what the expansion did. Lists and mappings nested
 * more than `maxDepth` deep throw TooDeepError: YAML aliases can build a deep or even circular
 * tree from a short file, and this copy must end. A string at a path `literal` accepts is kept
 * as written (an inline script: its ${VAR} are the shell's, at run time).
 */
export function expandTree(
  node: unknown,
  env: Record<string, string | undefined>,
  onString?: (path: (string | number)[], expansion: Expansion) => void,
  maxDepth = Infinity,
  path: (string | number)[] = [],
  literal?: (path: (string | number)[]) => boolean,
): unknown {
  if (typeof node === "string") {
    if (!node.includes("$") || literal?.(path)) return node;
    const exp = expandString(node, env);
    if (onString && (exp.substituted.length || exp.unset.length || exp.required.length)) onString(path, exp);
    return exp.value;
  }
  if (node === null || typeof node !== "object") return node;
  if (path.length >= maxDepth) throw new TooDeepError(path);
  if (Array.isArray(node)) return node.map((v, i) => expandTree(v, env, onString, maxDepth, [...path, i], literal));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = expandTree(v, env, onString, maxDepth, [...path, k], literal);
  return out;
}
