// SHA-256 through Bun's native hasher. node:crypto would give the same digest, but loading it
// evaluates Node's stream modules, a few milliseconds on every `run` for one small hash.

/** The SHA-256 of `text` (UTF-8), as 64 lowercase hex digits. */
export function sha256Hex(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}
