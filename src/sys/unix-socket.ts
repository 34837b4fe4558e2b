// Unix stream sockets (Bun.listen / Bun.connect) behind a small line-based interface: the
// daemon's control socket (daemon/control.ts) and its clients (`trigger`, `daemon reload`,
// `daemon status`). Text goes in lines; the server bounds what it reads and what it queues,
// so a slow or hostile client costs a bounded amount of memory and never blocks the daemon.

import { lstatSync, unlinkSync } from "node:fs";
import { IoError, systemErrorText } from "../errors.ts";

/** One client connection as the server's handler sees it. */
export interface Connection {
  /** Queue a line (a newline is added); dropped once the connection is closed. */
  send(line: string): void;
  /** Send what is queued, then close. */
  end(): void;
  /** Keep the connection open with no idle limit (a client following a run). */
  keepOpen(): void;
  readonly closed: boolean;
  /** Called once when the connection closes, by either side. */
  onClose(fn: () => void): void;
}

export interface UnixServerOptions {
  /** Longest request line in bytes; a longer one gets `tooLarge` and the connection ends. */
  maxLineBytes: number;
  /** Seconds a connection may stay silent before it is closed (until keepOpen). */
  idleSeconds: number;
  /** Most bytes queued for a client that does not read; past it the connection is dropped. */
  maxQueuedBytes: number;
  /** The first line of a connection (one request per connection; later lines are ignored). */
  onLine: (line: string, conn: Connection) => void;
  tooLarge: (conn: Connection) => void;
}

export interface UnixServer {
  path: string;
  /** Stop listening, close every connection, remove the socket file if it is still ours. */
  stop(): void;
}

interface State {
  buf: string;
  handled: boolean;
  out: Uint8Array[];
  queued: number;
  ending: boolean;
  closed: boolean;
  closers: (() => void)[];
  conn?: Connection;
}

const encoder = new TextEncoder();

/**
 * Remove a socket file left by a dead process. The caller has made sure no live process owns
 * it (daemon/control.ts: the PID file beside it is ours). Only a socket of this user is
 * removed; a symlink or anything else there is refused, never followed or replaced.
 */
export function removeStaleSocket(path: string): boolean {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new IoError(`${path}: cannot check the control socket: ${systemErrorText(err)}`);
  }
  if (st.isSymbolicLink()) throw new IoError(`${path}: is a symbolic link, not a socket; refusing to follow or replace it (remove it)`);
  if (!st.isSocket()) throw new IoError(`${path}: exists and is not a socket; refusing to replace it (remove it)`);
  if (st.uid !== process.geteuid!()) throw new IoError(`${path}: socket belongs to uid ${st.uid}, not to this user; refusing to replace it`);
  unlinkSync(path);
  return true;
}

/** Listen on a new socket file at `path`, mode 0600 (made so at creation, not after). */
export function listenUnix(path: string, o: UnixServerOptions): UnixServer {
  // bind() creates the file under the umask: 0177 leaves rw for the owner only, with no
  // window in which another user could connect.
  const umask = process.umask(0o177);
  let listener: ReturnType<typeof Bun.listen<State>>;
  try {
    listener = Bun.listen<State>({
      unix: path,
      socket: {
        open(s) {
          s.data = { buf: "", handled: false, out: [], queued: 0, ending: false, closed: false, closers: [] };
          s.timeout(o.idleSeconds);
        },
        data(s, chunk) {
          const st = s.data;
          if (st.handled) return;
          st.buf += chunk.toString();
          const nl = st.buf.indexOf("\n");
          if (nl < 0) {
            if (Buffer.byteLength(st.buf) > o.maxLineBytes) {
              st.handled = true;
              o.tooLarge(connection(s, o));
            }
            return;
          }
          st.handled = true;
          const line = st.buf.slice(0, nl);
          st.buf = "";
          if (Buffer.byteLength(line) > o.maxLineBytes) return o.tooLarge(connection(s, o));
          o.onLine(line, connection(s, o));
        },
        drain(s) {
          flush(s);
        },
        timeout(s) {
          s.end();
        },
        close(s) {
          closed(s.data);
        },
        error(s) {
          closed(s.data);
        },
      },
    });
  } catch (err) {
    throw new IoError(`${path}: cannot listen on the control socket: ${systemErrorText(err)}`);
  } finally {
    process.umask(umask);
  }
  const own = lstatSync(path);
  return {
    path,
    stop() {
      listener.stop(true);
      try {
        const now = lstatSync(path);
        if (now.ino === own.ino && now.dev === own.dev) unlinkSync(path);
      } catch {}
    },
  };
}

type Sock = Parameters<NonNullable<Parameters<typeof Bun.listen<State>>[0]["socket"]["drain"]>>[0];

function closed(st: State | undefined): void {
  if (!st || st.closed) return;
  st.closed = true;
  st.out = [];
  for (const fn of st.closers.splice(0)) {
    try {
      fn();
    } catch {}
  }
}

/** Write what is queued as far as the socket takes it; the rest waits for `drain`. */
function flush(s: Sock): void {
  const st = s.data;
  while (st.out.length) {
    const chunk = st.out[0]!;
    const n = s.write(chunk);
    if (n < chunk.length) {
      st.out[0] = chunk.subarray(Math.max(n, 0));
      st.queued -= Math.max(n, 0);
      return;
    }
    st.out.shift();
    st.queued -= chunk.length;
  }
  if (st.ending) s.end();
}

function connection(s: Sock, o: UnixServerOptions): Connection {
  const st = s.data;
  if (st.conn) return st.conn;
  st.conn = {
    send(line) {
      if (st.closed || st.ending) return;
      const bytes = encoder.encode(line + "\n");
      st.queued += bytes.length;
      // A client that stopped reading: drop it rather than hold its output.
      if (st.queued > o.maxQueuedBytes) {
        s.end();
        return closed(st);
      }
      st.out.push(bytes);
      flush(s);
    },
    end() {
      if (st.closed || st.ending) return;
      st.ending = true;
      flush(s);
    },
    keepOpen() {
      s.timeout(0);
    },
    get closed() {
      return st.closed;
    },
    onClose(fn) {
      if (st.closed) fn();
      else st.closers.push(fn);
    },
  };
  return st.conn;
}

/** Why a connection to a socket failed, in a form the caller can explain. */
export class SocketUnavailable extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Connect to `path`, send one request line and pass each line of the answer to `onLine` until
 * the server closes the connection (or `onLine` returns true: done). Throws SocketUnavailable
 * when nothing listens there (no file, refused, permission denied) or no first answer came
 * within `firstAnswerMs`.
 */
export async function requestUnix(path: string, request: string, onLine: (line: string) => boolean | void, firstAnswerMs: number): Promise<void> {
  let buf = "";
  let answered = false;
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const done = new Promise<void>((res, rej) => {
    finish = res;
    fail = rej;
  });
  let socket;
  try {
    socket = await Bun.connect({
      unix: path,
      socket: {
        data(s, chunk) {
          buf += chunk.toString();
          for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            answered = true;
            let stop = false;
            try {
              stop = onLine(line) === true;
            } catch (err) {
              // Settled before end(): closing may call close() at once, which must not win.
              fail(err as Error);
              s.end();
              return;
            }
            if (stop) {
              finish();
              s.end();
              return;
            }
          }
        },
        close() {
          finish();
        },
        error(_s, err) {
          fail(err);
        },
      },
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new SocketUnavailable(path, code, systemErrorText(err));
  }
  const timer = setTimeout(() => {
    if (answered) return;
    fail(new SocketUnavailable(path, "ETIMEDOUT", `no answer within ${firstAnswerMs / 1000}s`));
    socket.end();
  }, firstAnswerMs);
  socket.write(request + "\n");
  try {
    await done;
  } finally {
    clearTimeout(timer);
  }
}
