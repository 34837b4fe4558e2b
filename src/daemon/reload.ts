// Loading the daemon's workflow files and settings: at start (invalid files left out and
// reported; the start refused when none is valid, or with --strict when any is invalid) and
// on SIGHUP or `daemon reload`, which read the config file and the workflow files again. A
// file that turns invalid keeps its last good version scheduled; one that is gone is
// unscheduled. A reload reports what became of each file (FileResult) for `daemon reload`.

import type { Settings } from "../config.ts";
import { messageOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { SqliteRecorder } from "../store/recorder.ts";
import type { LoadOptions } from "../workflow/load.ts";
import type { Workflow } from "../workflow/types.ts";
import type { DaemonDatabase } from "./db-guard.ts";
import { applicableSettings, compareSettings, type SwitchableLogger } from "./live-settings.ts";
import { describe, newEntry, type Entry, type ScheduleLoop } from "./schedule-loop.ts";
import { expandArguments } from "./sources.ts";
import { loadFiles, startRefusal, type InvalidFile } from "./workflow-files.ts";

/** The workflows loaded (by file) and the files that failed the last load (start or reload). */
export interface Loaded {
  entries: Map<string, Entry>;
  invalid: InvalidFile[];
}

/**
 * What a reload did to one file, for `daemon reload`: loaded (new or changed), unchanged,
 * removed (gone, or no longer matched), or invalid (a loaded workflow keeps its last good
 * version); `messages` are its problems or the loader's warnings.
 */
export interface FileResult {
  file: string;
  workflow: string | null;
  result: "loaded" | "unchanged" | "removed" | "invalid";
  messages: string[];
}

/** What a reload did: the config file (its error, if broken) and each workflow file. */
export interface ReloadReport {
  config: { file: string | null; error: string | null; restart_needed: string[] };
  files: FileResult[];
}

/** Where the workflow files come from, as `daemon start` was given them. */
export interface FileArguments {
  /** Workflow arguments as given: files, directories or unexpanded patterns. */
  args: string[];
  cwd: string;
  /** How workflow files are loaded under these settings (their retry and timeout defaults). */
  loadOptionsFor: (s: Settings) => LoadOptions;
}

/**
 * Load every file given at start. Invalid files are left out (the daemon logs and reports
 * them); the start is refused before anything runs (exit 2, or 5 for unreadable files) when
 * no file is valid, or with --strict when any file is invalid.
 */
export function loadAtStart(o: FileArguments & { settings: Settings; strict: boolean }, log: Logger): Loaded {
  const exp = expandArguments(o.args, o.cwd);
  for (const a of exp.empty) log.warn("no workflow files match", { argument: a });
  const outcomes = loadFiles(exp.files, o.loadOptionsFor(o.settings), new Map());
  const refusal = startRefusal(outcomes, o.strict);
  if (refusal) throw refusal;
  const entries = new Map<string, Entry>();
  const invalid: InvalidFile[] = [];
  for (const x of outcomes) {
    if (x.wf) entries.set(x.file, newEntry(x.file, x.wf));
    else invalid.push(x);
    if (x.wf) logWarnings(log, x.file, x.wf);
  }
  return { entries, invalid };
}

/** The same workflow as built from the file before (the built form is plain data). */
function sameWorkflow(a: Workflow, b: Workflow): boolean {
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

/** The loader's warnings (an unset ${VAR}, a program not found), one log line each, at every load. */
function logWarnings(log: Logger, file: string, wf: Workflow): void {
  for (const w of wf.warnings ?? []) log.warn("workflow file has a warning", { workflow: wf.name, file, warning: w });
}

export interface ReloadOptions extends FileArguments {
  /** Read the config file again, as at start. Throws a ConfigError when the file is broken. */
  reloadConfig: () => { settings: Settings; log: Logger };
  log: SwitchableLogger;
  metrics: Metrics | undefined;
  loaded: Loaded;
  loop: ScheduleLoop;
  recorder: SqliteRecorder;
  db: DaemonDatabase;
}

export class Reloader {
  /** What the last settings() found: for `daemon reload`'s report. */
  lastConfig: ReloadReport["config"] = { file: null, error: null, restart_needed: [] };

  constructor(private readonly o: ReloadOptions) {}

  /** Log the files that failed the last load; count them for /metrics, /healthz and status. */
  reportInvalid(files: InvalidFile[]): void {
    const { loaded, log } = this.o;
    loaded.invalid = files;
    this.o.metrics?.setLoadErrors(files.length);
    for (const x of files) {
      const kept = loaded.entries.get(x.file);
      const error = x.problems.join("\n");
      if (kept) log.error("workflow file is invalid; keeping the last good version scheduled", { workflow: kept.wf.name, file: x.file, error });
      else log.error("workflow file is invalid; not loaded", { file: x.file, error });
    }
  }

  /**
   * Read the config file again, as `daemon start` did. What can change live is returned (the
   * logger switches now); what cannot (the database, the metrics server) is logged, one line
   * per setting, and keeps its value until a restart. A broken file changes nothing (null).
   */
  settings(current: Settings): Settings | null {
    const { log } = this.o;
    let next: { settings: Settings; log: Logger };
    try {
      next = this.o.reloadConfig();
    } catch (err) {
      log.error("config file is invalid; keeping the settings in use", { error: messageOf(err) });
      this.lastConfig = { file: current.configFile ?? null, error: messageOf(err), restart_needed: [] };
      return null;
    }
    const changes = compareSettings(current, next.settings);
    this.lastConfig = { file: next.settings.configFile ?? null, error: null, restart_needed: changes.restart.map((r) => r.setting) };
    for (const r of changes.restart) {
      log.warn("setting changed in the config file; restart the daemon to apply it", { setting: r.setting, in_use: r.running, configured: r.configured });
    }
    // Said with the logger in use, so a lower log level still shows that it was lowered.
    log.info("settings reloaded", { config_file: next.settings.configFile, changed: changes.live });
    const applied = applicableSettings(current, next.settings);
    log.use(next.log);
    return applied;
  }

  /** Load the workflow files again under `settings`; what became of each file. */
  workflows(settings: Settings): FileResult[] {
    const { loaded, log } = this.o;
    log.info("reloading workflow files", { arguments: this.o.args });
    const exp = expandArguments(this.o.args, this.o.cwd);
    for (const a of exp.empty) log.warn("no workflow files match", { argument: a });
    const present = new Set(exp.files);
    const results: FileResult[] = [];
    const removed = (e: Entry) => results.push({ file: e.file, workflow: e.wf.name, result: "removed", messages: [] });
    // Files no longer there (or no longer matched) are unscheduled.
    for (const e of [...loaded.entries.values()]) {
      if (!present.has(e.file)) {
        this.unschedule(e);
        removed(e);
      }
    }
    const names = new Map([...loaded.entries].map(([file, e]) => [file, e.wf.name]));
    const failed: InvalidFile[] = [];
    for (const x of loadFiles(exp.files, this.o.loadOptionsFor(settings), names)) {
      const old = loaded.entries.get(x.file);
      if (x.wf) {
        logWarnings(log, x.file, x.wf);
        const same = old !== undefined && old.error === null && sameWorkflow(old.wf, x.wf);
        this.adopt(old, x.file, x.wf);
        results.push({ file: x.file, workflow: x.wf.name, result: same ? "unchanged" : "loaded", messages: [...(x.wf.warnings ?? [])] });
      } else if (old && x.gone) {
        // Deleted since the listing: a removal, not a problem.
        this.unschedule(old);
        removed(old);
      } else {
        // Invalid: a loaded workflow keeps its last good version scheduled.
        if (old) old.error = x.problems.join("\n");
        failed.push(x);
        results.push({ file: x.file, workflow: old?.wf.name ?? null, result: "invalid", messages: x.problems });
      }
    }
    this.reportInvalid(failed);
    return results;
  }

  /** Unschedule a workflow whose file is gone; a run of it that is going finishes. */
  private unschedule(e: Entry): void {
    this.o.loop.remove(e);
    this.o.log.info("workflow removed", { workflow: e.wf.name, file: e.file });
  }

  /** Schedule a valid file's workflow: a new one, or the new version of a loaded one. */
  private adopt(old: Entry | undefined, file: string, wf: Workflow): void {
    const { log, loop } = this.o;
    try {
      if (this.o.db.lost === null) this.o.recorder.noteWorkflow(wf);
    } catch (err) {
      log.error("cannot record workflow", { workflow: wf.name, error: messageOf(err) });
    }
    if (!old) {
      const e = loop.add(file, wf);
      log.info(e.schedule ? "workflow added" : "workflow added without a schedule; it will not run", describe(e));
      return;
    }
    const scheduleChanged = loop.update(old, wf);
    log.info("workflow reloaded", { ...describe(old), schedule_changed: scheduleChanged });
  }
}
