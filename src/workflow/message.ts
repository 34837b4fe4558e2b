// Problem lines that are safe to print: workflow values in them are masked, escaped and cut.
//
// A message marks each workflow value it quotes (quoted(), bare()); renderProblem() then masks
// secrets in the whole line, writes control characters as escapes (\0, \n, \x1b), and cuts a
// long value to its start and its length. Masking comes first, so a cut never shows part of a
// secret that a whole-value mask would have hidden.

import { maskSecrets } from "../secrets.ts";

// Private markers around a value. Values never hold them raw: quoted() escapes them first.
const QUOTED = "\u0001";
const BARE = "\u0002";
const END = "\u0003";
const MARKED = /\u0001([^\u0003]*)\u0003|\u0002([^\u0003]*)\u0003/g;

/** Values longer than this are cut to their first KEEP characters and their length. */
const MAX_SHOWN = 200;
const KEEP = 80;

/** A workflow value, shown in quotes: `'value'`. */
export function quoted(v: string): string {
  return QUOTED + unmark(v) + END;
}

/** A workflow value shown without quotes (a task name in a cycle). */
export function bare(v: string): string {
  return BARE + unmark(v) + END;
}

function unmark(v: string): string {
  return /[\u0001-\u0003]/.test(v) ? v.replace(/[\u0001-\u0003]/g, escapeChar) : v;
}

// C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: anything that
// could break a line, move the cursor or drive a terminal.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { "\0": "\\0", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, "0")}`);
}

/** Control characters written as escapes, so a value can never break or forge a line. */
export function escapeControls(s: string): string {
  return s.replace(CONTROL, escapeChar);
}

/** One printable line: secrets masked, controls escaped, long values cut (with their length). */
export function renderProblem(line: string, secrets: readonly string[]): string {
  let out = "";
  let last = 0;
  for (const m of line.matchAll(MARKED)) {
    out += plain(line.slice(last, m.index), secrets);
    const isQuoted = m[1] !== undefined;
    const value = m[1] ?? m[2]!;
    const shown = cut(escapeControls(maskSecrets(value, secrets)), value.length);
    out += isQuoted ? `'${shown.text}'${shown.note}` : shown.text + shown.note;
    last = m.index + m[0].length;
  }
  return out + plain(line.slice(last), secrets);
}

function plain(s: string, secrets: readonly string[]): string {
  // A stray marker (not from quoted/bare) is escaped like any other control character.
  return escapeControls(maskSecrets(s, secrets));
}

/** The first KEEP characters of a long value, never ending inside an escape or a surrogate pair. */
function cut(text: string, originalLength: number): { text: string; note: string } {
  if (text.length <= MAX_SHOWN) return { text, note: "" };
  let end = KEEP;
  // An escape (\0, \x1b, \u2028) is at most 6 characters: never keep half of one.
  for (let p = end - 1; p >= end - 5; p--) {
    if (text[p] !== "\\") continue;
    const esc = /^\\(?:[0nrt]|x[0-9a-f]{2}|u[0-9a-f]{4})/.exec(text.slice(p, p + 6));
    if (esc && p + esc[0].length > end) end = p;
    break;
  }
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return { text: `${text.slice(0, end)}…`, note: ` (${originalLength} characters)` };
}

/** The line with every marked value replaced: problems that differ only in values share it. */
export function problemTemplate(line: string): string {
  return line.replace(MARKED, "\u0000");
}
