// Live output of a run's running attempts, for `logs --follow`: batched per attempt and written
// every outputFlushMs, or early when a fast producer piles it up. An attempt's row gets its
// whole output when the attempt ends (its live rows are then deleted), so what still waits is
// dropped then. A write that fails is the run's store error (`fail`), not the task's.

import type { OutputStream } from "../executors/types.ts";
import type { RunRecorder } from "../store/types.ts";

/** Live output waiting to be written is flushed early once it reaches this size. */
const FLUSH_AT_BYTES = 256 * 1024;

type Part = { stream: OutputStream; text: string };

export class LiveOutput {
  private readonly pending = new Map<string, Part[]>();
  private pendingBytes = 0;
  private readonly timer: ReturnType<typeof setInterval>;

  /** Starts the flush timer; `stop()` ends it. */
  constructor(
    private readonly recorder: RunRecorder,
    private readonly fail: (err: unknown) => void,
    flushMs: number,
  ) {
    this.timer = setInterval(() => this.flush(), flushMs);
  }

  /** Output of an attempt, already masked. */
  add(attemptId: string, stream: OutputStream, text: string): void {
    let parts = this.pending.get(attemptId);
    if (!parts) this.pending.set(attemptId, (parts = []));
    parts.push({ stream, text });
    // A fast producer must not pile up output between timer flushes: memory stays flat.
    this.pendingBytes += text.length;
    if (this.pendingBytes >= FLUSH_AT_BYTES) this.flush();
  }

  /** The attempt ended: its whole output is recorded with it. */
  discard(attemptId: string): void {
    this.pending.delete(attemptId);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private flush(): void {
    this.pendingBytes = 0;
    for (const [attemptId, parts] of this.pending) {
      this.pending.delete(attemptId);
      for (const p of mergeParts(parts)) {
        try {
          this.recorder.appendOutput(attemptId, p.stream, p.text);
        } catch (err) {
          this.fail(err);
        }
      }
    }
  }
}

/** Join consecutive parts of the same stream, so one flush is one row per stream switch. */
function mergeParts(parts: Part[]): Part[] {
  const out: Part[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (last && last.stream === p.stream) last.text += p.text;
    else out.push({ ...p });
  }
  return out;
}
