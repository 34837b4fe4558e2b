// The zod schema mirrors the workflow YAML exactly (spec: "Workflow YAML Schema" and
// "Task Configuration Schemas"); unknown keys are rejected. build() in load.ts applies defaults.

import { z } from "zod";
import { cronProblem } from "./cron.ts";
import { quoted } from "./message.ts";
import { CATCHUP_MODES, HTTP_METHODS, MAX_CATCHUP_WINDOW_MS, NAME_PATTERN, NOTIFY_EVENTS, NOTIFY_FORMATS, TASK_TYPES, type TaskType } from "./types.ts";

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
  command: argString().min(1, { error: "must not be empty" }).optional(),
  args: z.array(argString("a string (quote numbers and booleans)"), { error: typeError("a list of strings") }).optional(),
  // An inline script, run as `SHELL -e -c SCRIPT` (stops at the first failing command).
  script: argString().refine((s) => s.trim() !== "", { error: "must not be empty" }).optional(),
  shell: osString().min(1, { error: "must not be empty" }).optional(),
  workdir: absolutePath("workdir").optional(),
  env: envMapping().optional(),
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
    }),
  port: int(1, 65535).optional(),
  user: nonEmpty().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, { error: "must be a valid Unix user name" }),
  command: argString().min(1, { error: "must not be empty" }),
  key_path: osString()
    .min(1, { error: "must not be empty" })
    .refine((p) => p.startsWith("/") || p === "~" || p.startsWith("~/"), {
      error: "key_path must be an absolute path or start with ~/",
    })
    .optional(),
  timeout: int(1, 3600).optional(),
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
  url: nonEmpty().superRefine(checkUrl),
  method: str().refine((m) => (HTTP_METHODS as readonly string[]).includes(m.toUpperCase()), {
    error: `must be one of ${HTTP_METHODS.join(", ")} (any case)`,
  }),
  headers: z
    .record(
      str().regex(HEADER_NAME, { error: "not a valid HTTP header name" }),
      str("a string (quote numbers and booleans)").refine((v) => !/[\r\n\0]/.test(v), {
        error: "header values must not contain line breaks or NUL bytes",
      }),
      mapping,
    )
    .optional(),
  body: z
    .union([z.record(z.string(), z.unknown()), z.array(z.unknown())], { error: typeError("a mapping or a list (sent as JSON)") })
    .optional(),
  timeout: int(1, 3600).optional(),
  // What counts as success: these statuses (default: any 2xx), and a body matching this regex.
  expect_status: z
    .union([int(100, 599), z.array(int(100, 599), { error: typeError("a status or a list of statuses") }).min(1, { error: "must not be empty" })], {
      error: typeError("a status or a list of statuses"),
    })
    .optional(),
  expect_body: str("a regular expression")
    .superRefine((re, ctx) => {
      const p = regexProblem(re);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional(),
  // TLS: trust this CA (PEM), or skip verification altogether.
  ca_cert: absolutePath("ca_cert").optional(),
  insecure: z.boolean({ error: typeError("true or false") }).optional(),
  // Basic auth; the password is a secret.
  auth: z
    .strictObject({ username: nonEmpty().refine((u) => !u.includes(":"), { error: "must not contain ':'" }), password: str() }, mapping)
    .optional(),
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
  name: name(),
  type: z.enum(TASK_TYPES, { error: (iss) => (iss.input === undefined ? "required" : `must be one of ${TASK_TYPES.join(", ")}`) }),
  depends_on: z.array(str(), { error: typeError("a list of task names") }).optional(),
  // Checked against the schema of the task's type in load.ts, so its errors carry the right path.
  config: z.unknown().refine((v) => v !== undefined, { error: "required" }),
  retry: int(0, 100).optional(),
  timeout: int(0, 86400).optional(),
  continue_on_failure: z.boolean({ error: typeError("true or false") }).optional(),
}, mapping);

/** A handler list (on_failure, on_success, on_exit): its items are checked like tasks in load.ts. */
function handlerList() {
  return z.array(z.unknown(), { error: typeError("a list of tasks") }).optional();
}

/** A workflow's `notify:` block: the keys of the config's [notify] target (docs/notifications.md). */
export const notifySchema = z.strictObject({
  url: nonEmpty().superRefine(checkUrl),
  format: z.enum(NOTIFY_FORMATS, { error: (iss) => (iss.input === undefined ? "required" : `must be one of ${NOTIFY_FORMATS.join(", ")}`) }).optional(),
  on: z
    .array(z.enum(NOTIFY_EVENTS, { error: `must be one of ${NOTIFY_EVENTS.join(", ")}` }), { error: typeError("a list of events") })
    .min(1, { error: "must not be empty (write notify: false to send nothing)" })
    .optional(),
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
});

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
  name: name(),
  description: str().max(256, { error: "must be at most 256 characters" }).optional(),
  schedule: nonEmpty()
    .superRefine((s, ctx) => {
      const p = cronProblem(s);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional(),
  timezone: nonEmpty()
    .superRefine((s, ctx) => {
      const p = timezoneProblem(s);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional(),
  // Catch-up of fire times missed while the daemon was not running (daemon/schedule-loop.ts).
  catchup: z.enum(CATCHUP_MODES, { error: (iss) => `must be one of ${CATCHUP_MODES.join(", ")}, got ${typeof iss.input === "string" ? quoted(iss.input) : describe(iss.input)}` }).optional(),
  catchup_window: str("a duration such as 12h")
    .superRefine((s, ctx) => {
      const p = catchupWindowProblem(s);
      if (p) ctx.addIssue({ code: "custom", message: p });
    })
    .optional(),
  // For every task, and for ${VAR} in the rest of the file: process env < env_file < env < a task's env.
  env: envMapping().optional(),
  // KEY=VALUE lines (dotenv style); every value is a secret. Relative to the workflow file.
  env_file: osString("a path").min(1, { error: "must not be empty" }).optional(),
  // Variables whose values are masked everywhere.
  secrets: z.array(envName(), { error: typeError("a list of variable names") }).optional(),
  config: z
    .strictObject(
      {
        max_parallel: int(1, 256).optional(),
        retry_default: int(0, 100).optional(),
        timeout_default: int(0, 86400).optional(),
        // false: a failure skips only its own dependants; independent tasks still start.
        fail_fast: z.boolean({ error: typeError("true or false") }).optional(),
      },
      mapping,
    )
    .optional(),
  tasks: z
    .array(z.unknown(), { error: typeError("a list of tasks") })
    .min(1, { error: "must have at least one task" }),
  // Handlers: tasks run after the DAG (checked item by item in load.ts, like tasks).
  on_failure: handlerList(),
  on_success: handlerList(),
  on_exit: handlerList(),
  notify: notifyOrFalse.optional(),
  healthcheck: nonEmpty().superRefine(checkUrl).optional(),
});

export type RawWorkflow = z.infer<typeof workflowSchema>;
export type RawTask = z.infer<typeof taskSchema>;
