// Which PicoFlow this is: the version from package.json, and in a built binary the git commit
// and that commit's date, stamped by scripts/build.ts through Bun.build `define`. From source
// (`bun src/main.ts`) nothing is stamped: the commit reads "source" and there is no date. Git
// is never run here: the binary on a Pi has no repository next to it (docs/building.md).

import pkg from "../package.json" with { type: "json" };

// Replaced with string literals by scripts/build.ts; not defined at all when run from source,
// which `typeof` tells without a ReferenceError.
declare const PICOFLOW_BUILD_COMMIT: string;
declare const PICOFLOW_BUILD_DATE: string;

export const VERSION: string = pkg.version;

/** The full SHA built, "SHA-dirty" when the tree had uncommitted changes, or "source". */
export const COMMIT: string = typeof PICOFLOW_BUILD_COMMIT === "string" ? PICOFLOW_BUILD_COMMIT : "source";

/** The built commit's date, ISO 8601 UTC (not when the build ran: builds are reproducible); null from source. */
export const COMMIT_DATE: string | null = typeof PICOFLOW_BUILD_DATE === "string" ? PICOFLOW_BUILD_DATE : null;

/** "1a2b3c4d5e6f" (12 characters, as people quote a commit), keeping a "-dirty" mark. */
export function shortCommit(commit: string): string {
  const m = /^([0-9a-f]{7,40})(-dirty)?$/.exec(commit);
  return m ? m[1]!.slice(0, 12) + (m[2] ?? "") : commit;
}

/** "commit 1a2b3c4d5e6f, 2026-12-01", or "source" when not built. */
export function buildLabel(commit: string = COMMIT, date: string | null = COMMIT_DATE): string {
  if (commit === "source" || !commit) return "source";
  return date ? `commit ${shortCommit(commit)}, ${date.slice(0, 10)}` : `commit ${shortCommit(commit)}`;
}

/** `picoflow 0.2.0 (commit 1a2b3c4d5e6f, 2026-12-01) linux-arm64, Bun 1.4.5`. */
export function versionLine(): string {
  return `picoflow ${VERSION} (${buildLabel()}) ${process.platform}-${process.arch}, Bun ${Bun.version}\n`;
}

/** The fields /healthz and `daemon status --format json` carry. */
export function versionFields(): { version: string; commit: string; commit_date: string | null } {
  return { version: VERSION, commit: COMMIT, commit_date: COMMIT_DATE };
}
