// The workflow file's JSON Schema (draft 2020-12), for editors (`picoflow schema`). It is
// generated from the zod schemas that validate the file (schema.ts), descriptions and defaults
// included, so the two cannot drift. What load.ts checks with zod in code is put together
// here: each task's and handler's config by its type, `notify` as a mapping or false. Some
// refinements are added by hand (patterns, and which fields go together); the rest (a cron
// expression, a time zone, a URL, the DAG) is left to `picoflow validate`. Loaded only by
// that command: other commands never build it.
//
// The keywords used are also understood by draft-7 tools (yaml-language-server): no
// prefixItems, unevaluated* or $dynamicRef, and nothing next to a $ref.

import { z } from "zod";
import { notifySchema, taskConfigSchemas, taskSchema, workflowSchema } from "./schema.ts";
import { HANDLER_KINDS, HTTP_METHODS, MAX_TASKS, TASK_TYPES, type TaskType } from "./types.ts";

type Json = Record<string, any>;

export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

/** `$id` of the schema of this version (a URN: the schema is printed, not hosted). */
export const schemaId = (version: string) => `urn:picoflow:workflow:${version}`;

/**
 * A value written as `${VAR}` is only known when the file is loaded (load.ts expands every
 * string value before zod sees it), so a pattern also accepts a string with `${` in it.
 */
const orVariable = (pattern: string) => `(?:${pattern})|\\$\\{`;

/** A pattern that matches `word` in any case (JSON Schema patterns have no flags). */
const anyCase = (word: string) => [...word].map((c) => (c.toLowerCase() === c.toUpperCase() ? c : `[${c.toUpperCase()}${c.toLowerCase()}]`)).join("");

/** One zod schema as JSON Schema: the input side (what is written in the file), without its own `$schema`. */
function fromZod(schema: z.ZodType): Json {
  const json = z.toJSONSchema(schema, { target: "draft-2020-12", io: "input" }) as Json;
  delete json.$schema;
  return json;
}

/** A property of a generated object schema; throws if the zod schema no longer has it (tests see it). */
function prop(json: Json, key: string): Json {
  const p = json.properties?.[key];
  if (!p) throw new Error(`JSON Schema: no property '${key}'`);
  return p;
}

/** Every string pattern in a value (not in keys: keys are never expanded) also accepts `${VAR}`. */
function allowVariables(json: unknown): void {
  if (Array.isArray(json)) return json.forEach(allowVariables);
  if (json === null || typeof json !== "object") return;
  const node = json as Json;
  if (node.type === "string" && typeof node.pattern === "string") node.pattern = orVariable(node.pattern);
  for (const [k, v] of Object.entries(node)) if (k !== "propertyNames") allowVariables(v);
}

/** Refinements of schema.ts that a pattern can say (for an editor; load.ts has the last word). */
function addPatterns(configs: Record<TaskType, Json>, root: Json): void {
  prop(configs.shell, "workdir").pattern = orVariable("^/");
  prop(configs.shell, "script").pattern = "\\S";
  prop(configs.ssh, "key_path").pattern = orVariable("^(?:/|~$|~/)");
  prop(configs.http, "ca_cert").pattern = orVariable("^/");
  prop(root, "catchup_window").pattern = orVariable("^\\s*\\d{1,9}[smhd]\\s*$");
  // Any case: an enum for completion, a pattern for what is accepted.
  const method = prop(configs.http, "method");
  method.anyOf = [{ enum: [...HTTP_METHODS] }, { pattern: orVariable(`^(?:${HTTP_METHODS.map(anyCase).join("|")})$`) }];
}

/** Rules between the fields of a config (schema.ts's superRefine), as if/then. */
function addFieldRules(configs: Record<TaskType, Json>): void {
  // `script` or `command`; `args` go with command, `shell` with script.
  Object.assign(configs.shell, {
    if: { required: ["script"] },
    then: { properties: { command: false, args: false } },
    else: { required: ["command"], properties: { shell: false } },
  });
  const getOrHead = `^(?:${["GET", "HEAD"].map(anyCase).join("|")})$`;
  configs.http.allOf = [
    // No body on GET or HEAD.
    { if: { properties: { method: { type: "string", pattern: getOrHead } }, required: ["method"] }, then: { properties: { body: false } } },
    // insecure: true leaves ca_cert unused.
    { if: { properties: { insecure: { const: true } }, required: ["insecure"] }, then: { properties: { ca_cert: false } } },
    // auth or an Authorization header, not both.
    { if: { required: ["auth"] }, then: { properties: { headers: { type: "object", propertyNames: { not: { type: "string", pattern: `^${anyCase("authorization")}$` } } } } } },
  ];
}

/** A task (or, without depends_on, a handler): its config is the schema of its type. */
function taskDef(base: z.ZodType): Json {
  const json = fromZod(base);
  prop(json, "config").type = "object";
  json.allOf = TASK_TYPES.map((type) => ({
    if: { properties: { type: { const: type } }, required: ["type"] },
    then: { properties: { config: { $ref: `#/$defs/${type}_config` } } },
  }));
  return json;
}

/** The JSON Schema of a workflow file, as `picoflow schema` prints it. */
export function workflowJsonSchema(version: string): Json {
  const configs = Object.fromEntries(TASK_TYPES.map((t) => [t, fromZod(taskConfigSchemas[t])])) as Record<TaskType, Json>;
  const root = fromZod(workflowSchema);
  const defs: Json = {
    task: taskDef(taskSchema),
    handler: taskDef(taskSchema.omit({ depends_on: true })),
    notify: fromZod(notifySchema),
  };
  for (const t of TASK_TYPES) defs[`${t}_config`] = configs[t];
  for (const d of [root, ...Object.values(defs)]) allowVariables(d);
  addPatterns(configs, root);
  addFieldRules(configs);

  const tasks = prop(root, "tasks");
  tasks.items = { $ref: "#/$defs/task" };
  tasks.maxItems = MAX_TASKS;
  for (const kind of HANDLER_KINDS) prop(root, kind).items = { $ref: "#/$defs/handler" };
  const notify = prop(root, "notify");
  root.properties.notify = { description: notify.description, anyOf: [{ $ref: "#/$defs/notify" }, { const: false }] };
  // Top-level x-* keys are the user's (a place for YAML anchors); load.ts ignores them.
  root.patternProperties = { "^x-": { description: "Ignored by PicoFlow: a place for YAML anchors to merge into tasks (<<: *name)." } };

  return {
    $schema: JSON_SCHEMA_DIALECT,
    $id: schemaId(version),
    title: "PicoFlow workflow",
    description: `A PicoFlow workflow file (picoflow ${version}). 'picoflow validate FILE' checks what this schema cannot: cron, time zones, URLs, the DAG.`,
    ...root,
    $defs: defs,
  };
}
