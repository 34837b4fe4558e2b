// Bounded output capture: keeps the first `limit` bytes of a stream, counts the rest.

export class OutputBuffer {
  /** One growing buffer, so keeping N bytes costs N bytes, not N plus a copy at the end. */
  private buf: Uint8Array = new Uint8Array(0);
  private kept = 0;
  /** Every byte seen, kept or not. */
  total = 0;
  /** Made on the first live chunk: most tasks print nothing. */
  private decoder: TextDecoder | undefined;

  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.kept >= this.limit;
  }

  /** Keep what fits; returns the newly kept part as text ("" if none, or if not `live`). */
  push(chunk: Uint8Array, live = true): string {
    this.total += chunk.byteLength;
    const room = this.limit - this.kept;
    if (room <= 0) return "";
    const part = chunk.byteLength <= room ? chunk : chunk.subarray(0, room);
    const need = this.kept + part.byteLength;
    if (need > this.buf.byteLength) {
      const grown = new Uint8Array(Math.min(this.limit, Math.max(need, this.buf.byteLength * 2, 64 * 1024)));
      grown.set(this.buf.subarray(0, this.kept));
      this.buf = grown;
    }
    this.buf.set(part, this.kept);
    this.kept = need;
    if (!live) return "";
    this.decoder ??= new TextDecoder("utf-8", { fatal: false });
    return this.decoder.decode(part, { stream: true });
  }

  get truncated(): boolean {
    return this.total > this.kept;
  }

  text(): string {
    // Most tasks print nothing: no Buffer view and decode for that.
    const all = this.kept ? Buffer.from(this.buf.buffer, this.buf.byteOffset, this.kept).toString("utf8") : "";
    this.buf = new Uint8Array(0);
    if (!this.truncated) return all;
    return `${all}\n[picoflow: output truncated: kept ${this.kept} of ${this.total} bytes]`;
  }
}

/**
 * Past the cap, every chunk read is garbage at once, but the collector sees only the small
 * wrapper objects and lets the buffers behind them pile up: a task printing 100 MB peaked
 * about 25 MB higher than one printing 10 MiB. A full collection after every DISCARD_GC_BYTES
 * thrown away keeps the peak flat, whatever the task prints (scripts/bench, workload 5).
 */
const DISCARD_GC_BYTES = 8 * 1024 * 1024;

/** Read a byte stream to its end into `buf`, calling `onText` with each newly kept part. */
export async function drain(
  stream: ReadableStream<Uint8Array>,
  buf: OutputBuffer,
  onText?: (text: string) => void,
): Promise<void> {
  const reader = stream.getReader();
  let collectedAt = 0;
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if ((ended = done)) return;
      if (buf.full && buf.total - collectedAt > DISCARD_GC_BYTES) {
        collectedAt = buf.total;
        Bun.gc(true);
      }
      const text = buf.push(value, onText !== undefined);
      if (text) onText!(text);
    }
  } finally {
    // An ended stream needs no release, and releasing builds an Error for the reader's
    // closed promise (as the Streams spec says): a microsecond per stream, for nothing.
    if (!ended) reader.releaseLock();
  }
}
