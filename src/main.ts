#!/usr/bin/env bun
// Entry point: parse argv, dispatch to a command, and turn any error into one line and an exit code.

import { cac, type CAC } from "cac";
import pkg from "../package.json" with { type: "json" };
import { registerRun } from "./cli/run.ts";
import { registerValidate } from "./cli/validate.ts";
import { registerStatus } from "./cli/status.ts";
import { registerHistory } from "./cli/history.ts";
import { registerStats } from "./cli/stats.ts";
import { registerLogs } from "./cli/logs.ts";
import { registerWorkflow } from "./cli/workflow.ts";
import { registerDaemon } from "./cli/daemon.ts";
import { debugLogsRequested } from "./cli/context.ts";
import { ConfigError, exitCodeOf, messageOf, PicoflowError } from "./errors.ts";

export const VERSION: string = pkg.version;

function buildCli(): CAC {
  const cli = cac("picoflow");
  cli
    .option("-l, --log-level <level>", "Log level: error, warn, info, debug, trace (default: info)")
    .option("--log-format <format>", "Log format: json, pretty (default: json; pretty on a terminal)")
    .option("--db-path <path>", "Database file path (default: picoflow.db)")
    .option("--config <file>", "Config file (default: ./picoflow.toml, ~/.config/picoflow/config.toml, /etc/picoflow/config.toml)");
  registerRun(cli);
  registerValidate(cli);
  registerStatus(cli);
  registerHistory(cli);
  registerStats(cli);
  registerLogs(cli);
  registerWorkflow(cli);
  registerDaemon(cli);
  cli.help();
  // Not cac's version(): it prints Node's version as the runtime's ("bun-v26.3.0" under Bun 1.4.5).
  cli.option("-V, --version", "Display version number");
  return cli;
}

/** `picoflow 0.1.0 (linux-arm64, Bun 1.4.5)`. */
function versionLine(): string {
  return `picoflow ${VERSION} (${process.platform}-${process.arch}, Bun ${Bun.version})\n`;
}

/** Stack traces only when the user asked for debug logs (checked here too: the settings may be what failed). */
function wantsDebug(argv: string[]): boolean {
  const level = process.env.PICOFLOW_LOG_LEVEL ?? "";
  const i = argv.findIndex((a) => a === "-l" || a === "--log-level");
  const flag = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith("--log-level="))?.split("=")[1];
  return /^(debug|trace)$/i.test(flag ?? level);
}

/**
 * `--limit -1` would reach cac as an unknown option "-1". Join a negative number to the
 * value-taking option before it (`--limit=-1`), so the option's own check explains the value.
 */
function joinNegativeValues(cli: CAC, argv: string[]): string[] {
  const valued = new Set<string>();
  for (const c of [cli.globalCommand, ...cli.commands]) {
    for (const o of c.options) if (!o.isBoolean) for (const n of o.rawName.split(/[ ,]+/)) if (n.startsWith("-")) valued.add(n);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (valued.has(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const cli = buildCli();
  try {
    try {
      cli.parse(joinNegativeValues(cli, argv), { run: false });
    } catch (err) {
      throw new ConfigError(messageOf(err));
    }
    if (cli.options.help) return 0;
    if (cli.options.version) {
      process.stdout.write(versionLine());
      return 0;
    }
    if (!cli.matchedCommand) {
      if (cli.args.length === 0) {
        // Only options, no command: `picoflow --db-path status` took "status" as the path.
        if (argv.length > 2) throw new ConfigError("no command given (see 'picoflow --help')");
        cli.outputHelp();
        return 0;
      }
      throw new ConfigError(`unknown command '${cli.args[0]}' (see 'picoflow --help')`);
    }
    try {
      await cli.runMatchedCommand();
    } catch (err) {
      // cac reports bad arguments as plain errors named CACError.
      if (err instanceof Error && err.name === "CACError") throw new ConfigError(err.message);
      throw err;
    }
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    printError(err, wantsDebug(argv) || debugLogsRequested());
    return exitCodeOf(err);
  }
}

/** The one place errors are printed. */
function printError(err: unknown, debug: boolean): void {
  const lines = messageOf(err).split("\n");
  // Validation reports one problem per line, each already "FILE:LINE:COL: ..."; others get a prefix.
  const text = err instanceof PicoflowError && err.exitCode === 2 ? lines.join("\n") : `picoflow: ${lines.join("\n")}`;
  process.stderr.write(text + "\n");
  if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
}

if (import.meta.main) {
  process.exitCode = await main(process.argv);
}
