// Shared by the module probes: collect garbage once the module is loaded, then sleep.
export function idle(keep: unknown): void {
  (globalThis as { keep?: unknown }).keep = keep;
  Bun.gc(true);
  setInterval(() => {}, 2 ** 31 - 1);
}
