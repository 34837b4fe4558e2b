// CHANGELOG.md ("Keep a Changelog" 1.1.0) read and rewritten for releases.
//
//   bun scripts/changelog.ts VERSION      prints that version's section, for release notes
//
// The release workflow runs `bun scripts/changelog.ts 0.2.0 > notes.md`; scripts/release.ts
// imports the functions below to move "Unreleased" under a new version. See docs/releasing.md.

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_URL = "https://github.com/zoza1982/picoflow";
export const CHANGELOG = join(resolve(import.meta.dir, ".."), "CHANGELOG.md");

export class ChangelogError extends Error {}

/** `## [VERSION]` or `## [VERSION] - DATE`; the name in brackets is compared case-insensitively. */
function headingName(line: string): string | null {
  const m = /^## \[([^\]]+)\]/.exec(line);
  return m ? m[1]!.toLowerCase() : null;
}

/** A link reference definition, as the ones at the bottom: `[0.1.0]: https://...`. */
function isLinkReference(line: string): boolean {
  return /^\[[^\]]+\]:\s*\S/.test(line);
}

interface Section {
  /** Index of the `## [...]` line. */
  heading: number;
  /** Body lines [start, end): up to the next `## ` heading or the link references. */
  start: number;
  end: number;
}

function findSection(lines: string[], name: string): Section | null {
  const heading = lines.findIndex((l) => headingName(l) === name.toLowerCase());
  if (heading < 0) return null;
  let end = heading + 1;
  while (end < lines.length && !lines[end]!.startsWith("## ") && !isLinkReference(lines[end]!)) end++;
  return { heading, start: heading + 1, end };
}

/** Without blank lines at either end. */
function trimBlank(lines: string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && !lines[a]!.trim()) a++;
  while (b > a && !lines[b - 1]!.trim()) b--;
  return lines.slice(a, b);
}

/**
 * A section's content without `### Added`-style headings that have nothing under them: a
 * template of empty headings kept in "Unreleased" is not content, and is not released.
 */
function dropEmptySubsections(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.startsWith("### ")) {
      let j = i + 1;
      while (j < lines.length && !lines[j]!.trim()) j++;
      if (j >= lines.length || lines[j]!.startsWith("### ")) {
        i = j - 1;
        continue;
      }
    }
    out.push(lines[i]!);
  }
  return trimBlank(out);
}

/** The body of `## [VERSION]` (or `Unreleased`), trimmed; empty when there is nothing in it. */
export function sectionBody(text: string, name: string): string {
  const lines = text.split("\n");
  const s = findSection(lines, name);
  if (!s) throw new ChangelogError(`CHANGELOG.md has no section '## [${name}]'`);
  return dropEmptySubsections(lines.slice(s.start, s.end)).join("\n");
}

/** The newest released version: the first `## [X.Y.Z]` heading after Unreleased. */
export function latestVersion(text: string): string | null {
  for (const line of text.split("\n")) {
    const name = headingName(line);
    if (name && name !== "unreleased") return name;
  }
  return null;
}

/**
 * CHANGELOG.md with "Unreleased" moved under `## [VERSION] - DATE`, a fresh empty
 * `## [Unreleased]` above it, and the link references updated: unreleased compares
 * vVERSION...HEAD, and VERSION compares the previous release's tag with vVERSION.
 */
export function releaseChangelog(text: string, version: string, date: string): string {
  const body = sectionBody(text, "Unreleased");
  if (!body) throw new ChangelogError("the Unreleased section of CHANGELOG.md is empty: nothing to release");
  if (findSection(text.split("\n"), version)) throw new ChangelogError(`CHANGELOG.md already has a section for ${version}`);
  const previous = latestVersion(text);
  const lines = text.split("\n");
  const s = findSection(lines, "Unreleased")!;
  const released = ["## [Unreleased]", "", `## [${version}] - ${date}`, "", ...body.split("\n"), ""];
  lines.splice(s.heading, s.end - s.heading, ...released);
  return updateLinks(lines, version, previous).join("\n");
}

function updateLinks(lines: string[], version: string, previous: string | null): string[] {
  const at = lines.findIndex((l) => /^\[unreleased\]:/i.test(l));
  // The repository the links point at: the one the existing links name, else the project's.
  const base = at >= 0 ? (/^\[unreleased\]:\s*(\S+?)\/compare\//i.exec(lines[at]!)?.[1] ?? REPO_URL) : REPO_URL;
  const unreleased = `[unreleased]: ${base}/compare/v${version}...HEAD`;
  const own = previous ? `[${version}]: ${base}/compare/v${previous}...v${version}` : `[${version}]: ${base}/releases/tag/v${version}`;
  if (at >= 0) {
    lines.splice(at, 1, unreleased, own);
    return lines;
  }
  const trimmed = trimBlank(lines);
  return [...trimmed, "", unreleased, own, ""];
}

function main(argv: string[]): number {
  const [version, ...rest] = argv;
  if (!version || rest.length || version.startsWith("-")) {
    console.error("usage: bun scripts/changelog.ts VERSION   (prints that version's section of CHANGELOG.md)");
    return 1;
  }
  try {
    const body = sectionBody(readFileSync(CHANGELOG, "utf8"), version);
    if (!body) throw new ChangelogError(`the section '## [${version}]' of CHANGELOG.md is empty`);
    console.log(body);
    return 0;
  } catch (err) {
    if (err instanceof ChangelogError) {
      console.error(`changelog: ${err.message}`);
      return 1;
    }
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      console.error(`changelog: ${CHANGELOG} not found`);
      return 1;
    }
    throw err;
  }
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
