// `picoflow export --to argo`: the built Workflow (what the loader accepted) and the file as
// written (for where ${VAR} references are) mapped to an Argo Workflows manifest, a
// CronWorkflow for a scheduled workflow, else a Workflow. Pure: no I/O; what does not map is
// returned as findings (errors and warnings with the path they are about), and the Secrets the
// manifest refers to are described, never their values. docs/export.md has the table.

import { basename } from "node:path";
import { MIN_SECRET_LENGTH } from "../secrets.ts";
import { PLACEHOLDERS, fill } from "../workflow/placeholders.ts";
import type { HttpConfig, ShellConfig, SshConfig, Task, Workflow } from "../workflow/types.ts";
import { argoSchedule } from "./cron.ts";
import { dnsLabel, labelsFor, secretKey } from "./names.ts";
import { segmentsOf, variablesOf, type Path, type Segment } from "./source.ts";
import { DEFAULT_EXPORT_IMAGE } from "../cli/commands.ts";

/** Declared with `export --help`, which lists it without loading this module. */
export const DEFAULT_IMAGE = DEFAULT_EXPORT_IMAGE;
/** Our own templates' names; task templates never take them. */
const DAG_TEMPLATE = "main";
const EXIT_TEMPLATE = "exit-handler";
const SSH_VOLUME = "picoflow-ssh";
const SSH_DIR = "/etc/picoflow/ssh";

export interface ExportOptions {
  image: string;
  /** The image of ssh tasks (it needs an ssh client). */
  sshImage: string;
  namespace?: string;
  /** A [notify] target of the config file applies to this workflow on the Pi. */
  configNotify: boolean;
}

/** Something that does not map: an error stops the export, a warning is shown. */
export interface Finding {
  path: Path;
  message: string;
  warning?: boolean;
}

/** A Kubernetes Secret the manifest refers to: each key with how to fill it in (a shell word or a file). */
export interface SecretSpec {
  name: string;
  /** key -> a shell word that gives its value ("$TOKEN"), or "..." where only the user knows it. */
  literals: Map<string, string>;
  /** key -> the file on this machine that holds its value. */
  files: Map<string, string>;
}

export interface ArgoExport {
  manifest: Record<string, unknown>;
  findings: Finding[];
  secrets: SecretSpec[];
  /** The workflow's secret values that the output must never hold (see literalSecrets). */
  secretValues: string[];
}

type Json = Record<string, unknown>;
type Kind = "container" | "http";

export function toArgo(wf: Workflow, raw: Record<string, unknown>, opts: ExportOptions): ArgoExport {
  return new ArgoExporter(wf, raw, opts).run();
}

/** A task with the mapping of it as written in the file. */
interface Located {
  task: Task;
  raw: Json;
  path: Path;
}

class ArgoExporter {
  private readonly findings: Finding[] = [];
  private readonly base: string;
  private readonly envSecret: SecretSpec;
  private readonly sshSecret: SecretSpec;
  private readonly secretNames: Set<string>;
  private readonly secretValues: string[];
  /** The workflow's own `env:` as written. */
  private readonly rawEnv: Record<string, string>;
  private readonly labels: Map<string, string>;
  private readonly cron: boolean;

  constructor(
    private readonly wf: Workflow,
    private readonly raw: Record<string, unknown>,
    private readonly opts: ExportOptions,
  ) {
    this.base = dnsLabel(wf.name, 52) || "workflow";
    this.envSecret = { name: `picoflow-${this.base}`, literals: new Map(), files: new Map() };
    this.sshSecret = { name: `picoflow-${this.base}-ssh`, literals: new Map(), files: new Map() };
    const listed = Array.isArray(raw.secrets) ? raw.secrets.filter((s): s is string => typeof s === "string") : [];
    this.secretNames = new Set(wf.secretNames ?? listed);
    this.secretValues = literalSecrets(wf, raw);
    this.rawEnv = stringMap(raw.env);
    const all = [...wf.tasks, ...(wf.handlers ?? [])].map((t) => t.name);
    this.labels = labelsFor(all, [DAG_TEMPLATE, EXIT_TEMPLATE]);
    this.cron = wf.schedule !== undefined;
  }

  run(): ArgoExport {
    const located = this.locate();
    const templates: Json[] = [this.dagTemplate()];
    if (this.wf.handlers?.length) templates.push(this.exitTemplate());
    for (const l of located) templates.push(this.taskTemplate(l));
    const spec: Json = { entrypoint: DAG_TEMPLATE, parallelism: this.wf.maxParallel, templates };
    if (this.wf.handlers?.length) spec.onExit = EXIT_TEMPLATE;
    if (this.sshSecret.files.size) {
      spec.volumes = [{ name: SSH_VOLUME, secret: { secretName: this.sshSecret.name, defaultMode: 0o400 } }];
    }
    this.workflowLevelFindings();
    const metadata: Json = {};
    if (this.cron) metadata.name = this.base;
    else metadata.generateName = `${this.base}-`;
    if (this.opts.namespace) metadata.namespace = this.opts.namespace;
    if (this.wf.description) metadata.annotations = { "workflows.argoproj.io/description": this.literal(this.wf.description, ["description"]) };
    const manifest: Json = { apiVersion: "argoproj.io/v1alpha1", kind: this.cron ? "CronWorkflow" : "Workflow", metadata };
    manifest.spec = this.cron ? this.cronSpec(spec) : spec;
    const secrets = [this.envSecret, this.sshSecret].filter((s) => s.literals.size || s.files.size);
    return { manifest, findings: this.findings, secrets, secretValues: this.secretValues };
  }

  private error(path: Path, message: string): void {
    this.findings.push({ path, message });
  }

  private warn(path: Path, message: string): void {
    this.findings.push({ path, message, warning: true });
  }

  /** Each built task and handler with its mapping in the file (names are unique across both). */
  private locate(): Located[] {
    const byName = new Map<string, { raw: Json; path: Path }>();
    for (const list of ["tasks", "on_failure", "on_success", "on_exit"]) {
      const items = this.raw[list];
      if (!Array.isArray(items)) continue;
      items.forEach((t, i) => {
        if (t && typeof t === "object" && typeof (t as Json).name === "string") byName.set((t as Json).name as string, { raw: t as Json, path: [list, i] });
      });
    }
    return [...this.wf.tasks, ...(this.wf.handlers ?? [])].map((task) => ({ task, ...(byName.get(task.name) ?? { raw: {}, path: [] }) }));
  }

  private label(name: string): string {
    return this.labels.get(name)!;
  }

  // --- The workflow ---------------------------------------------------------------------------

  private cronSpec(workflowSpec: Json): Json {
    const spec: Json = {};
    const s = argoSchedule(this.wf.schedule!);
    if ("problem" in s) this.error(["schedule"], s.problem);
    else spec.schedules = [s.schedule];
    if (this.wf.timezone) spec.timezone = this.wf.timezone;
    else this.warn(["schedule"], "no timezone: PicoFlow fires in this machine's local time, Argo in its controller's (usually UTC); add timezone: to keep the times");
    // The daemon skips a fire time while the previous run is still going: Forbid does the same.
    spec.concurrencyPolicy = "Forbid";
    const catchup = this.wf.catchup;
    spec.startingDeadlineSeconds = catchup ? Math.round(catchup.windowMs / 1000) : 0;
    if (catchup?.mode === "all") this.warn(["catchup"], "Argo runs one missed fire time (the latest within the window), not all of them");
    spec.workflowSpec = workflowSpec;
    return spec;
  }

  private workflowLevelFindings(): void {
    const wf = this.wf;
    if (wf.notify) this.warn(["notify"], "not exported: Argo Workflows sends no notifications of its own (use an exit handler or Argo Events)");
    else if (wf.notify === undefined && this.opts.configNotify) {
      this.warn([], "runs are reported by [notify] of the config file on this machine; the exported workflow reports nothing (Argo sends no notifications of its own)");
    }
    if (wf.healthcheck) this.warn(["healthcheck"], "not exported: Argo Workflows pings no healthcheck URL (an exit handler with an http template can)");
  }

  private dagTemplate(): Json {
    const tasks = this.wf.tasks.map((t) => {
      const task: Json = { name: this.label(t.name), template: this.label(t.name) };
      if (t.dependsOn.length) task.dependencies = t.dependsOn.map((d) => this.label(d));
      if (t.continueOnFailure) task.continueOn = { failed: true };
      return task;
    });
    const dag: Json = { tasks };
    // PicoFlow's fail_fast: false = Argo's: independent tasks still start after a failure.
    if (this.wf.failFast === false) dag.failFast = false;
    return { name: DAG_TEMPLATE, dag };
  }

  /**
   * Handlers one after another, each by the rule of its list (`when`), a failing one not
   * stopping the rest (continueOn). A dag whose tasks each wait for the one before, rather than
   * `steps`: a skipped task lets the next one run all the same, and the schemas of
   * @kubernetes-models describe `steps` wrongly (as objects, where Argo has lists).
   */
  private exitTemplate(): Json {
    const when: Record<string, string | undefined> = {
      on_failure: "{{workflow.status}} != Succeeded",
      on_success: "{{workflow.status}} == Succeeded",
      on_exit: undefined,
    };
    const tasks = this.wf.handlers!.map((h, i, all) => {
      const task: Json = { name: this.label(h.name), template: this.label(h.name) };
      if (i > 0) task.dependencies = [this.label(all[i - 1]!.name)];
      const w = when[h.handler!];
      if (w) task.when = w;
      task.continueOn = { failed: true };
      return task;
    });
    return { name: EXIT_TEMPLATE, dag: { tasks } };
  }

  // --- Tasks ----------------------------------------------------------------------------------

  private taskTemplate(l: Located): Json {
    const t = l.task;
    const template: Json = { name: this.label(t.name) };
    const rawCfg = (l.raw.config ?? {}) as Json;
    const at = [...l.path, "config"];
    if (t.type === "shell") Object.assign(template, this.shell(t.config, rawCfg, at, t.handler !== undefined));
    else if (t.type === "ssh") Object.assign(template, this.ssh(t.config, rawCfg, at));
    else template.http = this.http(t.config, rawCfg, at, this.label(t.name));
    if (t.retry > 0) {
      // PicoFlow retries any failure, a timeout too; its backoff doubles from 1 s up to 60 s.
      template.retryStrategy = { limit: t.retry, retryPolicy: "Always", backoff: { duration: "1s", factor: 2, cap: "60s" } };
    }
    if (t.timeout > 0) template.activeDeadlineSeconds = t.timeout;
    return template;
  }

  private shell(c: ShellConfig, raw: Json, at: Path, handler: boolean): Json {
    const need = new Set<string>(this.secretNames);
    const main: Json = { name: "main", image: this.opts.image };
    if (c.script !== undefined) {
      // Argo writes `source` to a file and runs `command FILE`: SHELL -e FILE, as PicoFlow runs SHELL -e -c SCRIPT.
      main.command = [this.containerString(raw.shell, c.command, [...at, "shell"], need), "-e"];
      main.source = this.filled(typeof raw.script === "string" ? raw.script : c.script, [...at, "script"], "container");
    } else {
      main.command = [this.containerString(raw.command, c.command, [...at, "command"], need)];
      const rawArgs = Array.isArray(raw.args) ? raw.args : [];
      if (c.args.length) main.args = c.args.map((a, i) => this.containerString(rawArgs[i], a, [...at, "args", i], need));
    }
    if (c.workdir) main.workingDir = this.inline(raw.workdir, c.workdir, [...at, "workdir"], "workdir", "container");
    const env = this.containerEnv(c.env, raw, at, need, handler);
    if (env.length) main.env = env;
    return c.script !== undefined ? { script: main } : { container: main };
  }

  /**
   * A shell task's environment as PicoFlow gives it, in an order Kubernetes can expand: the
   * Secret's variables first (`$(NAME)` in later values refers to them), then the workflow's
   * env, then the run's PICOFLOW_* variables, then the task's own env, which wins.
   */
  private containerEnv(own: Record<string, string>, raw: Json, at: Path, need: Set<string>, handler: boolean): Json[] {
    const rawOwn = stringMap(raw.env);
    const ownEnv = Object.entries(own).map(([k, v]) => ({ name: k, value: this.containerString(rawOwn[k], v, [...at, "env", k], need) }));
    const shared: Json[] = [];
    for (const [k, v] of Object.entries(this.rawEnv)) {
      if (k in own || this.secretNames.has(k)) continue;
      shared.push({ name: k, value: this.containerString(v, v, ["env", k], need, false) });
    }
    const run = [{ name: "PICOFLOW_RUN_ID", value: "{{workflow.name}}" }];
    if (handler) {
      run.push(
        { name: "PICOFLOW_WORKFLOW", value: this.wf.name },
        { name: "PICOFLOW_EXECUTION_ID", value: "{{workflow.name}}" },
        { name: "PICOFLOW_STATUS", value: "{{workflow.status}}" },
        { name: "PICOFLOW_FAILED_TASKS", value: "{{workflow.failures}}" },
      );
    }
    const fromSecret = [...need].filter((n) => !(n in own) && !shared.some((s) => s.name === n)).map((n) => this.secretEnv(n));
    return [...fromSecret, ...shared, ...run.filter((r) => !(r.name in own)), ...ownEnv];
  }

  private secretEnv(name: string): Json {
    if (!this.envSecret.literals.has(name)) this.envSecret.literals.set(name, `"$${name}"`);
    return { name, valueFrom: { secretKeyRef: { name: this.envSecret.name, key: name } } };
  }

  private ssh(c: SshConfig, raw: Json, at: Path): Json {
    const need = new Set<string>();
    if (this.opts.sshImage === DEFAULT_IMAGE && !this.sshSecret.files.size) {
      this.warn(at.slice(0, -1), `${DEFAULT_IMAGE} has no ssh client: pass --ssh-image with an image that has one (openssh-client)`);
    }
    const key = this.sshKey(c.keyPath);
    if (!this.sshSecret.files.has("known_hosts")) this.sshSecret.files.set("known_hosts", "$HOME/.ssh/known_hosts");
    const user = this.containerString(raw.user, c.user, [...at, "user"], need);
    const host = this.containerString(raw.host, c.host, [...at, "host"], need);
    const args = [
      "-i", `${SSH_DIR}/${key}`,
      "-p", String(c.port),
      "-o", "BatchMode=yes",
      "-o", `ConnectTimeout=${c.timeout}`,
      // Host keys are verified, as PicoFlow does, against the known_hosts in the Secret.
      "-o", "StrictHostKeyChecking=yes",
      "-o", `UserKnownHostsFile=${SSH_DIR}/known_hosts`,
      "--", `${user}@${host}`,
      this.containerString(raw.command, c.command, [...at, "command"], need),
    ];
    const main: Json = { name: "main", image: this.opts.sshImage, command: ["ssh"], args };
    if (need.size) main.env = [...need].map((n) => this.secretEnv(n));
    main.volumeMounts = [{ name: SSH_VOLUME, mountPath: SSH_DIR, readOnly: true }];
    return { container: main };
  }

  /** The Secret key that holds the private key at `keyPath` (one key per file). */
  private sshKey(keyPath: string): string {
    for (const [k, p] of this.sshSecret.files) if (p === keyPath) return k;
    const stem = secretKey(basename(keyPath)) || "key";
    let k = stem === "known_hosts" ? "key" : stem;
    for (let i = 2; this.sshSecret.files.has(k); i++) k = `${stem}-${i}`;
    this.sshSecret.files.set(k, keyPath);
    return k;
  }

  private http(c: HttpConfig, raw: Json, at: Path, label: string): Json {
    const http: Json = { method: c.method, url: this.inline(raw.url, c.url, [...at, "url"], "an http template's url", "http") };
    const rawHeaders = stringMap(raw.headers);
    const headers: Json[] = [];
    for (const [name, value] of Object.entries(c.headers)) {
      const r = rawHeaders[name] ?? value;
      const parts = segmentsOf(r);
      const only = parts.length === 1 && "variable" in parts[0]! ? parts[0].variable : undefined;
      // A header that is one variable is that variable's key; a header made of parts gets a key of its own.
      if (only) headers.push(this.secretHeader(name, only, `"$${only}"`));
      else if (variablesOf(r).length || this.holdsSecret(value)) {
        headers.push(this.secretHeader(name, `${label}.${name.toLowerCase()}`, shellWord(parts, this.secretValues)));
      } else headers.push({ name, value: this.filled(value, [...at, "headers", name], "http") });
    }
    if (c.auth) {
      const rawAuth = (raw.auth ?? {}) as Json;
      const user = shellWord(segmentsOf(String(rawAuth.username ?? c.auth.username)), this.secretValues);
      const password = shellWord(segmentsOf(String(rawAuth.password ?? c.auth.password)), this.secretValues);
      headers.push(this.secretHeader("Authorization", `${label}.authorization`, `"Basic $(printf '%s:%s' ${user} ${password} | base64 | tr -d '\\n')"`));
    }
    if (c.body !== undefined) {
      http.body = this.inline(raw.body, JSON.stringify(c.body), [...at, "body"], "an http template's body", "http");
      if (!Object.keys(c.headers).some((h) => h.toLowerCase() === "content-type")) headers.push({ name: "Content-Type", value: "application/json" });
    }
    if (headers.length) http.headers = headers;
    http.timeoutSeconds = c.timeout;
    http.successCondition = this.successCondition(c, at);
    if (c.insecure) http.insecureSkipVerify = true;
    if (c.caCert) {
      this.warn([...at, "ca_cert"], "not exported: Argo's http template cannot trust a CA of its own; the CA must be in the trust store of the Argo agent's image");
    }
    return http;
  }

  private secretHeader(name: string, key: string, hint: string): Json {
    const k = secretKey(key);
    this.envSecret.literals.set(k, hint);
    return { name, valueFrom: { secretKeyRef: { name: this.envSecret.name, key: k } } };
  }

  /** expect_status and expect_body as an expression of Argo's (expr): `matches` is a regular expression match. */
  private successCondition(c: HttpConfig, at: Path): string {
    const status = c.expectStatus
      ? c.expectStatus.map((s) => `response.statusCode == ${s}`).join(" || ")
      : "response.statusCode >= 200 && response.statusCode < 300";
    if (c.expectBody === undefined) return status;
    if (this.holdsSecret(c.expectBody)) this.error([...at, "expect_body"], "holds a secret value, and an Argo expression cannot refer to a Secret");
    if (/\(\?<?[=!]|\\[1-9]|\\k</.test(c.expectBody)) {
      this.warn([...at, "expect_body"], "Argo matches with Go's regular expressions (RE2), which have no lookaround or backreferences: this one will not compile there");
    }
    // A JSON string is a valid string literal of expr, with the same escapes.
    return `(${status}) && response.body matches ${JSON.stringify(c.expectBody)}`;
  }

  // --- Strings --------------------------------------------------------------------------------

  private holdsSecret(s: string): boolean {
    return this.secretValues.some((v) => s.includes(v));
  }

  /** A literal string of the file, written into the manifest: it must hold no secret value. */
  private literal(s: string, path: Path): string {
    if (this.holdsSecret(s)) this.error(path, "holds a secret value, which the manifest must not contain; write it as ${VAR} (it then comes from a Kubernetes Secret)");
    return s;
  }

  /**
   * A command, argument or environment value: Kubernetes expands `$(NAME)` there from the
   * container's environment, so each ${VAR} becomes `$(VAR)` with VAR from the Secret (added
   * to `need`), and a literal `$` is written `$$`. A variable of the workflow's own `env:` (not
   * a secret) is its value as written.
   */
  private containerString(raw: unknown, built: string, path: Path, need: Set<string>, envLookup = true): string {
    if (typeof raw !== "string") return escapeDollars(this.filled(this.literal(built, path), path, "container"));
    let out = "";
    for (const part of segmentsOf(raw)) {
      if ("text" in part) {
        out += escapeDollars(this.filled(this.literal(part.text, path), path, "container"));
        continue;
      }
      const v = part.variable;
      if (envLookup && v in this.rawEnv && !this.secretNames.has(v)) {
        out += this.containerString(this.rawEnv[v], this.rawEnv[v]!, ["env", v], need, false);
        continue;
      }
      if (part.hasDefault) this.warn(path, `the default of \${${v}} is not exported: the value comes from the Secret ${this.envSecret.name}, which must have ${v}`);
      need.add(v);
      this.secretEnv(v);
      out += `$(${v})`;
    }
    return out;
  }

  /**
   * A value Argo has no Secret reference for (a URL, a body, a workdir): its value as loaded
   * now, unless that holds a secret, which is an error.
   */
  private inline(raw: unknown, built: string, path: Path, what: string, kind: Kind): string {
    const vars = typeof raw === "string" ? variablesOf(raw) : typeof raw === "object" && raw !== null ? variablesOf(JSON.stringify(raw)) : [];
    const secretVars = vars.filter((v) => this.secretNames.has(v));
    if (secretVars.length || this.holdsSecret(built)) {
      this.error(path, `${what} cannot refer to a Kubernetes Secret, and this value holds a secret${secretVars.length ? ` (\${${secretVars[0]}})` : ""}`);
      return "";
    }
    const fromOutside = vars.filter((v) => !(v in this.rawEnv));
    if (fromOutside.length) {
      const names = fromOutside.map((v) => `\${${v}}`).join(", ");
      this.warn(path, `${names} written as ${fromOutside.length > 1 ? "their values" : "its value"} on this machine now: ${what} cannot refer to a Kubernetes Secret`);
    }
    return this.filled(built, path, kind);
  }

  /** Run-time placeholders as Argo's variables (docs/export.md); warnings where they differ. */
  private filled(s: string, path: Path, kind: Kind): string {
    if (!s.includes("{{")) return s;
    const used = new Set([...s.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g)].map((m) => m[1]!).filter((n) => n in PLACEHOLDERS));
    const values: Record<string, string> = {
      "workflow.name": this.wf.name,
      "run.id": "{{workflow.name}}",
      "run.trigger": this.cron ? "schedule" : "manual",
      "run.started_at": "{{workflow.creationTimestamp}}",
      "run.host": kind === "container" ? "{{pod.name}}" : "",
      "run.status": "{{workflow.status}}",
      "run.duration_seconds": "{{workflow.duration}}",
      "run.failed_tasks": "{{workflow.failures}}",
    };
    const notes: Record<string, string> = {
      "run.trigger": `{{ run.trigger }} is always '${values["run.trigger"]}': Argo has no such variable`,
      "run.host": kind === "container" ? "{{ run.host }} becomes the pod's name ({{pod.name}}): Argo has no host" : "{{ run.host }} becomes '': an Argo http template has no host or pod",
      "run.status": "{{ run.status }} becomes {{workflow.status}}: Succeeded, Failed or Error, not success or failed",
      "run.failed_tasks": "{{ run.failed_tasks }} becomes {{workflow.failures}}: a JSON list of the failed nodes, not names separated by commas",
    };
    for (const n of used) if (notes[n]) this.warn(path, notes[n]);
    const rest = s.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (m, n: string) => (n in PLACEHOLDERS ? "" : m));
    if (rest.includes("{{")) this.warn(path, "Argo reads {{...}} as its own variables: this literal {{ may be replaced or refused there");
    return fill(s, values);
  }
}

/**
 * The workflow's secret values (long enough to mask), less one case: a credential header whose
 * ${VAR} is unset here ("Bearer ${TOKEN}" loaded as "Bearer ") counts as secret for the loader,
 * but that value is only the file's own text around the variable, which the export writes.
 */
function literalSecrets(wf: Workflow, raw: Record<string, unknown>): string[] {
  const templates = new Set<string>();
  for (const list of ["tasks", "on_failure", "on_success", "on_exit"]) {
    const items = raw[list];
    if (!Array.isArray(items)) continue;
    for (const t of items) {
      const headers = stringMap(((t as Json | null)?.config as Json | undefined)?.headers);
      for (const v of Object.values(headers)) {
        const parts = segmentsOf(v);
        if (!parts.some((p) => "variable" in p)) continue;
        const text = parts.map((p) => ("text" in p ? p.text : "")).join("");
        templates.add(text).add(text.trim());
      }
    }
  }
  return (wf.secrets ?? []).filter((s) => s.length >= MIN_SECRET_LENGTH && !templates.has(s) && !templates.has(s.trim()));
}

function stringMap(v: unknown): Record<string, string> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/** Kubernetes reads `$$` as `$` in commands, arguments and env values: every literal `$` is doubled. */
function escapeDollars(s: string): string {
  return s.replaceAll("$", () => "$$");
}

/**
 * A double-quoted shell word for `kubectl create secret ... --from-literal=KEY=WORD` that
 * rebuilds a value from the user's environment: `"Bearer ${REPORT_TOKEN}"`. A literal part that
 * holds a secret is written `...`, for the user to fill in: its value is never printed.
 */
export function shellWord(parts: Segment[], secrets: readonly string[]): string {
  let out = "";
  for (const p of parts) {
    if ("variable" in p) out += `\${${p.variable}}`;
    else if (secrets.some((s) => p.text.includes(s))) out += "...";
    else out += p.text.replace(/[\\"$`]/g, (c) => `\\${c}`);
  }
  return `"${out}"`;
}
