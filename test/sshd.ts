// A real OpenSSH sshd on 127.0.0.1 for the SSH executor tests: a free port, freshly generated
// host keys and user keys (ed25519, ecdsa, rsa) in a temp dir, its own authorized_keys, and
// known_hosts lines the test writes into the sandbox's ~/.ssh/known_hosts.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SSHD = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].find((p) => existsSync(p)) ?? "/usr/sbin/sshd";

export const KEY_TYPES = ["ed25519", "ecdsa", "rsa"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export interface Sshd {
  port: number;
  dir: string;
  /** The user the tests connect as (the current user). */
  user: string;
  /** Private key paths by type; mode 0600. */
  userKeys: Record<KeyType, string>;
  /** `[127.0.0.1]:PORT keytype base64` per host key type. */
  knownHosts: Record<KeyType, string>;
  /** What sshd has logged so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function keygen(type: KeyType, file: string, extra: string[] = []): Promise<void> {
  const bits = type === "rsa" ? ["-b", "2048"] : type === "ecdsa" ? ["-b", "256"] : [];
  const p = Bun.spawn(["ssh-keygen", "-q", "-t", type, ...bits, "-N", "", "-C", `picoflow-test-${type}`, "-f", file, ...extra], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`ssh-keygen -t ${type} failed: ${err}`);
  chmodSync(file, 0o600);
}

/** Generate an extra user key (optionally with a passphrase) in `dir`. */
export async function makeKey(type: KeyType, file: string, passphrase = ""): Promise<string> {
  const bits = type === "rsa" ? ["-b", "2048"] : [];
  const p = Bun.spawn(["ssh-keygen", "-q", "-t", type, ...bits, "-N", passphrase, "-C", "picoflow-test", "-f", file], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`ssh-keygen failed: ${err}`);
  chmodSync(file, 0o600);
  return file;
}

/**
 * The current user's name from /etc/passwd. (Bun's os.userInfo() answers "unknown" for the
 * username in some containers.)
 */
export function currentUser(): string {
  const uid = process.getuid!();
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[2] === String(uid) && f[0]) return f[0];
  }
  throw new Error(`no /etc/passwd entry for uid ${uid}`);
}

/** Pids of every descendant of `pid` (from /proc ppid links). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export async function startSshd(): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), "picoflow-sshd-"));
  chmodSync(dir, 0o755);
  // Privilege separation directory; Debian creates it from the service unit, not the package.
  // (Only root needs it, and only root can make it.)
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  const hostKeys = {} as Record<KeyType, string>;
  const userKeys = {} as Record<KeyType, string>;
  await Promise.all(
    KEY_TYPES.flatMap((t) => [
      keygen(t, (hostKeys[t] = join(dir, `host_${t}`))),
      keygen(t, (userKeys[t] = join(dir, `user_${t}`))),
    ]),
  );
  const authorized = join(dir, "authorized_keys");
  writeFileSync(authorized, KEY_TYPES.map((t) => readFileSync(`${userKeys[t]}.pub`, "utf8").trim()).join("\n") + "\n");

  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      ...KEY_TYPES.map((t) => `HostKey ${hostKeys[t]}`),
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorized}`,
      "UsePAM no",
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "HostbasedAuthentication no",
      "AllowTcpForwarding no",
      "X11Forwarding no",
      "PrintMotd no",
      "UseDNS no",
      "LogLevel VERBOSE",
      "MaxStartups 100",
      "MaxSessions 50",
      "",
    ].join("\n"),
  );

  const proc = Bun.spawn([SSHD, "-D", "-e", "-f", config], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let log = "";
  let listening: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const readLog = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      log += dec.decode(chunk, { stream: true });
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) listening();
    }
  };
  const drained = Promise.all([readLog(proc.stdout), readLog(proc.stderr)]);
  const exited = proc.exited.then((code) => {
    throw new Error(`sshd exited with code ${code} before listening:\n${log}`);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      ready,
      exited,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`sshd did not start listening:\n${log}`)), 10_000))),
    ]);
  } catch (err) {
    proc.kill("SIGKILL");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
  exited.catch(() => {});

  const knownHosts = {} as Record<KeyType, string>;
  for (const t of KEY_TYPES) {
    const [type, blob] = readFileSync(`${hostKeys[t]}.pub`, "utf8").trim().split(/\s+/);
    knownHosts[t] = `[127.0.0.1]:${port} ${type} ${blob}`;
  }

  return {
    port,
    dir,
    user: currentUser(),
    userKeys,
    knownHosts,
    log: () => log,
    async stop() {
      // Connection children outlive the listener until their client goes; stop them too.
      const kids = descendants(proc.pid);
      proc.kill("SIGTERM");
      for (const k of kids) {
        try {
          process.kill(k, "SIGTERM");
        } catch {}
      }
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([proc.exited, new Promise((r) => (t = setTimeout(r, 3000)))]);
      clearTimeout(t);
      for (const k of [proc.pid, ...descendants(proc.pid), ...kids]) {
        try {
          process.kill(k, "SIGKILL");
        } catch {}
      }
      await proc.exited;
      await drained.catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
