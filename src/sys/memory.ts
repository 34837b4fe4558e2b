// Giving memory back while the daemon is idle: a full garbage collection, then JavaScriptCore's
// shrinkFootprint (Bun.shrink: drops compiled-code caches, returns freed pages to the system).
// What is dropped is rebuilt on the next use (from the binary's bytecode), for a few ms.

interface Shrinkable {
  shrink?: () => void;
}

/** Collect garbage and release what the engine holds beyond the live objects; the bytes the JS heap holds then. */
export function releaseMemory(): { heapBytes: number } {
  Bun.gc(true);
  (Bun as unknown as Shrinkable).shrink?.();
  return { heapBytes: process.memoryUsage().heapUsed };
}
