// ${VAR} expansion of string values after parsing, so a value can never change the document's shape.

const TOKEN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export interface Expansion {
  value: string;
  /** The values that variables put into the string (for secret masking). */
  substituted: string[];
}

/** `${NAME}` becomes the variable's value ("" if unset); `$$` becomes `$`; anything else is literal. */
export function expandString(input: string, env: Record<string, string | undefined>): Expansion {
  const substituted: string[] = [];
  if (!input.includes("$")) return { value: input, substituted };
  const value = input.replace(TOKEN, (match, name: string | undefined) => {
    if (match === "$$") return "$";
    const v = env[name!] ?? "";
    if (v) substituted.push(v);
    return v;
  });
  return { value, substituted };
}

/** Thrown by expandTree for a tree nested deeper than its limit (an alias can make one). */
export class TooDeepError extends Error {
  constructor(readonly path: (string | number)[]) {
    super("nested too deeply");
  }
}

/**
 * Expand every string value (not keys) in a parsed YAML tree. `onSubstitute` sees the path of
 * each string that a variable changed, with the values it received. Lists and mappings nested
 * more than `maxDepth` deep throw TooDeepError: YAML aliases can build a deep or even circular
 * tree from a short file, and this copy must end.
 */
export function expandTree(
  node: unknown,
  env: Record<string, string | undefined>,
  onSubstitute?: (path: (string | number)[], values: string[]) => void,
  maxDepth = Infinity,
  path: (string | number)[] = [],
): unknown {
  if (typeof node === "string") {
    const { value, substituted } = expandString(node, env);
    if (substituted.length && onSubstitute) onSubstitute(path, substituted);
    return value;
  }
  if (node === null || typeof node !== "object") return node;
  if (path.length >= maxDepth) throw new TooDeepError(path);
  if (Array.isArray(node)) return node.map((v, i) => expandTree(v, env, onSubstitute, maxDepth, [...path, i]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = expandTree(v, env, onSubstitute, maxDepth, [...path, k]);
  return out;
}
