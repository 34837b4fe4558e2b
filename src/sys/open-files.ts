// Which files this process has open, from /proc/self/fd: used to tell SQLite's own WAL and
// shared-memory files from files of the same name that someone else has put in their place.

import { readdirSync, readlinkSync, statSync } from "node:fs";

/** "dev:ino" of each of `paths` that this process has open under that name (as it was opened). */
export function openFileIds(paths: string[]): Map<string, string> {
  const wanted = new Set(paths);
  const out = new Map<string, string>();
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (!wanted.has(target) || out.has(target)) continue;
      // stat follows the magic link to the open file itself, even one since deleted.
      const st = statSync(`/proc/self/fd/${fd}`);
      out.set(target, `${st.dev}:${st.ino}`);
    } catch {}
  }
  return out;
}

/** "dev:ino" of the file at `path` now, or null. */
export function fileIdAt(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}
