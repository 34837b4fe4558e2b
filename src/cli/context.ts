// What every command gets: resolved settings, a logger, and where to write its answer.

import { homedir } from "node:os";
import { defaultResolveInput, resolveSettings, type FlagValues, type Settings } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";
import type { LoadOptions } from "../workflow/load.ts";
import type { Workflow } from "../workflow/types.ts";

export interface CliContext {
  settings: Settings;
  log: Logger;
  /** The environment: for ${VAR} expansion and what tasks inherit. */
  env: Record<string, string | undefined>;
  /** Write the command's answer (stdout). */
  out: (text: string) => void;
  /** stdout is a terminal: colour and local niceties allowed. */
  tty: boolean;
}

/** Global options as cac hands them to every action. */
export interface GlobalOptions {
  logLevel?: string;
  logFormat?: string;
  dbPath?: string;
  config?: string;
}

let stdoutClosed = false;
let guarded = false;

/**
 * Write the answer to stdout. If the reader went away (`picoflow history | head -1`), stop
 * writing quietly: a closed pipe must not turn a finished run into a crash.
 */
function writeOut(text: string): void {
  if (!guarded) {
    guarded = true;
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") stdoutClosed = true;
    });
  }
  if (!stdoutClosed) process.stdout.write(text);
}

let debugLogs = false;
let inUse: Settings | null = null;

/** Whether the settings of this command (flag, env or config file) ask for debug logs. */
export function debugLogsRequested(): boolean {
  return debugLogs;
}

/** The settings this command resolved, if it got that far (main.ts: where the database path came from). */
export function settingsInUse(): Settings | null {
  return inUse;
}

export function createContext(opts: GlobalOptions): CliContext {
  const flags: FlagValues = {
    logLevel: opts.logLevel === undefined ? undefined : String(opts.logLevel),
    logFormat: opts.logFormat === undefined ? undefined : String(opts.logFormat),
    dbPath: opts.dbPath === undefined ? undefined : String(opts.dbPath),
    config: opts.config === undefined ? undefined : String(opts.config),
  };
  const settings = resolveSettings(defaultResolveInput(flags));
  inUse = settings;
  debugLogs = settings.logLevel === "debug" || settings.logLevel === "trace";
  const format = settings.logFormat ?? (process.stderr.isTTY ? "pretty" : "json");
  return {
    settings,
    log: createLogger(settings.logLevel, format),
    env: process.env,
    out: writeOut,
    tty: Boolean(process.stdout.isTTY),
  };
}

export function loadOptions(ctx: CliContext): LoadOptions {
  return {
    env: ctx.env,
    home: homedir(),
    defaultRetry: ctx.settings.retry.defaultCount,
    defaultTimeout: ctx.settings.timeout.defaultSeconds,
    maxTimeout: ctx.settings.timeout.maxSeconds,
  };
}

/** The loader's warnings, one `FILE:LINE:COL: warning: ...` line each, on stderr (as errors are). */
export function printLoadWarnings(wf: Workflow): void {
  if (wf.warnings?.length) process.stderr.write(wf.warnings.map((w) => `${w}\n`).join(""));
}
