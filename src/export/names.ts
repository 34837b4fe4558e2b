// Kubernetes and Argo names from PicoFlow names. Argo's template and DAG task names, and the
// names of Kubernetes objects, are DNS-1123 labels: lowercase letters, digits and '-', starting
// and ending with a letter or digit, at most 63 characters. Task names may hold '_' and capitals,
// so "Backup_DB" and "backup-db" would meet: then the one that had to change gets a short hash of
// its original, which keeps the mapping the same from one export to the next and free of collisions.

import { sha256Hex } from "../sys/hash.ts";

const MAX = 63;

/** Lowercase, '_' and anything else as '-', no '-' at the ends; "" when nothing is left. */
export function dnsLabel(name: string, max = MAX): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .slice(0, max)
    .replace(/^-+|-+$/g, "");
}

function shortHash(s: string): string {
  return sha256Hex(s).slice(0, 6);
}

/**
 * A DNS-1123 label for each name. `reserved` are taken already (the exporter's own templates).
 * A name becomes its label ("list_tmp" -> "list-tmp") when no other name or reserved word comes
 * to the same one; where several do, the name written as a valid label keeps it, and each other
 * gets its label plus '-' and a hash of the name (a counter on top if even that is taken).
 */
export function labelsFor(names: readonly string[], reserved: readonly string[]): Map<string, string> {
  const taken = new Set(reserved);
  const count = new Map<string, number>();
  for (const n of names) count.set(dnsLabel(n), (count.get(dnsLabel(n)) ?? 0) + 1);
  const out = new Map<string, string>();
  // Plain names first, so a changed name can never take one of theirs.
  for (const n of names) {
    const l = dnsLabel(n);
    const exact = l === n && !taken.has(n);
    if (exact || (l && count.get(l) === 1 && !taken.has(l) && !names.includes(l))) {
      taken.add(l);
      out.set(n, l);
    }
  }
  for (const n of names) {
    if (out.has(n)) continue;
    const base = `${dnsLabel(n, MAX - 7) || "task"}-${shortHash(n)}`;
    let label = base;
    for (let i = 2; taken.has(label); i++) label = `${base.slice(0, MAX - String(i).length - 1)}-${i}`;
    taken.add(label);
    out.set(n, label);
  }
  return out;
}

/** A Secret's data key: letters, digits, '-', '_' and '.'. */
export function secretKey(s: string): string {
  return s.replace(/[^-._a-zA-Z0-9]+/g, "-");
}
