// Reads a workflow file, parses YAML with positions, expands ${VAR}, validates every rule in
// one pass (FILE:LINE:COL: path: message) and builds the Workflow the engine runs. Findings
// that do not stop a run (an unset variable, a program not on this machine) are warnings
// (FILE:LINE:COL: warning: path: message), kept on the Workflow for the commands to show.

import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type * as Yaml from "yaml";
import type { CST, Document, Node as YamlNode, Pair } from "yaml";
import type { z } from "zod";
import { IoError, systemErrorText, ValidationError } from "../errors.ts";
import { caCertProblems } from "./ca-cert.ts";
import { CommandChecker } from "./command.ts";
import { checkDag, suggest } from "./dag.ts";
import { envOf, expandWorkflow, sharedSecrets, type SharedEnv } from "./shared-env.ts";
import { TooDeepError, type Expansion } from "./expand.ts";
import { bare, problemTemplate, quoted, renderProblem } from "./message.ts";
import { eachBracedString, hasPlaceholders, LITERAL_BRACES, placeholderProblems } from "./placeholders.ts";
import { parseFastYaml } from "./quick-yaml.ts";
import { parseCatchupWindow, taskConfigSchemas, taskSchema, workflowSchema, type RawTask } from "./schema.ts";
import { pathKey, workflowSecrets } from "./secrets.ts";
import {
  HANDLER_KINDS,
  MAX_FILE_BYTES,
  MAX_NESTING,
  MAX_TASKS,
  TASK_TYPES,
  type HandlerKind,
  DEFAULT_NOTIFY_ON,
  DEFAULT_CATCHUP_WINDOW_MS,
  DEFAULT_SCRIPT_SHELL,
  type HttpConfig,
  type ShellConfig,
  type HttpMethod,
  type NotifyEvent,
  type NotifyFormat,
  type Task,
  type TaskType,
  type Workflow,
} from "./types.ts";

export interface LoadOptions {
  /** Variables for ${VAR} expansion. */
  env: Record<string, string | undefined>;
  /** Home directory for `~` in ssh key_path. */
  home: string;
  /** Used when the workflow's config sets no retry_default / timeout_default. */
  defaultRetry: number;
  defaultTimeout: number;
  /** Upper bound for every task timeout, 0 = none. */
  maxTimeout: number;
}

type Path = (string | number)[];

/**
 * The yaml package, loaded the first time the slow path needs it: a file the fast path reads
 * (the usual `run`) never evaluates its modules, a few milliseconds of every start-up.
 */
let yamlModule: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (yamlModule ??= require("yaml") as typeof Yaml);

/** A bound on the values aliases may expand a file to: far above any real workflow (1000 tasks merging defaults are ~50000). */
const MAX_EXPANDED_VALUES = 1_000_000;

interface Problem {
  path: Path;
  message: string;
  /** Point at the key itself rather than its value (unknown keys). */
  atKey?: boolean;
  /** Shown, but the workflow still loads. */
  warning?: boolean;
  /** A required variable (`${NAME:?...}`) is missing: other problems of the values at these paths are echoes of it. */
  echoes?: Path[];
}

/** Read and validate a workflow file. Throws IoError (exit 5) or ValidationError (exit 2). */
export function loadWorkflow(file: string, opts: LoadOptions): Workflow {
  return parseWorkflow(readWorkflowText(file), file, opts);
}

export function readWorkflowText(file: string): string {
  let size: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new IoError(`${file}: is a directory, not a workflow file`);
    if (!st.isFile()) throw new IoError(`${file}: not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof IoError) throw err;
    throw ioProblem(file, err);
  }
  if (size > MAX_FILE_BYTES) {
    throw new ValidationError([`${file}: file is ${size} bytes; a workflow file may be at most ${MAX_FILE_BYTES} bytes (1 MiB)`]);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw ioProblem(file, err);
  }
  if (bytes.includes(0)) throw new ValidationError([`${file}: not a text file (it contains binary data)`]);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ValidationError([`${file}: not a text file (it is not valid UTF-8)`]);
  }
}

function ioProblem(file: string, err: unknown): IoError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new IoError(`${file}: no such file`);
  if (code === "EACCES" || code === "EPERM") return new IoError(`${file}: permission denied`);
  if (code === "EISDIR") return new IoError(`${file}: is a directory, not a workflow file`);
  return new IoError(`${file}: cannot read: ${systemErrorText(err)}`);
}

/** Validate workflow text; `file` names it in messages. */
export function parseWorkflow(text: string, file: string, opts: LoadOptions): Workflow {
  // Fast path: the data read by Bun's native parser, confirmed to be what `yaml` reads (in
  // any style; quick-yaml.ts). Anything it cannot confirm, and every file with a problem or
  // a warning, goes the slow way below, which knows where each problem is.
  const commands = new CommandChecker(); // one lookup per program, for both passes
  const plain = parseFastYaml(text);
  if (plain !== undefined) {
    const wf = checkAndBuild(plain, file, opts, commands, null);
    if (wf) return wf;
  }

  const lines = new (yaml().LineCounter)();
  const where = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  // The CST first (the yaml package builds it without recursion), so that nesting too deep for
  // the recursive steps after it is refused before they overflow the stack.
  const tokens = parseCst(text, lines);
  const deep = Array.isArray(tokens) ? tooDeep(tokens) : tokens.deep;
  if (deep !== null) throw new ValidationError([`${where(deep)}: nesting deeper than ${MAX_NESTING} levels of lists and mappings`]);
  const doc = compose(tokens as CST.Token[], text.length);

  if (doc.errors.length) {
    // The document may hold secrets even where it does not parse: mask what can be found.
    const secrets = secretsForMessages(doc, file, opts);
    throw new ValidationError(
      collapse(doc.errors.map((e) => ({ offset: e.pos[0], group: e.message, text: `${where(e.pos[0])}: ${bare(yamlMessage(e))}` }))).map((l) =>
        renderProblem(l, secrets),
      ),
    );
  }
  if (doc.contents === null || (yaml().isScalar(doc.contents) && doc.contents.value === null)) {
    throw new ValidationError([`${file}: file is empty; a workflow needs at least 'name' and 'tasks'`]);
  }
  if (!yaml().isMap(doc.contents)) {
    const got = yaml().isScalar(doc.contents) ? "a single value" : "a list";
    throw new ValidationError([`${where(doc.contents.range?.[0] ?? 0)}: the top level must be a mapping with 'name' and 'tasks', got ${got}`]);
  }

  const aliases = indexAliases(doc);
  if (aliases.size > MAX_EXPANDED_VALUES) {
    throw new ValidationError([`${file}: YAML aliases expand this file to more than ${MAX_EXPANDED_VALUES} values; a workflow needs far fewer`]);
  }
  if (aliases.selfMerge) {
    throw new ValidationError([`${where(aliases.selfMerge.range?.[0] ?? 0)}: a merge key (<<) cannot merge a mapping into itself`]);
  }
  let raw: unknown;
  try {
    // The size was checked above, so yaml's own alias limit (100 uses of an anchor, which a
    // file of 1000 tasks that each merge `<<: *defaults` exceeds) is not needed.
    raw = doc.toJS({ maxAliasCount: -1 });
  } catch (err) {
    throw new ValidationError([renderProblem(`${file}: ${bare(firstLine((err as Error).message))}`, secretsForMessages(doc, file, opts))]);
  }
  return checkAndBuild(raw, file, opts, commands, { doc, where, aliases: aliases.targets })!;
}

/** One YAML document from the CST, as parseDocument makes it (a second one is an error). */
function compose(tokens: CST.Token[], end: number): Document.Parsed {
  // merge: `<<: *defaults` merge keys, the usual way to share task defaults (docs/workflows.md).
  const composer = new (yaml().Composer)({ prettyErrors: false, uniqueKeys: true, merge: true });
  let doc: Document.Parsed | undefined;
  for (const d of composer.compose(tokens, true, end)) {
    if (!doc) doc = d;
    else {
      doc.errors.push(new (yaml().YAMLParseError)([d.range[0], d.range[1]], "MULTIPLE_DOCS", "Source contains multiple documents"));
      break;
    }
  }
  return doc!;
}

const isCollection = (t: CST.Token) => t.type === "block-map" || t.type === "block-seq" || t.type === "flow-collection";

/**
 * The CST, as Parser.parse makes it, but given up as soon as the parser holds more open lists
 * and mappings than MAX_NESTING: a megabyte of "[" would otherwise build a CST of hundreds of
 * megabytes before tooDeep() could refuse it.
 */
function parseCst(text: string, lines: Yaml.LineCounter): CST.Token[] | { deep: number } {
  const parser = new (yaml().Parser)(lines.addNewLine);
  const tokens: CST.Token[] = [];
  lines.addNewLine(0);
  for (const lexeme of new (yaml().Lexer)().lex(text)) {
    for (const t of parser.next(lexeme)) tokens.push(t);
    if (parser.stack.length > MAX_NESTING) {
      const open = parser.stack.filter(isCollection);
      if (open.length > MAX_NESTING) return { deep: open[MAX_NESTING]!.offset };
    }
  }
  for (const t of parser.end()) tokens.push(t);
  return tokens;
}

/** Offset of the first list or mapping nested deeper than MAX_NESTING, or null. No recursion. */
function tooDeep(tokens: CST.Token[]): number | null {
  const stack: [CST.Token, number][] = tokens.map((t) => [t, 0]).reverse() as [CST.Token, number][];
  while (stack.length) {
    const [token, depth] = stack.pop()!;
    if (token.type === "document") {
      if (token.value) stack.push([token.value, depth]);
    } else if (isCollection(token)) {
      if (depth + 1 > MAX_NESTING) return token.offset;
      // Reversed, so the first deep spot in the file is the one found.
      for (let i = token.items.length - 1; i >= 0; i--) {
        const item = token.items[i]!;
        if (item.value) stack.push([item.value, depth + 1]);
        if (item.key) stack.push([item.key, depth + 1]);
      }
    }
  }
  return null;
}

/** Best effort, for a document that did not load: the secrets it would have had. */
function secretsForMessages(doc: Document, file: string, opts: LoadOptions): string[] {
  try {
    const aliases = indexAliases(doc);
    if (aliases.size > MAX_EXPANDED_VALUES || aliases.selfMerge) return [];
    const substituted = new Map<string, string[]>();
    const { data, shared } = expandWorkflow(withoutExtensions(doc.toJS({ maxAliasCount: -1 })), file, opts, (path, e) => substituted.set(pathKey(path), e.substituted));
    return workflowSecrets(data, substituted, sharedSecrets(data, shared).values).inMessages;
  } catch {
    return [];
  }
}

/** What one pass over a document's aliases finds (see indexAliases). */
interface AliasIndex {
  /** Values once aliases and merge keys are expanded (capped just above MAX_EXPANDED_VALUES). */
  size: number;
  /** The node each alias points at. */
  targets: Map<unknown, unknown>;
  /** An alias in a merge key that points at a mapping it is inside of, if any. */
  selfMerge: YamlNode | null;
}

/**
 * One pass over the document in order (an anchor precedes its aliases, so what an alias
 * points at is known when it is met):
 * - the size: an alias is as big as what it points at; a few lines of anchors could
 *   otherwise stand for billions of values ("billion laughs");
 * - each alias's target, so positions are found without a search per alias;
 * - a merge key that merges a mapping into itself, which `yaml` would recurse on forever.
 * An alias to a node it is inside of counts as one value: expandTree refuses that cycle.
 */
function indexAliases(doc: Document): AliasIndex {
  const anchors = new Map<string, unknown>();
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  const index: AliasIndex = { size: 0, targets: new Map(), selfMerge: null };
  const size = (node: unknown, merged = false): number => {
    if (yaml().isAlias(node)) {
      const target = anchors.get(node.source);
      index.targets.set(node, target);
      if (merged && open.has(target)) index.selfMerge ??= node;
      return sizes.get(target) ?? 1;
    }
    if (node === null || typeof node !== "object") return 1;
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) anchors.set(anchor, node);
    open.add(node);
    let n = 1;
    if (yaml().isMap(node)) {
      for (const p of node.items) {
        const merge = isMergeKey(p.key);
        n += size(p.key) + (merge && yaml().isSeq(p.value) ? 1 + p.value.items.reduce((m: number, i) => m + size(i, true), 0) : size(p.value, merge));
      }
    } else if (yaml().isSeq(node)) for (const item of node.items) n += size(item);
    open.delete(node);
    // Capped: sizes multiply through nested anchors, and only "too many" matters.
    n = Math.min(n, MAX_EXPANDED_VALUES + 1);
    sizes.set(node, n);
    return n;
  };
  index.size = size(doc.contents);
  return index;
}

/** The slow path's document, with positions. */
interface Located {
  doc: Document;
  where: (offset: number) => string;
  /** What each alias points at (indexAliases). */
  aliases: Map<unknown, unknown>;
}

/** Top-level keys starting with `x-` are the user's (a place for YAML anchors, as in docker compose): PicoFlow ignores them. */
function withoutExtensions(raw: unknown): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const keys = Object.keys(raw);
  if (!keys.some((k) => k.startsWith("x-"))) return raw;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (!k.startsWith("x-")) out[k] = (raw as Record<string, unknown>)[k];
  return out;
}

/** Where each variable that needs a word about it was first used, and how often. */
type VariableUses = Map<string, { paths: Path[]; required?: { message: string; empty: boolean } }>;

function noteVariables(uses: VariableUses, path: Path, e: Expansion): void {
  const note = (key: string, required?: { message: string; empty: boolean }) => {
    const u = uses.get(key);
    if (!u) uses.set(key, { paths: [path], required });
    else if (u.paths[u.paths.length - 1] !== path) u.paths.push(path);
  };
  // A variable used twice in one string is one use.
  for (const name of new Set(e.unset)) note(`unset\u0000${name}`);
  for (const r of new Map(e.required.map((r) => [r.name, r])).values()) note(`required\u0000${r.name}`, r);
}

/**
 * One problem per variable, at its first use: an error for `${NAME:?message}`, a warning for
 * an unset `${NAME}` (the spec makes it "", which is rarely what was meant).
 */
function variableProblems(uses: VariableUses): Problem[] {
  const out: Problem[] = [];
  for (const [key, u] of uses) {
    const name = key.slice(key.indexOf("\u0000") + 1);
    const n = u.paths.length;
    const more = n > 1 ? ` (and in ${n - 1} more place${n > 2 ? "s" : ""})` : "";
    if (u.required) {
      const state = u.required.empty ? "is empty" : "is not set";
      const why = u.required.message ? `: ${bare(u.required.message)}` : ", and this workflow needs it";
      out.push({ path: u.paths[0]!, message: `\${${name}} ${state}${why}${more}`, echoes: u.paths });
    } else {
      out.push({ path: u.paths[0]!, message: `\${${name}} is not set, so it becomes "" here${more}; write \${${name}:-} if that is meant`, warning: true });
    }
  }
  return out;
}

/**
 * Validate parsed YAML and build the Workflow. Without `at` (the fast path, no positions) it
 * returns null on any problem or warning instead of throwing, so the caller can re-read with
 * positions.
 */
function checkAndBuild(
  raw: unknown,
  file: string,
  opts: LoadOptions,
  commands: CommandChecker,
  at: Located | null,
): Workflow | null {
  raw = withoutExtensions(raw);
  // Count tasks before anything else so an oversized file fails fast and clearly.
  const rawTasks = (raw as { tasks?: unknown }).tasks;
  if (Array.isArray(rawTasks) && rawTasks.length > MAX_TASKS) {
    if (!at) return null;
    const node = at.doc.getIn(["tasks"], true) as YamlNode | undefined;
    throw new ValidationError([`${at.where(node?.range?.[0] ?? 0)}: tasks: ${rawTasks.length} tasks; a workflow may have at most ${MAX_TASKS}`]);
  }

  // Where ${VAR} put which values: the secret set needs them (see secrets.ts).
  const substituted = new Map<string, string[]>();
  const variables: VariableUses = new Map();
  let data: Record<string, unknown>;
  let shared: SharedEnv;
  try {
    const onString = (path: Path, e: Expansion) => {
      if (e.substituted.length) substituted.set(pathKey(path), e.substituted);
      if (e.unset.length || e.required.length) noteVariables(variables, path, e);
    };
    ({ data, shared } = expandWorkflow(raw, file, opts, onString));
  } catch (err) {
    // Only aliases get here (the text itself was checked): a deep or circular structure.
    if (!(err instanceof TooDeepError) || !at) return null;
    const path = err.path.slice(0, 8);
    const shown = err.path.length > path.length ? `${formatPath(path)}…` : formatPath(path);
    throw new ValidationError([renderProblem(`${at.where(locate(at, path))}: ${shown}: nesting deeper than ${MAX_NESTING} levels of lists and mappings (through an alias)`, [])]);
  }
  const named = sharedSecrets(data, shared);
  const { secrets, inMessages } = workflowSecrets(data, substituted, named.values);
  // Programs are looked up, and run, with the workflow's env (a PATH there counts).
  const taskOpts: LoadOptions = { ...opts, env: shared.vars };

  const problems: Problem[] = [...variableProblems(variables), ...shared.problems, ...named.problems];
  const top = workflowSchema.safeParse(data);
  if (!top.success) problems.push(...fromZod(top.error, []));
  // Catch-up without a schedule would silently do nothing: say so.
  for (const key of ["catchup", "catchup_window"]) {
    if (data[key] !== undefined && data.schedule === undefined) problems.push({ path: [key], message: "needs a schedule (catch-up runs missed fire times)", atKey: true });
  }

  const tasks: { raw: RawTask; index: number }[] = [];
  if (Array.isArray(data.tasks)) {
    data.tasks.forEach((t, i) => {
      const parsed = checkTask(t, ["tasks", i], problems, taskOpts, commands);
      if (parsed) tasks.push({ raw: parsed, index: i });
    });
  }
  const handlers = checkHandlers(data, problems, taskOpts, commands);

  // Graph checks run even when other fields are wrong, so one pass shows every problem. A
  // task without a name may be the one a dependency means: then unknown names are not reported.
  const nodes = Array.isArray(data.tasks) ? data.tasks.map(graphNode) : [];
  const complete = nodes.every((n) => n !== null);
  const graph = nodes.map((n, i) => n ?? { name: `\u0000${i}`, dependsOn: [] });
  for (const p of checkDag(graph, { unknownDependencies: complete, quote: quoted, bare })) problems.push({ path: ["tasks", ...p.path], message: p.message });
  problems.push(...handlerNameProblems(graph, handlers));

  let lines: string[] = [];
  if (problems.length) {
    if (!at) return null;
    const shown = withoutEchoes(problems);
    const located = shown.map((p) => {
      const offset = locate(at, p.path, p.atKey);
      // Same place in the shape of the file (list indexes aside), same message (values aside).
      const group = `${p.warning ? "w" : "e"}${p.path.map((k) => (typeof k === "number" ? "[]" : k)).join("\u0000")}\u0001${problemTemplate(p.message)}`;
      return { offset, group, text: `${at.where(offset)}: ${p.warning ? "warning: " : ""}${formatPath(p.path)}: ${p.message}` };
    });
    // Masked when made, so every consumer (CLI, daemon log, daemon status) gets masked text.
    // Warnings go with errors, in file order: one pass shows everything.
    lines = collapse(located).map((l) => renderProblem(l, inMessages));
    if (shown.some((p) => !p.warning)) throw new ValidationError(lines);
  }

  const wf = top.data!;
  const retryDefault = wf.config?.retry_default ?? opts.defaultRetry;
  const timeoutDefault = wf.config?.timeout_default ?? opts.defaultTimeout;
  const capTimeout = (t: number) => (opts.maxTimeout > 0 ? (t === 0 ? opts.maxTimeout : Math.min(t, opts.maxTimeout)) : t);

  const build = (t: RawTask, handler?: HandlerKind): Task => {
    const base = {
      name: t.name,
      ...(handler ? { handler } : {}),
      dependsOn: t.depends_on ?? [],
      retry: t.retry ?? retryDefault,
      timeout: capTimeout(t.timeout ?? timeoutDefault),
      continueOnFailure: t.continue_on_failure ?? false,
      // The workflow's whole set: a task may print what another one uses (one shared list).
      secrets,
      // Filled in when it starts (workflow/placeholders.ts); most tasks have none.
      ...(configHasPlaceholders(t.config) ? { placeholders: true } : {}),
    };
    const c = t.config as Record<string, any>;
    switch (t.type) {
      case "shell":
        return {
          ...base,
          type: "shell",
          config: shellConfigOf(c as ShellConfigInput),
        };
      case "ssh":
        return {
          ...base,
          type: "ssh",
          config: {
            host: c.host,
            port: c.port ?? 22,
            user: c.user,
            command: c.command,
            keyPath: expandHome(c.key_path ?? "~/.ssh/id_rsa", opts.home),
            timeout: c.timeout ?? 30,
          },
        };
      case "http": {
        const config: HttpConfig = {
          url: c.url,
          method: String(c.method).toUpperCase() as HttpMethod,
          headers: c.headers ?? {},
          body: c.body,
          timeout: c.timeout ?? 30,
          ...(c.expect_status !== undefined ? { expectStatus: [c.expect_status].flat() } : {}),
          ...(c.expect_body !== undefined ? { expectBody: c.expect_body } : {}),
          ...(c.ca_cert !== undefined ? { caCert: c.ca_cert } : {}),
          insecure: c.insecure ?? false,
          ...(c.auth !== undefined ? { auth: { username: c.auth.username, password: c.auth.password } } : {}),
        };
        return { ...base, type: "http", config };
      }
    }
  };

  return {
    name: wf.name,
    // A `{{` a variable put here was escaped for placeholders (expand.ts): a description has none.
    description: wf.description?.replaceAll(LITERAL_BRACES, "{{"),
    schedule: wf.schedule,
    timezone: wf.timezone,
    maxParallel: wf.config?.max_parallel ?? 4,
    file: resolve(file),
    ...envOf(shared, named.names),
    secrets,
    warnings: lines,
    tasks: tasks.map(({ raw: t }) => build(t)),
    ...(handlers.length ? { handlers: handlers.map((h) => build(h.raw, h.kind)) } : {}),
    ...(wf.config?.fail_fast === false ? { failFast: false } : {}),
    ...notifyOf(wf),
    ...catchupOf(wf),
  };
}

/** The workflow's catch-up (absent for `none`); catchup_window defaults to 24h. */
function catchupOf(wf: { catchup?: string; catchup_window?: string }): Pick<Workflow, "catchup"> {
  if (wf.catchup !== "latest" && wf.catchup !== "all") return {};
  const windowMs = wf.catchup_window === undefined ? DEFAULT_CATCHUP_WINDOW_MS : parseCatchupWindow(wf.catchup_window)!;
  return { catchup: { mode: wf.catchup, windowMs } };
}

/**
 * One task (or handler) at `at`: its fields, its config against its type's schema (even when
 * other fields are wrong), its program, its placeholders. The parsed task, or null.
 */
function checkTask(t: unknown, at: Path, problems: Problem[], opts: LoadOptions, commands: CommandChecker): RawTask | null {
  const parsed = taskSchema.safeParse(t);
  if (!parsed.success) problems.push(...fromZod(parsed.error, at));
  const type = (t as { type?: unknown } | null)?.type;
  const config = (t as { config?: unknown } | null)?.config;
  if (typeof type === "string" && (TASK_TYPES as readonly string[]).includes(type) && config !== undefined) {
    const schema = taskConfigSchemas[type as TaskType];
    const c = schema.safeParse(config);
    if (!c.success) problems.push(...fromZod(c.error, [...at, "config"], Object.keys(schema.shape)));
    else if (type === "shell") problems.push(...commandProblems(c.data as ShellConfigInput, [...at, "config"], opts, commands));
    else if (type === "http") for (const p of caCertProblems(c.data as { url: string; ca_cert?: string })) problems.push({ path: [...at, "config", "ca_cert"], ...p });
  }
  const handler = at[0] !== "tasks";
  eachBracedString(config, [...at, "config"], (path, s) => {
    for (const message of placeholderProblems(s, handler)) problems.push({ path, message });
  });
  return parsed.success ? parsed.data : null;
}

/** The handler lists' items, checked like tasks; a handler has no depends_on. */
function checkHandlers(data: Record<string, unknown>, problems: Problem[], opts: LoadOptions, commands: CommandChecker): { raw: RawTask; kind: HandlerKind; path: Path }[] {
  const out: { raw: RawTask; kind: HandlerKind; path: Path }[] = [];
  for (const kind of HANDLER_KINDS) {
    const list = data[kind];
    if (!Array.isArray(list)) continue;
    list.forEach((t, i) => {
      const at: Path = [kind, i];
      if ((t as { depends_on?: unknown } | null)?.depends_on !== undefined) {
        problems.push({ path: [...at, "depends_on"], message: "a handler has no depends_on (it runs after the whole DAG)", atKey: true });
      }
      const parsed = checkTask(t, at, problems, opts, commands);
      if (parsed) out.push({ raw: { ...parsed, depends_on: undefined }, kind, path: at });
    });
  }
  return out;
}

/** Names are unique across tasks and handlers (records and `logs --task` tell them apart by name). */
function handlerNameProblems(tasks: { name: string }[], handlers: { raw: RawTask; path: Path }[]): Problem[] {
  const seen = new Map<string, string>(tasks.map((t, i) => [t.name, `tasks[${i}]`]));
  const out: Problem[] = [];
  for (const h of handlers) {
    const first = seen.get(h.raw.name);
    if (first) out.push({ path: [...h.path, "name"], message: `duplicate name ${quoted(h.raw.name)} (also ${first}); names are unique across tasks and handlers` });
    else seen.set(h.raw.name, `${h.path[0]}[${h.path[1]}]`);
  }
  return out;
}

/** Does any string of a task's config hold a placeholder (or the escape) to fill in at run time? */
function configHasPlaceholders(config: unknown): boolean {
  let found = false;
  eachBracedString(config, [], (_, s) => (found ||= hasPlaceholders(s)));
  return found;
}

type ShellConfigInput = { command?: string; args?: string[]; script?: string; shell?: string; workdir?: string; env?: Record<string, string> };

/** A shell task's config as run: a script becomes `SHELL -e -c SCRIPT`. */
function shellConfigOf(c: ShellConfigInput): ShellConfig {
  if (c.script !== undefined) {
    return { command: c.shell ?? DEFAULT_SCRIPT_SHELL, args: ["-e", "-c", c.script], script: c.script, workdir: c.workdir, env: c.env ?? {} };
  }
  return { command: c.command!, args: c.args ?? [], workdir: c.workdir, env: c.env ?? {} };
}

/** A command line in `command` is an error; a program not on this machine (or a script's shell), a warning. */
function commandProblems(c: ShellConfigInput, at: Path, opts: LoadOptions, commands: CommandChecker): Problem[] {
  const run = shellConfigOf(c);
  const p = commands.check(run.command, c.script !== undefined ? [] : run.args, c.env?.PATH ?? opts.env.PATH, c.workdir);
  return p ? [{ path: [...at, c.script !== undefined ? (c.shell !== undefined ? "shell" : "script") : "command"], message: p.message, warning: p.level === "warning" }] : [];
}

/**
 * A value that a required variable (`${NAME:?...}`) left empty breaks other rules too ("not a
 * valid URL"): the variable's error says it all, so those are dropped.
 */
function withoutEchoes(problems: Problem[]): Problem[] {
  const missing = new Set(problems.flatMap((p) => p.echoes ?? []).map(pathKey));
  if (!missing.size) return problems;
  return problems.filter((p) => p.warning || p.echoes || !missing.has(pathKey(p.path)));
}

function graphNode(t: unknown): { name: string; dependsOn: string[] } | null {
  const { name, depends_on } = (t ?? {}) as { name?: unknown; depends_on?: unknown };
  if (typeof name !== "string") return null;
  const deps = Array.isArray(depends_on) ? depends_on.filter((d): d is string => typeof d === "string") : [];
  return { name, dependsOn: deps };
}

export function expandHome(p: string, home: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/")) return `${home}/${p.slice(2)}`;
  return p;
}

/** Zod issues as problems; `keys` are the keys a mapping at `prefix` may have (for suggestions). */
function fromZod(error: z.ZodError, prefix: Path, keys?: string[]): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const issue of error.issues) {
    const path = [...prefix, ...(issue.path as Path)];
    // One value can break two rules with one message (1e20 is neither an integer nor in range).
    const key = `${path.join("\u0000")}\u0001${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (issue.code === "unrecognized_keys") {
      const known = issue.path.length === 0 && keys ? keys : knownKeys(path);
      for (const key of issue.keys) {
        out.push({ path: [...path, key], message: `unknown key${suggest(key, known, quoted)}`, atKey: true });
      }
    } else if (issue.code === "invalid_key") {
      out.push({ path, message: issue.issues[0]?.message ?? issue.message, atKey: true });
    } else if (issue.code === "invalid_element") {
      out.push({ path, message: issue.issues[0]?.message ?? issue.message });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

function knownKeys(path: Path): string[] {
  const shape = (s: unknown) => Object.keys((s as { shape: object }).shape);
  if (path.length === 0) return shape(workflowSchema);
  if (path.length === 1 && path[0] === "config") return ["max_parallel", "retry_default", "timeout_default", "fail_fast"];
  if (path.length === 2 && (path[0] === "tasks" || (HANDLER_KINDS as readonly unknown[]).includes(path[0]))) return shape(taskSchema);
  return [];
}

/**
 * Offset of the deepest node on `path` that exists in the document. Aliases are followed, and
 * a key a mapping got from a merge key (`<<: *defaults`) is found where it is written: in the
 * anchored mapping, which is what to edit.
 */
function locate(at: Located, path: Path, atKey = false): number {
  for (let n = path.length; n >= 0; n--) {
    if (atKey && n === path.length && n > 0) {
      const range = (pairAt(at, path)?.key as YamlNode | undefined)?.range;
      if (range) return range[0];
      continue;
    }
    const node = n === 0 ? at.doc.contents : pairAt(at, path.slice(0, n))?.value;
    if (node && typeof node === "object" && (node as YamlNode).range) return (node as YamlNode).range![0];
  }
  return 0;
}

/** The pair (or list item, as a pair without key) at `path`, through aliases and merge keys. */
function pairAt(at: Located, path: Path): { key?: unknown; value: unknown } | undefined {
  let node: unknown = at.doc.contents;
  let pair: { key?: unknown; value: unknown } | undefined;
  for (const k of path) {
    node = deref(at, node);
    if (yaml().isMap(node)) pair = findPair(at, node.items, String(k), 0);
    else if (yaml().isSeq(node) && typeof k === "number") pair = k < node.items.length ? { value: node.items[k] } : undefined;
    else pair = undefined;
    if (!pair) return undefined;
    node = pair.value;
  }
  return pair;
}

const isMergeKey = (key: unknown) => yaml().isScalar(key) && (key.value === "<<" || (typeof key.value === "symbol" && key.value.description === "<<"));

/** A mapping's own pair for `key`, else the first from its merge keys (as `yaml` merges them). */
function findPair(at: Located, items: Pair[], key: string, depth: number): Pair | undefined {
  const own = items.find((p) => yaml().isScalar(p.key) && String(p.key.value) === key);
  if (own || depth > MAX_NESTING) return own;
  for (const p of items) {
    if (!isMergeKey(p.key)) continue;
    const from = deref(at, p.value);
    for (const source of yaml().isSeq(from) ? from.items.map((i) => deref(at, i)) : [from]) {
      const found = yaml().isMap(source) ? findPair(at, source.items as Pair[], key, depth + 1) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

function deref(at: Located, node: unknown): unknown {
  return yaml().isAlias(node) ? at.aliases.get(node) : node;
}

/** `tasks[0].config.env.NAME`; keys are the file's own text, so they are marked as values. */
function formatPath(path: Path): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s ? `.${bare(p)}` : bare(p);
  return s || "(top level)";
}

/** More lines than this of one kind of problem are shown as one line with a count. */
const MAX_REPEATED = 5;

/**
 * Lines in file order; a problem repeated more than MAX_REPEATED times (same `group`) is one
 * line, at its first place, with the count of the others.
 */
function collapse(lines: { offset: number; group: string; text: string }[]): string[] {
  const sorted = [...lines].sort((a, b) => a.offset - b.offset);
  const count = new Map<string, number>();
  for (const l of sorted) count.set(l.group, (count.get(l.group) ?? 0) + 1);
  const out: string[] = [];
  for (const l of sorted) {
    const n = count.get(l.group)!;
    if (n <= MAX_REPEATED) {
      if (n > 0) out.push(l.text);
      continue;
    }
    // The first of a long run stands for all of them.
    out.push(`${l.text} (and ${n - 1} more like it)`);
    count.set(l.group, 0);
  }
  return out;
}

/** The yaml package's message, in our words where it speaks of its own API. */
function yamlMessage(e: { code: string; message: string }): string {
  if (e.code === "MULTIPLE_DOCS") return "a workflow file holds one YAML document; a second one starts here ('---')";
  return firstLine(e.message);
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.trim();
}

/** The workflow's `notify:` (a target with defaults, or false) and `healthcheck:`, when it has them. */
function notifyOf(wf: { notify?: unknown; healthcheck?: string }): Pick<Workflow, "notify" | "healthcheck"> {
  const out: Pick<Workflow, "notify" | "healthcheck"> = {};
  // A `{{` a variable put into a URL was escaped for placeholders (expand.ts): a URL has none.
  const url = (u: string) => u.replaceAll(LITERAL_BRACES, "{{");
  if (wf.notify === false) out.notify = false;
  else if (wf.notify !== undefined) {
    const n = wf.notify as { url: string; format?: NotifyFormat; on?: NotifyEvent[] };
    out.notify = { url: url(n.url), format: n.format ?? "json", on: [...new Set(n.on ?? DEFAULT_NOTIFY_ON)] };
  }
  if (wf.healthcheck !== undefined) out.healthcheck = url(wf.healthcheck);
  return out;
}
