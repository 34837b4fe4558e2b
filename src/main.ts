#!/usr/bin/env bun
// Entry point: parse argv, dispatch to a command, and turn any error into one line and an exit code.

import { cac, type CAC, type Command } from "cac";
// Each command's implementation is imported only when it runs (cli/commands.ts).
import { registerCommands } from "./cli/commands.ts";
import type { Settings } from "./config.ts";
import { ConfigError, DatabaseError, exitCodeOf, messageOf, nearest, PicoflowError } from "./errors.ts";
import { versionLine } from "./version.ts";

export { VERSION } from "./version.ts";

function buildCli(): CAC {
  const cli = cac("picoflow");
  cli
    .option("-l, --log-level <level>", "Log level: error, warn, info, debug, trace (default: info)")
    .option("--log-format <format>", "Log format: json, pretty (default: json; pretty on a terminal)")
    .option("--db-path <path>", "Database file path (default: picoflow.db)")
    .option("--config <file>", "Config file (default: ./picoflow.toml, ~/.config/picoflow/config.toml, /etc/picoflow/config.toml)");
  registerCommands(cli);
  cli.help();
  // Not cac's version(): it prints Node's version as the runtime's ("bun-v26.3.0" under Bun 1.4.5).
  cli.option("-V, --version", "Display version number");
  keepText(cli);
  return cli;
}

/** Prefixes a token so mri keeps it as text: a NUL byte, which no real argument can hold. */
const TEXT_MARK = "\0";

/**
 * cac's parser (mri) turns every value that looks like a number into one: `--db-path 007`
 * opened the file `7`, `--db-path ""` the file `0`, `logs --follow 0123` the workflow `123`.
 * Every option value and argument of PicoFlow is text (the commands read numbers themselves,
 * with their own messages), so each token reaches mri marked as text and cac gets it back as
 * typed. "true"/"false" stay unmarked: after a flag mri reads them as its value.
 */
function keepText(cli: CAC): void {
  type Parsed = { args: unknown[]; options: Record<string, unknown> };
  const parser = cli as unknown as { mri(argv: string[], command?: Command): Parsed };
  const mri = parser.mri.bind(cli);
  const mark = (t: string) => {
    if (t === "true" || t === "false") return t;
    if (!t.startsWith("-")) return TEXT_MARK + t;
    const eq = t.indexOf("=");
    return eq > 0 ? `${t.slice(0, eq + 1)}${TEXT_MARK}${t.slice(eq + 1)}` : t;
  };
  const unmark = (v: unknown): unknown => {
    if (typeof v === "string") return v.startsWith(TEXT_MARK) ? v.slice(1) : v;
    if (Array.isArray(v)) return v.map(unmark);
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unmark(x)]));
    return v;
  };
  parser.mri = (argv, command) => {
    const parsed = mri(argv.map(mark), command);
    return { args: parsed.args.map(unmark), options: unmark(parsed.options) as Record<string, unknown> };
  };
}

/** `--db-path` for an option declared as "--db-path <path>" (its long name, as typed). */
function longName(rawName: string): string {
  const names = rawName.replace(/[<[].*$/, "").split(",").map((n) => n.trim());
  return names.find((n) => n.startsWith("--")) ?? names[0]!;
}

const camel = (name: string) => name.replace(/([a-z])-([a-z])/g, (_, a: string, b: string) => a + b.toUpperCase());

/**
 * What cac would report in its own words, or not at all: an unknown option (as typed, with a
 * near miss), a value missing or empty, a missing or extra argument. A repeated option keeps
 * its last value (`--db-path a --db-path b` is b), as in most tools.
 */
function checkArguments(cli: CAC, command: Command, argv: string[]): void {
  const usage = `see 'picoflow ${command.name} --help'`;
  const options = [...cli.globalCommand.options, ...command.options];
  const known = new Set(options.flatMap((o) => o.names));
  for (const token of argv.slice(2)) {
    if (token === "--") break;
    if (!token.startsWith("-") || token === "-") continue;
    const typed = token.split("=")[0]!;
    const names = typed.startsWith("--") ? [typed.slice(2)] : [...typed.slice(1)];
    for (const name of names) {
      if (known.has(camel(name)) || (name.startsWith("no-") && known.has(camel(name.slice(3))))) continue;
      const shown = typed.startsWith("--") ? typed : `-${name}`;
      const near = shown.startsWith("--") ? nearest(shown, options.map((o) => longName(o.rawName))) : undefined;
      throw new ConfigError(`unknown option '${shown}' for '${command.name}' (${near ? `did you mean '${near}'?` : usage})`);
    }
  }
  for (const o of options) {
    if (o.isBoolean) continue;
    let value = cli.options[o.name];
    if (Array.isArray(value)) value = value[value.length - 1];
    if (value === undefined) continue;
    if (value === true && o.required) throw new ConfigError(`${longName(o.rawName)}: a value is required`);
    if (value === "") throw new ConfigError(`${longName(o.rawName)}: must not be empty`);
    for (const n of o.names) cli.options[n] = value;
  }
  const given = cli.args;
  command.args.forEach((arg, i) => {
    if (arg.required && given[i] === undefined) throw new ConfigError(`'${command.name}' needs <${arg.value}> (${usage})`);
  });
  if (!command.args.some((a) => a.variadic) && given.length > command.args.length) {
    throw new ConfigError(`unexpected argument '${given[command.args.length]}' for '${command.name}' (${usage})`);
  }
  if (given.some((a) => a === "")) throw new ConfigError(`an empty argument ('') for '${command.name}' (${usage})`);
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
  const joined = joinNegativeValues(cli, argv);
  try {
    try {
      cli.parse(joined, { run: false });
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
      const near = nearest(String(cli.args[0]), cli.commands.map((c) => c.name));
      throw new ConfigError(`unknown command '${cli.args[0]}' (${near ? `did you mean '${near}'?` : "see 'picoflow --help'"})`);
    }
    checkArguments(cli, cli.matchedCommand, joined);
    try {
      await cli.runMatchedCommand();
    } catch (err) {
      // cac reports bad arguments as plain errors named CACError.
      if (err instanceof Error && err.name === "CACError") throw new ConfigError(err.message);
      throw err;
    }
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // Loaded only now: the settings (and zod, which checks them) are not needed by --version or --help.
    const [context, config] = await Promise.all([import("./cli/context.ts"), import("./config.ts")]);
    printError(err, wantsDebug(argv) || context.debugLogsRequested(), withDbPathSource(err, messageOf(err), context.settingsInUse(), config.describeDbPath));
    return exitCodeOf(err);
  }
}

/** The one place errors are printed. */
function printError(err: unknown, debug: boolean, message: string): void {
  const lines = message.split("\n");
  // Validation reports one problem per line, each already "FILE:LINE:COL: ..."; others get a prefix.
  const text = err instanceof PicoflowError && err.exitCode === 2 ? lines.join("\n") : lines.map((l) => `picoflow: ${l}`).join("\n");
  process.stderr.write(text + "\n");
  if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
}

/**
 * A database error names the path; say where it came from too (flag, environment, config file
 * or the default), so a user who reads "no database here" knows how to point elsewhere.
 */
function withDbPathSource(err: unknown, message: string, s: Settings | null, describeDbPath: (s: Settings) => string): string {
  if (!s || !(err instanceof DatabaseError) || !message.startsWith(`${s.dbPath}: `)) return message;
  return describeDbPath(s) + message.slice(s.dbPath.length);
}

if (import.meta.main) {
  process.exitCode = await main(process.argv);
}
