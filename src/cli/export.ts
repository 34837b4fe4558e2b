// `picoflow export FILE --to argo`: the workflow as an Argo Workflows manifest on stdout (a
// CronWorkflow when it has a schedule, else a Workflow), for a fleet that outgrows one Pi.
// The file is loaded as `validate` loads it (same errors, exit codes and warnings); what does
// not map is an error (exit 2) or a warning, `FILE:LINE:COL: [warning: ]path: message`, on
// stderr; so are the kubectl commands that create the Secrets the manifest refers to.

import { stringify } from "yaml";
import { ConfigError, nearest, PicoflowError, ValidationError } from "../errors.ts";
import { DEFAULT_IMAGE, toArgo, type ArgoExport, type Finding, type SecretSpec } from "../export/argo.ts";
import { readRawSource, type Path, type RawSource } from "../export/source.ts";
import { parseWorkflow, readWorkflowText } from "../workflow/load.ts";
import { bare, renderProblem } from "../workflow/message.ts";
import type { Workflow } from "../workflow/types.ts";
import { createContext, loadOptions, type GlobalOptions } from "./context.ts";
import { textOption } from "./read.ts";

const TARGETS = ["argo"] as const;
const FORMATS = ["yaml", "json"] as const;

export interface ExportOptions extends GlobalOptions {
  to?: unknown;
  image?: unknown;
  sshImage?: unknown;
  namespace?: unknown;
  format?: unknown;
}

function choice<T extends string>(value: unknown, flag: string, choices: readonly T[], fallback?: T): T {
  const v = textOption(value, flag);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${flag} is required: the engine to export to (${choices.join(", ")})`);
  }
  const c = v.toLowerCase();
  if ((choices as readonly string[]).includes(c)) return c as T;
  const near = nearest(c, choices);
  throw new ConfigError(`${flag}: '${v}' is not one of ${choices.join(", ")}${near ? ` (did you mean '${near}'?)` : ""}`);
}

/** A Kubernetes namespace is a DNS-1123 label. */
function namespaceOption(value: unknown): string | undefined {
  const ns = textOption(value, "--namespace");
  if (ns !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) {
    throw new ConfigError(`--namespace: '${ns}' is not a Kubernetes namespace (lowercase letters, digits and '-', at most 63)`);
  }
  return ns;
}

export function exportCommand(file: string, opts: ExportOptions): void {
  // The options first: a typo in them is reported without loading the file.
  choice(opts.to, "--to", TARGETS);
  const format = choice(opts.format, "--format", FORMATS, "yaml");
  const image = textOption(opts.image, "--image") ?? DEFAULT_IMAGE;
  const sshImage = textOption(opts.sshImage, "--ssh-image") ?? image;
  const namespace = namespaceOption(opts.namespace);
  const ctx = createContext(opts);
  // One read: what is validated is what is mapped.
  const text = readWorkflowText(file);
  const wf = parseWorkflow(text, file, loadOptions(ctx));
  const source = readRawSource(text, file);
  const result = toArgo(wf, source.data, { image, sshImage, namespace, configNotify: ctx.settings.notify.target !== null });
  const secrets = result.secretValues;
  const lines = findingLines(result.findings, source, secrets);
  const errors = lines.filter((l) => !l.warning).map((l) => l.text);
  const warnings = [...(wf.warnings ?? []), ...lines.filter((l) => l.warning).map((l) => l.text)];
  if (errors.length) {
    process.stderr.write(warnings.map((w) => `${w}\n`).join(""));
    throw new ValidationError(errors);
  }
  const out = format === "json" ? `${JSON.stringify(result.manifest, null, 2)}\n` : stringify(result.manifest, { lineWidth: 0 });
  const err = warnings.map((w) => `${w}\n`).join("") + secretCommands(result, wf, namespace);
  // The mapping writes no secret value by construction; this is the last line of defence.
  if (secrets.some((s) => out.includes(s) || err.includes(s))) {
    throw new PicoflowError("the manifest would hold a secret value; nothing was written (please report this)");
  }
  process.stderr.write(err);
  ctx.out(out);
}

/** Findings as `FILE:LINE:COL: [warning: ]path: message` lines, in file order, masked. */
function findingLines(findings: Finding[], source: RawSource, secrets: string[]): { text: string; warning: boolean }[] {
  return findings
    .map((f) => ({ f, where: source.where(f.path) }))
    .map(({ f, where }) => ({
      warning: f.warning === true,
      text: renderProblem(`${where}: ${f.warning ? "warning: " : ""}${formatPath(f.path)}: ${f.message}`, secrets),
      pos: where.split(":").slice(-2).map(Number),
    }))
    .sort((a, b) => a.pos[0]! - b.pos[0]! || a.pos[1]! - b.pos[1]!)
    .map(({ text, warning }) => ({ text, warning }));
}

function formatPath(path: Path): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s ? `.${bare(p)}` : bare(p);
  return s || "(top level)";
}

/**
 * The kubectl commands that create the Secrets, values taken from the user's shell (`"$TOKEN"`)
 * or files on this machine: the values are never printed. With an env_file, its variables are
 * read from it first, in a subshell.
 */
function secretCommands(result: ArgoExport, wf: Workflow, namespace: string | undefined): string {
  if (!result.secrets.length) return "";
  const ns = namespace ? ` -n ${namespace}` : "";
  let text = "picoflow: the manifest refers to Kubernetes Secrets; create them before you submit it:\n";
  for (const s of result.secrets) text += `  ${commandFor(s, ns, s.literals.size && wf.envFile ? wf.envFile : undefined)}\n`;
  return text;
}

function commandFor(s: SecretSpec, ns: string, envFile: string | undefined): string {
  const parts = [`kubectl create secret generic ${s.name}${ns}`];
  for (const [key, word] of s.literals) parts.push(`--from-literal=${key}=${word}`);
  for (const [key, path] of s.files) parts.push(`--from-file=${key}=${path.startsWith("$HOME/") ? `"${path}"` : shellQuote(path)}`);
  const cmd = parts.join(" ");
  return envFile ? `(set -a; . ${shellQuote(envFile)}; ${cmd})` : cmd;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./~:=-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
