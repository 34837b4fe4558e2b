// Program errors. Each carries the exit code from the spec's table; only main.ts prints them.
// Also the words errors are made of: errno codes in words, and "did you mean" for a near miss.

export class PicoflowError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Exit 2: a workflow file that is not valid. `problems` holds one line per finding. */
export class ValidationError extends PicoflowError {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"), 2);
  }
}

/** Exit 3: the workflow ran and failed. */
export class ExecutionError extends PicoflowError {
  constructor(message: string) {
    super(message, 3);
  }
}

/** Exit 4: a bad configuration file or bad command-line arguments. */
export class ConfigError extends PicoflowError {
  constructor(message: string) {
    super(message, 4);
  }
}

/** Exit 5: a file that is missing, unreadable, or not a file. */
export class IoError extends PicoflowError {
  constructor(message: string) {
    super(message, 5);
  }
}

/** Exit 6: the database cannot be opened, read or written. */
export class DatabaseError extends PicoflowError {
  constructor(message: string) {
    super(message, 6);
  }
}

/**
 * Exit 6 like any database error, but nothing was ever recorded there: no database file yet,
 * or an empty one. The read commands answer "no runs recorded yet" instead (cli/read.ts).
 */
export class NothingRecordedError extends DatabaseError {}

/** Exit 7: a connection failed. */
export class NetworkError extends PicoflowError {
  constructor(message: string) {
    super(message, 7);
  }
}

/** Exit 8: an operation of PicoFlow itself timed out. */
export class TimeoutError extends PicoflowError {
  constructor(message: string) {
    super(message, 8);
  }
}

/** Exit 9: stopped by SIGINT or SIGTERM. */
export class InterruptedError extends PicoflowError {
  constructor(message: string) {
    super(message, 9);
  }
}

/** Exit code for any thrown value: ours carry one, anything else is a general error (1). */
export function exitCodeOf(err: unknown): number {
  return err instanceof PicoflowError ? err.exitCode : 1;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) {
    // Node's system errors read "EACCES: permission denied, open '/x'": the words say it.
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === "string" && err.message.startsWith(`${code}: `)) return err.message.slice(code.length + 2);
    return err.message;
  }
  return String(err);
}

/** errno codes a user may meet, in words (as strerror says them, or clearer). */
const ERRNO_WORDS: Record<string, string> = {
  E2BIG: "argument list too long",
  EACCES: "permission denied",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available on this machine",
  EAGAIN: "resource temporarily unavailable",
  EBADF: "bad file descriptor",
  EBUSY: "device or resource busy",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EDQUOT: "disk quota exceeded",
  EEXIST: "file already exists",
  EFBIG: "file too large",
  EHOSTUNREACH: "host unreachable",
  EINVAL: "invalid argument",
  EIO: "input/output error (a failing disk or SD card?)",
  EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links",
  EMFILE: "too many open files in this process",
  ENAMETOOLONG: "file name too long",
  ENETUNREACH: "network unreachable",
  ENFILE: "too many open files on this system",
  ENODEV: "no such device",
  ENOENT: "no such file or directory",
  ENOEXEC: "not an executable program (no #! line?)",
  ENOMEM: "out of memory",
  ENOSPC: "no space left on device",
  ENOTDIR: "a part of the path is not a directory",
  ENOTEMPTY: "directory not empty",
  ENXIO: "no such device or address",
  EPERM: "operation not permitted",
  EPIPE: "broken pipe",
  EROFS: "read-only file system",
  ESRCH: "no such process",
  ETIMEDOUT: "timed out",
  ETXTBSY: "text file busy (being written)",
  EXDEV: "not on the same file system",
};

/** An errno code in words (`EACCES` -> "permission denied"); a code we do not know stays as it is. */
export function errnoWords(code: string): string {
  return ERRNO_WORDS[code] ?? code;
}

/** What went wrong in a failed system call, in words: its errno code if it has one, else its message. */
export function systemErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" ? errnoWords(code) : messageOf(err);
}

/**
 * The candidate a mistyped word most likely meant (`statsu` -> `stats`, `[retries]` ->
 * `retry`), or undefined: the nearest by edit distance (a swap of two letters counts as one,
 * and a shared start of 3+ letters takes one off), ties going to the longer shared start;
 * else the one candidate that contains the word (`multiplier` -> `backoff_multiplier`).
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const list = [...candidates];
  let best: string | undefined;
  let bestScore = Math.max(1, Math.floor(w.length / 3)) + 1;
  let bestPrefix = -1;
  for (const c of list) {
    // `restart` is no typo of `start`: a longer word built around a known one is another word.
    if (w.includes(c.toLowerCase()) && w.length - c.length >= 2) continue;
    const prefix = commonPrefix(w, c.toLowerCase());
    const score = editDistance(w, c.toLowerCase()) - (prefix >= 3 ? 1 : 0);
    if (score < bestScore || (score === bestScore && best !== undefined && prefix > bestPrefix)) {
      [best, bestScore, bestPrefix] = [c, score, prefix];
    }
  }
  if (best !== undefined) return best;
  const containing = list.filter((c) => w.length >= 4 && c.toLowerCase().includes(w));
  return containing.length === 1 ? containing[0] : undefined;
}

/** Edit distance with adjacent swaps as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}
