// OpenSSH known_hosts: parse plain, wildcard, negated, hashed (|1|) and [host]:port entries,
// and decide whether a server's host key is known, unknown, changed or revoked.
// Pure apart from reading the files; no ssh2 here, so it costs nothing to load.

import { readFileSync } from "node:fs";

// node:crypto on first use, not imported: the compiled binary is one bundle, whose static
// imports all load at start-up, and node:crypto brings Node's stream modules (a few ms).
const nodeCrypto = () => require("node:crypto") as typeof import("node:crypto");

export interface KnownHostEntry {
  file: string;
  line: number;
  marker?: "@revoked" | "@cert-authority";
  hosts: string;
  keyType: string;
  key: Buffer;
}

/** Bytes read from one known_hosts file at most; a bigger file is read up to this. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Entries of every file that exists; a missing or unreadable file contributes none. */
export function readKnownHosts(files: readonly string[]): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    if (text.length > MAX_FILE_BYTES) text = text.slice(0, MAX_FILE_BYTES);
    out.push(...parseKnownHosts(text, file));
  }
  return out;
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry["marker"];
    if (fields[0]!.startsWith("@")) {
      if (fields[0] !== "@revoked" && fields[0] !== "@cert-authority") return;
      marker = fields.shift() as KnownHostEntry["marker"];
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return;
    const key = Buffer.from(b64, "base64");
    // The blob starts with its own type name; a line whose two disagree is corrupt.
    if (blobKeyType(key) !== keyType) return;
    out.push({ file, line: i + 1, marker, hosts, keyType, key });
  });
  return out;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. Lower case. */
export function lookupName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** True if the host field of a known_hosts line names `host`:`port`. */
export function hostFieldMatches(field: string, host: string, port: number): boolean {
  const name = lookupName(host, port);
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    const mac = nodeCrypto().createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  let matched = false;
  for (const pattern of field.split(",")) {
    if (!pattern) continue;
    const negated = pattern.startsWith("!");
    const p = (negated ? pattern.slice(1) : pattern).toLowerCase();
    if (wildcardMatch(p, name)) {
      // A matching negation rules the host out whatever else matches (as in OpenSSH).
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** OpenSSH pattern: `*` any run of characters, `?` exactly one. */
function wildcardMatch(pattern: string, text: string): boolean {
  if (!pattern.includes("*") && !pattern.includes("?")) return pattern === text;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`, "s");
  return re.test(text);
}

/** The type name at the start of an SSH public key blob ("ssh-ed25519", ...), or "". */
export function blobKeyType(blob: Buffer): string {
  if (blob.length < 4) return "";
  const n = blob.readUInt32BE(0);
  if (n > 64 || 4 + n > blob.length) return "";
  return blob.toString("latin1", 4, 4 + n);
}

/** `SHA256:...` as ssh-keygen -l prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${nodeCrypto().createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Key types recorded for this host (plain entries only), in file order, without repeats. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const types: string[] = [];
  for (const e of entries) {
    if (e.marker || !hostFieldMatches(e.hosts, host, port)) continue;
    if (!types.includes(e.keyType)) types.push(e.keyType);
  }
  return types;
}

export type HostKeyVerdict =
  | { ok: true; entry: KnownHostEntry }
  | { ok: false; kind: "unknown" | "changed" | "revoked" | "other-type"; entry?: KnownHostEntry; knownTypes?: string[] };

export function verifyHostKey(entries: readonly KnownHostEntry[], host: string, port: number, blob: Buffer): HostKeyVerdict {
  // A revoked key is refused for every host, whatever its line's host patterns say.
  const revoked = entries.find((e) => e.marker === "@revoked" && e.key.equals(blob));
  if (revoked) return { ok: false, kind: "revoked", entry: revoked };
  // @cert-authority lines are skipped: host certificates are not supported.
  const plain = entries.filter((e) => !e.marker && hostFieldMatches(e.hosts, host, port));
  const same = plain.find((e) => e.key.equals(blob));
  if (same) return { ok: true, entry: same };
  const type = blobKeyType(blob);
  const sameType = plain.find((e) => e.keyType === type);
  if (sameType) return { ok: false, kind: "changed", entry: sameType };
  if (plain.length) return { ok: false, kind: "other-type", knownTypes: [...new Set(plain.map((e) => e.keyType))] };
  return { ok: false, kind: "unknown" };
}

/** Host key algorithms ssh2 may negotiate for a known_hosts key type. */
export function algorithmsFor(keyType: string): string[] {
  if (keyType === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256"];
  return [keyType];
}

/** Modern host key algorithms (as OpenSSH >= 8.8 offers them: no SHA-1 `ssh-rsa`, no DSA). */
export const HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
];

/**
 * Host key algorithms to offer, those of keys already in known_hosts first: the server then
 * proves the key we know, rather than another type we would have to call unknown.
 */
export function preferredHostKeyAlgorithms(knownTypes: readonly string[]): string[] {
  const first = knownTypes.flatMap(algorithmsFor).filter((a) => HOST_KEY_ALGORITHMS.includes(a));
  return [...new Set([...first, ...HOST_KEY_ALGORITHMS])];
}
