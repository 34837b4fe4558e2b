// Masking of secrets (credential headers, values from ${VAR} in headers) in anything shown or stored.

export const MASK = "***";

/** Shorter values are not masked: they would blank out ordinary text and protect nothing. */
export const MIN_SECRET_LENGTH = 3;

export function maskSecrets(text: string, secrets: readonly string[]): string {
  if (!secrets.length || !text) return text;
  let out = text;
  // Longest first, so a secret that contains another is masked whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= MIN_SECRET_LENGTH && out.includes(s)) out = out.split(s).join(MASK);
  }
  return out;
}

/**
 * Masks a stream that arrives in pieces (live task output). A secret split across two pieces
 * would pass maskSecrets piece by piece, so the tail that could still grow into a secret is
 * held back until the next piece shows what it is.
 */
export class StreamMasker {
  private carry = "";
  private readonly secrets: string[];

  constructor(secrets: readonly string[]) {
    this.secrets = secrets.filter((s) => s.length >= MIN_SECRET_LENGTH);
  }

  /** The masked text that is safe to show now (may be "" while a possible secret is held). */
  push(text: string): string {
    if (!this.secrets.length) return text;
    const s = this.carry + text;
    let cut = s.length - this.heldSuffix(s);
    // Never cut through a whole secret: move the cut to its start, so it is masked whole later.
    for (let moved = true; moved; ) {
      moved = false;
      for (const sec of this.secrets) {
        const i = s.indexOf(sec, Math.max(0, cut - sec.length + 1));
        if (i >= 0 && i < cut && i + sec.length > cut) {
          cut = i;
          moved = true;
        }
      }
    }
    this.carry = s.slice(cut);
    return maskSecrets(s.slice(0, cut), this.secrets);
  }

  /** Length of the longest end of `s` that is the start of a secret (but not all of it). */
  private heldSuffix(s: string): number {
    let held = 0;
    for (const sec of this.secrets) {
      for (let k = Math.min(sec.length - 1, s.length); k > held; k--) {
        if (s.endsWith(sec.slice(0, k))) {
          held = k;
          break;
        }
      }
    }
    return held;
  }
}
