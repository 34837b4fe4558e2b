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
