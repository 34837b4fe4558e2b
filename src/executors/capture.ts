// Bounded output capture: keeps the first `limit` bytes of a stream, counts the rest.

export class OutputBuffer {
  private chunks: Uint8Array[] = [];
  private kept = 0;
  /** Every byte seen, kept or not. */
  total = 0;
  private decoder = new TextDecoder("utf-8", { fatal: false });

  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.kept >= this.limit;
  }

  /** Keep what fits; returns the newly kept part as text ("" if none), for live streaming. */
  push(chunk: Uint8Array): string {
    this.total += chunk.byteLength;
    const room = this.limit - this.kept;
    if (room <= 0) return "";
    const part = chunk.byteLength <= room ? chunk : chunk.subarray(0, room);
    // Copy: a stream may reuse its buffer for the next chunk.
    this.chunks.push(part.slice());
    this.kept += part.byteLength;
    return this.decoder.decode(part, { stream: true });
  }

  get truncated(): boolean {
    return this.total > this.kept;
  }

  text(): string {
    const all = Buffer.concat(this.chunks, this.kept).toString("utf8");
    if (!this.truncated) return all;
    return `${all}\n[picoflow: output truncated: kept ${this.kept} of ${this.total} bytes]`;
  }
}

/** Read a byte stream to its end into `buf`, calling `onText` with each newly kept part. */
export async function drain(
  stream: ReadableStream<Uint8Array>,
  buf: OutputBuffer,
  onText?: (text: string) => void,
): Promise<void> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      const text = buf.push(value);
      if (text && onText) onText(text);
    }
  } finally {
    reader.releaseLock();
  }
}
