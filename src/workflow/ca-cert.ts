// An http task's `ca_cert`: a PEM file of CA certificates trusted for its request. Checked when
// the workflow loads (a missing or non-PEM file is a validation error, not a failure at 3 a.m.)
// and read again when the task runs, by the same function, so both say the same thing.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { systemErrorText } from "../errors.ts";
import { quoted } from "./message.ts";

/** Far above any real bundle (the system's whole list of roots is about 220 KB). */
const MAX_BYTES = 4 * 1024 * 1024;

const BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificates, or why the file cannot be used ("no such file", "not a PEM certificate file"). */
export type CaCertRead = { ok: true; pem: string } | { ok: false; reason: string };

/**
 * Verdicts by file identity (null: fine, else the reason): a workflow with fifty tasks trusting
 * one CA parses its certificates once, and a file that changed (inode, size, mtime or ctime)
 * is parsed again. Only verdicts are kept, not the text, so the cache stays a few bytes.
 */
const verdicts = new Map<string, string | null>();
const MAX_CACHED = 64;

/** The PEM text of `path`, or why it cannot be used. */
export function readCaCert(path: string): CaCertRead {
  let fd: number;
  try {
    // Non-blocking: a FIFO must be refused as not a regular file, not wait for a writer.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return { ok: false, reason: systemErrorText(err) };
  }
  try {
    // fstat of the open file: what is checked is what is read.
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, reason: "not a regular file" };
    if (st.size > MAX_BYTES) return { ok: false, reason: `not a PEM certificate file (${st.size} bytes; at most ${MAX_BYTES})` };
    const key = identity(path, st);
    const text = readAll(fd, st.size);
    const blocks = text.match(BLOCK) ?? [];
    let verdict = verdicts.get(key);
    if (verdict === undefined) {
      verdict = check(text, blocks);
      if (verdicts.size >= MAX_CACHED) verdicts.delete(verdicts.keys().next().value!);
      verdicts.set(key, verdict);
    }
    return verdict === null ? { ok: true, pem: blocks.join("\n") + "\n" } : { ok: false, reason: verdict };
  } catch (err) {
    return { ok: false, reason: systemErrorText(err) };
  } finally {
    closeSync(fd);
  }
}

function identity(path: string, st: Stats): string {
  return [path, st.dev, st.ino, st.size, st.mtimeMs, st.ctimeMs].join("\u0000");
}

function readAll(fd: number, size: number): string {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n <= 0) break;
    off += n;
  }
  return buf.subarray(0, off).toString("latin1");
}

/**
 * Why these CERTIFICATE blocks cannot be used, or null. Every one must parse: TLS would
 * otherwise fail later with a vague socket error.
 */
function check(text: string, blocks: string[]): string | null {
  if (blocks.length === 0) {
    const hint = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) ? "; it holds a private key, not a certificate" : "";
    return `not a PEM certificate file (no -----BEGIN CERTIFICATE----- block${hint})`;
  }
  // node:crypto loaded here, not at the top: it evaluates Node's stream modules, a few
  // milliseconds of every start-up, and only a workflow with a ca_cert needs it.
  const { X509Certificate } = require("node:crypto") as typeof import("node:crypto");
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      const which = blocks.length > 1 ? `certificate ${i + 1} of ${blocks.length}` : "its certificate";
      return `not a PEM certificate file (${which} does not parse)`;
    }
  }
  return null;
}

export interface CaCertProblem {
  message: string;
  warning?: boolean;
}

/** Load-time problems of an http task's ca_cert (reported at config.ca_cert). */
export function caCertProblems(config: { url: string; ca_cert?: string }): CaCertProblem[] {
  if (config.ca_cert === undefined) return [];
  const read = readCaCert(config.ca_cert);
  if (!read.ok) return [{ message: `${quoted(config.ca_cert)}: ${read.reason}` }];
  if (/^http:/i.test(config.url)) return [{ message: "ca_cert is only used for https (the url is http)", warning: true }];
  return [];
}
