// The zod schema mirrors the workflow YAML exactly (spec: "Workflow YAML Schema" and
// "Task Configuration Schemas"); unknown keys are rejected. build() in load.ts applies defaults.

import { z } from "zod";
import { cronProblem } from "./cron.ts";
import { quoted } from "./message.ts";
import { CATCHUP_MODES, DEFAULT_NOTIFY_ON, DEFAULT_SCRIPT_SHELL, HTTP_METHODS, MAX_CATCHUP_WINDOW_MS, NAME_PATTERN, NOTIFY_EVENTS, NOTIFY_FORMATS, TASK_TYPES, type TaskType } from "./types.ts";

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return "a string";
  // String(), not JSON.stringify: NaN and Infinity (YAML .nan, .inf, 1e400) are not "null".
  return `${typeof v} ${String(v)}`;
}

/** "required" when missing, otherwise "expected X, got Y". */
const typeError = (expected: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? "required" : `expected ${expected}, got ${describe(iss.input)}`;

const mapping = { error: typeError("a mapping") };

const int = (min: number, max: number) => {
  const error = (iss: { input?: unknown }) =>
    iss.input === undefined ? "required" : `must be an integer from ${min} to ${max}, got ${describe(iss.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

const str = (what = "a string") => z.string({ error: typeError(what) });
const nonEmpty = () => str().min(1, { error: "must not be empty" });

const name = () =>
  str().regex(NAME_PATTERN, {
    error: "must be 1-64 characters of letters, digits, '-' or '_'",
  });

/**
 * Linux refuses to start a program with an argument or environment entry of 128 KiB or more
 * (MAX_ARG_STRLEN, terminating NUL included): say so at validate time, not with a run-time
 * E2BIG that is retried.
 */
const MAX_ARG_BYTES = 131071;
const ARG_LIMIT = `an argument or environment entry may be at most ${MAX_ARG_BYTES} bytes (Linux's limit)`;

/** A string handed to the operating system (a path): a NUL byte would end it early, and Bun refuses it. */
const osString = (what = "a string") =>
  str(what).refine((s) => !s.includes("\0"), { error: (iss) => `must not contain a NUL byte, got ${quoted(String(iss.input))}` });

/** An argument, environment value or remote command: no NUL byte, and short enough to pass. */
const argString = (what = "a string") =>
  osString(what).refine((s) => fitsArg(s), {
    error: (iss) => `is ${byteLength(String(iss.input))} bytes; ${ARG_LIMIT}`,
  });

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Cheap for the usual short string: only a long one is measured in bytes. */
function fitsArg(s: string): boolean {
  return s.length * 3 <= MAX_ARG_BYTES || byteLength(s) <= MAX_ARG_BYTES;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function absolutePath(what: string) {
  return osString().min(1, { error: "must not be empty" }).refine((p) => p.startsWith("/"), { error: `${what} must be an absolute path` });
}

const envName = () => str().regex(ENV_NAME, { error: "environment variable names are letters, digits and '_', not starting with a digit" });

/** An `env:` mapping (a task's, or the workflow's for every task). */
const envMapping = () =>
  z
    .record(envName(), argString("a string (quote numbers and booleans)"), mapping)
    .superRefine((env, ctx) => {
      // The kernel's limit is on NAME=value as a whole.
      for (const [name, value] of Object.entries(env)) {
        const entry = `${name}=${value}`;
        if (fitsArg(value) && !fitsArg(entry)) {
          ctx.addIssue({ code: "custom", path: [name], message: `NAME=value is ${byteLength(entry)} bytes; ${ARG_LIMIT}` });
        }
      }
    });

export const shellConfigSchema = z.strictObject({
  command: argString().min(1, { error: "must not be empty" }).optional()
    .meta({ description: "Program to run, started without a shell: a path, or a name looked up in PATH. Its arguments go in args. Required unless script is given." }),
  args: z.array(argString("a string (quote numbers and booleans)"), { error: typeError("a list of strings") }).optional()
    .meta({ description: "Arguments of command, one per item (quote numbers and booleans)." }),
  // An inline script, run as `SHELL -e -c SCRIPT` (stops at the first failing command).
  script: argString().refine((s) => s.trim() !== "", { error: "must not be empty" }).optional()
    .meta({ description: "Inline script, run as SHELL -e -c SCRIPT (stops at the first failing command). Not with command or args. ${VAR} in it is left to the shell." }),
  shell: osString().min(1, { error: "must not be empty" }).optional()
    .meta({ description: `The shell that runs script (only with script; default ${DEFAULT_SCRIPT_SHELL}).`, default: DEFAULT_SCRIPT_SHELL }),
  workdir: absolutePath("workdir").optional()
    .meta({ description: "Working directory, an absolute path (default: picoflow's working directory)." }),
  env: envMapping().optional()
    .meta({ description: "Environment variables of this task, over the workflow's env and the inherited environment." }),
}, mapping).superRefine((c, ctx) => {
  if (c.script !== undefined) {
    if (c.command !== undefined) ctx.addIssue({ code: "custom", path: ["script"], message: "a task has either 'command' or 'script', not both" });
    if (c.args !== undefined) ctx.addIssue({ code: "custom", path: ["args"], message: "'args' go with 'command'; a script has none" });
  } else {
    if (c.command === undefined) ctx.addIssue({ code: "custom", path: ["command"], message: "required (or 'script' for an inline script)" });
    if (c.shell !== undefined) ctx.addIssue({ code: "custom", path: ["shell"], message: "'shell' goes with 'script'" });
  }
});

export const sshConfigSchema = z.strictObject({
  host: nonEmpty()
    .regex(/^[^\s/@]+$/, { error: "must be a hostname or IP address" })
    // "nas:2222", "nas:" or "[::1]:22": a port (or a typo) in the host. An IPv6 address has
    // two or more colons and, here, no brackets.
    .refine((h) => h.split(":").length !== 2 && !h.startsWith("["), {
      error: "must be a hostname or IP address without a port (put the port in 'port'; IPv6 without brackets)",
    })
    .meta({ description: "Host name or IP address, without a port (IPv6 without brackets)." }),
  port: int(1, 65535).optional().meta({ description: "SSH port.", default: 22 }),
  user: nonEmpty().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, { error: "must be a valid Unix user name" })
    .meta({ description: "Remote user name." }),
  command: argString().min(1, { error: "must not be empty" })
    .meta({ description: "Command run by the remote user's login shell (pipes, redirections and && work; write $ as $$)." }),
  key_path: osString()
    .min(1, { error: "must not be empty" })
    .refine((p) => p.startsWith("/") || p === "~" || p.startsWith("~/"), {
      error: "key_path must be an absolute path or start with ~/",
    })
    .optional()
    .meta({ description: "Private key file (no passphrase, mode 600 or 400): an absolute path or ~/...", default: "~/.ssh/id_rsa" }),
  timeout: int(1, 3600).optional().meta({ description: "Connection timeout in seconds: connect, handshake and authentication.", default: 30 }),
}, mapping);

/** Why a regular expression (JavaScript syntax) does not compile, or null. */
export function regexProblem(re: string): string | null {
  try {
    new RegExp(re);
    return null;
  } catch (err) {
    return `not a valid regular expression: ${String((err as Error).message).replace(/^Invalid regular expression: /, "")}`;
  }
}

function checkUrl(u: string, ctx: z.core.$RefinementCtx<string>) {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    ctx.addIssue({ code: "custom", message: `${quoted(u)} is not a valid URL` });
    return;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `unsupported scheme ${quoted(url.protocol.slice(0, -1))} (use http or https)` });
  } else if (!url.hostname) {
    ctx.addIssue({ code: "custom", message: "URL has no host" });
  }
}

export const httpConfigSchema = z.strictObject({
  url: nonEmpty().superRefine(checkUrl).meta({ description: "URL to call, http:// or https://." }),
  method: str().refine((m) => (HTTP_METHODS as readonly string[]).includes(m.toUpperCase()), {
    error: `must be one of ${HTTP_METHODS.join(", ")} (any case)`,
  }).meta({ description: `HTTP method: ${HTTP_METHODS.join(", ")}, in any case.` }),
  headers: z
    .record(
      str().regex(HEADER_NAME, { error: "not a valid HTTP header name" }),
      str("a string (quote numbers and booleans)").refine((v) => !/[\r\n\0]/.test(v), {
        error: "header values must not contain line breaks or NUL bytes",
      }),
      mapping,
    )
    .optional()
    .meta({ description: "Request headers (quote numbers). A credential header's value is a secret, masked everywhere." }),
  body: z
    .union([z.record(z.string(), z.unknown()), z.array(z.unknown())], { error: typeError("a mapping or a list (sent as JSON)") })
    .optional()
    .meta({ description: "Request body, sent as JSON: a mapping or a list. Not with GET or HEAD." }),
  timeout: int(1, 3600).optional()
    .meta({ description: "Request timeout in seconds: connecting, TLS, waiting for the response and reading it.", default: 30 }),
  // What counts as success: these statuses (default: any 2xx), and a body matching this regex.
  expect_status: z
    .union([int(100, 599), z.array(int(100, 599), { error: typeError("a status or a list of statuses") }).min(1, { error: "must not be empty" })], {
      error: typeError("a status or a list of statuses"),
    })
    .optional()
    .meta({ description: "The status, or list of statuses, that counts as success (default: any 2xx)." }),
  expect_body: str("a regular expression")
    .superRefine((re, ctx) => {
      const p = regexProblem(re);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional()
    .meta({ description: "Regular expression (JavaScript syntax) that the response body must match." }),
  // TLS: trust this CA (PEM), or skip verification altogether.
  ca_cert: absolutePath("ca_cert").optional()
    .meta({ description: "Absolute path of a PEM file of CA certificates to trust (a self-signed NAS or router)." }),
  insecure: z.boolean({ error: typeError("true or false") }).optional()
    .meta({ description: "true: skip TLS certificate verification (warns once per run). Not with ca_cert.", default: false }),
  // Basic auth; the password is a secret.
  auth: z
    .strictObject({
      username: nonEmpty().refine((u) => !u.includes(":"), { error: "must not contain ':'" }).meta({ description: "User name (without ':')." }),
      password: str().meta({ description: "Password, a secret (masked everywhere); ${VAR} keeps it out of the file." }),
    }, mapping)
    .optional()
    .meta({ description: "HTTP basic authentication. Not with an Authorization header." }),
}, mapping).superRefine((c, ctx) => {
  if (c.insecure === true && c.ca_cert !== undefined) {
    ctx.addIssue({ code: "custom", path: ["insecure"], message: "insecure: true skips verification, so ca_cert would not be used; keep one of them" });
  }
  if (c.auth !== undefined && Object.keys(c.headers ?? {}).some((h) => h.toLowerCase() === "authorization")) {
    ctx.addIssue({ code: "custom", path: ["auth"], message: "an Authorization header is already set in headers; keep one of them" });
  }
  // fetch (and most servers) refuse a body on GET and HEAD: say so at validate time.
  if (c.body !== undefined && /^(get|head)$/i.test(c.method)) {
    ctx.addIssue({ code: "custom", path: ["body"], message: `a ${c.method.toUpperCase()} request cannot have a body (use POST, PUT or PATCH)` });
  }
});

export const taskConfigSchemas = {
  shell: shellConfigSchema,
  ssh: sshConfigSchema,
  http: httpConfigSchema,
} satisfies Record<TaskType, z.ZodType>;

export const taskSchema = z.strictObject({
  name: name().meta({ description: "Task name: 1-64 of A-Z a-z 0-9 _ -, unique across tasks and handlers." }),
  type: z.enum(TASK_TYPES, { error: (iss) => (iss.input === undefined ? "required" : `must be one of ${TASK_TYPES.join(", ")}`) })
    .meta({ description: "What the task runs: shell (a local program), ssh (a remote command) or http (a request)." }),
  depends_on: z.array(str(), { error: typeError("a list of task names") }).optional()
    .meta({ description: "Names of the tasks that must succeed before this one starts.", default: [] }),
  // Checked against the schema of the task's type in load.ts, so its errors carry the right path.
  config: z.unknown().refine((v) => v !== undefined, { error: "required" })
    .meta({ description: "The settings of the task's type." }),
  retry: int(0, 100).optional()
    .meta({ description: "Retries after a failed attempt: up to retry+1 attempts (default: config.retry_default)." }),
  timeout: int(0, 86400).optional()
    .meta({ description: "Seconds an attempt may run, 0 = no limit (default: config.timeout_default)." }),
  continue_on_failure: z.boolean({ error: typeError("true or false") }).optional()
    .meta({ description: "true: a failure is tolerated; dependants run as if it had succeeded.", default: false }),
}, mapping);

/** A handler list (on_failure, on_success, on_exit): its items are checked like tasks in load.ts. */
function handlerList() {
  return z.array(z.unknown(), { error: typeError("a list of tasks") }).optional();
}

/** A workflow's `notify:` block: the keys of the config's [notify] target (docs/notifications.md). */
export const notifySchema = z.strictObject({
  url: nonEmpty().superRefine(checkUrl).meta({ description: "Where messages are POSTed: a webhook or ntfy URL (a credential, masked everywhere)." }),
  format: z.enum(NOTIFY_FORMATS, { error: (iss) => (iss.input === undefined ? "required" : `must be one of ${NOTIFY_FORMATS.join(", ")}`) }).optional()
    .meta({ description: "json: a JSON payload; ntfy: a message for ntfy.", default: "json" }),
  on: z
    .array(z.enum(NOTIFY_EVENTS, { error: `must be one of ${NOTIFY_EVENTS.join(", ")}` }), { error: typeError("a list of events") })
    .min(1, { error: "must not be empty (write notify: false to send nothing)" })
    .optional()
    .meta({ description: "When a message is sent (default: when a workflow breaks, and when it is fixed).", default: [...DEFAULT_NOTIFY_ON] }),
}, { error: typeError("a mapping with 'url', or false") });

/** `notify:` is a target, or false to silence the config's [notify]; its problems carry their own paths. */
const notifyOrFalse = z.unknown().superRefine((v, ctx) => {
  if (v === false) return;
  const r = notifySchema.safeParse(v);
  if (r.success) return;
  for (const iss of r.error.issues) {
    if (iss.code === "unrecognized_keys") {
      for (const key of iss.keys) ctx.addIssue({ code: "custom", path: [...iss.path, key], message: `unknown key (keys: ${Object.keys(notifySchema.shape).join(", ")})` });
    } else ctx.addIssue({ code: "custom", path: iss.path, message: iss.message });
  }
}).meta({ description: "Where this workflow's runs are reported, in place of the config file's [notify]; false: nowhere." });

export function timezoneProblem(tz: string): string | null {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return null;
  } catch {
    return `unknown time zone ${quoted(tz)} (use an IANA name such as Europe/Berlin)`;
  }
}

const DURATION_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A catch-up window as written ("12h", "30m", "2d"), in milliseconds; null when it is not one. */
export function parseCatchupWindow(s: string): number | null {
  const m = /^(\d{1,9})([smhd])$/.exec(s.trim());
  return m ? Number(m[1]) * DURATION_UNITS_MS[m[2]!]! : null;
}

function catchupWindowProblem(s: string): string | null {
  const ms = parseCatchupWindow(s);
  if (ms === null) return `must be a number and a unit (s, m, h or d), such as 12h, got ${quoted(s)}`;
  if (ms <= 0) return `must be more than 0, got ${quoted(s)}`;
  if (ms > MAX_CATCHUP_WINDOW_MS) return `must be at most 7d, got ${quoted(s)}`;
  return null;
}

export const workflowSchema = z.strictObject({
  name: name().meta({ description: "Workflow name: 1-64 of A-Z a-z 0-9 _ -." }),
  description: str().max(256, { error: "must be at most 256 characters" }).optional()
    .meta({ description: "What the workflow does, at most 256 characters." }),
  schedule: nonEmpty()
    .superRefine((s, ctx) => {
      const p = cronProblem(s);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional()
    .meta({ description: "When the daemon runs it: 6-field cron, seconds first (\"0 30 2 * * *\"), or @hourly, @daily, @weekly, @monthly, @yearly." }),
  timezone: nonEmpty()
    .superRefine((s, ctx) => {
      const p = timezoneProblem(s);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional()
    .meta({ description: "IANA time zone of the schedule, such as Europe/Berlin (default: the machine's)." }),
  // Catch-up of fire times missed while the daemon was not running (daemon/schedule-loop.ts).
  catchup: z.enum(CATCHUP_MODES, { error: (iss) => `must be one of ${CATCHUP_MODES.join(", ")}, got ${typeof iss.input === "string" ? quoted(iss.input) : describe(iss.input)}` }).optional()
    .meta({ description: "Fire times missed while the daemon was not running: none runs nothing, latest the newest once, all each in order. Needs schedule.", default: "none" }),
  catchup_window: str("a duration such as 12h")
    .superRefine((s, ctx) => {
      const p = catchupWindowProblem(s);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional()
    .meta({ description: "How far back catch-up looks: a number and s, m, h or d, at most 7d.", default: "24h" }),
  // For every task, and for ${VAR} in the rest of the file: process env < env_file < env < a task's env.
  env: envMapping().optional()
    .meta({ description: "Variables for every task's environment and for ${VAR} in the rest of the file; they win over env_file, a task's env wins over them." }),
  // KEY=VALUE lines (dotenv style); every value is a secret. Relative to the workflow file.
  env_file: osString("a path").min(1, { error: "must not be empty" }).optional()
    .meta({ description: "File of KEY=VALUE lines (dotenv style), relative to the workflow file; used like env, every value a secret. Owned by you or root, not readable by others." }),
  // Variables whose values are masked everywhere.
  secrets: z.array(envName(), { error: typeError("a list of variable names") }).optional()
    .meta({ description: "Variables whose values are masked as *** everywhere (output, errors, logs, notifications)." }),
  config: z
    .strictObject(
      {
        max_parallel: int(1, 256).optional()
          .meta({ description: "Tasks running at once (within the config file's [execution] max_parallel).", default: 4 }),
        retry_default: int(0, 100).optional()
          .meta({ description: "Retries of tasks that set no retry (default: the config file's [retry] default_count, 3).", default: 3 }),
        timeout_default: int(0, 86400).optional()
          .meta({ description: "Timeout in seconds of tasks that set none, 0 = none (default: the config file's [timeout] default_seconds, 300).", default: 300 }),
        // false: a failure skips only its own dependants; independent tasks still start.
        fail_fast: z.boolean({ error: typeError("true or false") }).optional()
          .meta({ description: "false: a failure skips only its own dependants; independent tasks still start.", default: true }),
      },
      mapping,
    )
    .optional()
    .meta({ description: "Settings for the whole workflow." }),
  tasks: z
    .array(z.unknown(), { error: typeError("a list of tasks") })
    .min(1, { error: "must have at least one task" })
    .meta({ description: "The tasks of the DAG (1 to 1000)." }),
  // Handlers: tasks run after the DAG (checked item by item in load.ts, like tasks).
  on_failure: handlerList().meta({ description: "Handlers run after a run that failed or was interrupted, one at a time." }),
  on_success: handlerList().meta({ description: "Handlers run after a run that succeeded, one at a time." }),
  on_exit: handlerList().meta({ description: "Handlers run after every run, after on_failure or on_success." }),
  notify: notifyOrFalse.optional(),
  healthcheck: nonEmpty().superRefine(checkUrl).optional()
    .meta({ description: "healthchecks.io-style ping URL: URL/start when a run starts, then URL on success or URL/fail." }),
});

export type RawWorkflow = z.infer<typeof workflowSchema>;
export type RawTask = z.infer<typeof taskSchema>;
