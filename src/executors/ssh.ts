// SSH executor (ssh2, pure JS): key authentication only, host keys checked against
// ~/.ssh/known_hosts, the command run in the remote login shell with both streams drained and
// capped, and a task timeout that really stops the remote processes.
// This is the only module that imports ssh2 (about 20 MB once loaded); index.ts loads it lazily.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { constants, homedir } from "node:os";
import { join } from "node:path";
import { Client, utils, type ClientChannel, type ConnectConfig } from "ssh2";
import { systemErrorText } from "../errors.ts";
import type { SshConfig } from "../workflow/types.ts";
import { OutputBuffer } from "./capture.ts";
import {
  blobKeyType,
  fingerprint,
  knownKeyTypes,
  lookupName,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  verifyHostKey,
} from "./known-hosts.ts";
import { stopReason, stoppedResult, type ExecContext, type ExecResult, type Executor, type StopReason } from "./types.ts";

/** Exit code for a connection that failed (refused, DNS, auth, host key), as ssh(1) uses it. */
export const SSH_FAILURE_EXIT_CODE = 255;
/** Exit code recorded when the task timeout stops the remote command. */
export const SSH_TIMEOUT_EXIT_CODE = 124;

const MAX_KEY_BYTES = 64 * 1024;

/** Where host keys are looked up, in OpenSSH's order. */
export function knownHostsFiles(home: string = homedir()): string[] {
  return [join(home, ".ssh", "known_hosts"), join(home, ".ssh", "known_hosts2"), "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
}

/**
 * The command as the remote login shell runs it. A watchdog, started first, holds the channel's
 * stdin (the command itself gets /dev/null, as shell tasks do). When PicoFlow asks it to
 * ("stop" on stdin) or the connection is lost while the command still runs, it sends SIGTERM
 * to the command's whole process group (sshd made it a session), then SIGKILL after the grace.
 * This works on every POSIX sshd, also where the "signal" channel request is refused (OpenSSH
 * refuses it for root logins and before 7.9). The watchdog is double-forked so a `wait` in the
 * command does not wait for it; after a normal exit it does nothing, so `nohup x &` survives.
 */
export function wrapCommand(command: string, graceSeconds: number): string {
  const g = Math.max(0, Math.ceil(graceSeconds));
  const watchdog =
    `trap '' TERM INT HUP; IFS= read -r picoflow_stop <&3; ` +
    `if [ -n "$picoflow_stop" ] || kill -0 $$ 2>/dev/null; then kill -TERM 0 2>/dev/null; sleep ${g}; kill -KILL 0 2>/dev/null; fi`;
  return `exec 3<&0 </dev/null; ( ( ${watchdog} ) >/dev/null 2>&1 & ); exec 3<&-\n${command}`;
}

type KeyLoad = { ok: true; data: Buffer; type: string } | { ok: false; error: string };

/** Read and check the private key: exists, owner-only permissions, not encrypted, a private key. */
export function loadPrivateKey(path: string): KeyLoad {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: false, error: `private key ${path} does not exist (set config.key_path)` };
    if (code === "EACCES" || code === "EPERM") return { ok: false, error: `cannot read private key ${path}: permission denied` };
    return { ok: false, error: `cannot read private key ${path}: ${systemErrorText(err)}` };
  }
  let data: Buffer;
  let fileMode = 0;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, error: `private key ${path} is not a regular file` };
    fileMode = st.mode;
    if (st.size > MAX_KEY_BYTES) return { ok: false, error: `${path} is not an SSH private key (file too large)` };
    data = Buffer.alloc(st.size);
    let off = 0;
    while (off < data.length) {
      const n = readSync(fd, data, off, data.length - off, off);
      if (n <= 0) break;
      off += n;
    }
    data = data.subarray(0, off);
  } finally {
    closeSync(fd);
  }
  const text = data.toString("latin1");
  const encrypted = () => ({
    ok: false as const,
    error: `private key ${path} is protected by a passphrase, which PicoFlow does not support; use a key without one (ssh-keygen -t ed25519 -N '' -f KEYFILE)`,
  });
  if (/^Proc-Type:\s*4,ENCRYPTED/m.test(text) || text.includes("BEGIN ENCRYPTED PRIVATE KEY")) return encrypted();
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    if (/^(ssh-|ecdsa-sha2-)\S+ [A-Za-z0-9+/=]+/.test(text.trim())) {
      return { ok: false, error: `${path} is a public key; key_path must name the private key (without .pub)` };
    }
    return { ok: false, error: `${path} is not an SSH private key` };
  }
  // Like OpenSSH: a private key others can read (or write) is refused, not silently used. (Checked
  // once the file is known to be a private key: a .pub file is 0644 by nature.)
  if ((fileMode & 0o077) !== 0) {
    const mode = (fileMode & 0o777).toString(8).padStart(4, "0");
    return { ok: false, error: `private key ${path} is accessible by group or others (mode ${mode}); run: chmod 600 ${path}` };
  }
  const parsed = utils.parseKey(data);
  if (parsed instanceof Error) {
    if (/encrypted|passphrase/i.test(parsed.message)) return encrypted();
    // ssh2 reads OpenSSH and PEM keys, not PKCS#8 ("BEGIN PRIVATE KEY"); ssh-keygen -p rewrites it.
    const hint = text.includes("-----BEGIN PRIVATE KEY-----") ? ` (a PKCS#8 key; convert it to the OpenSSH format: ssh-keygen -p -N '' -f ${path})` : "";
    return { ok: false, error: `${path} is not a usable SSH private key: ${parsed.message}${hint}` };
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || !key.isPrivateKey()) return { ok: false, error: `${path} is not an SSH private key` };
  return { ok: true, data, type: key.type };
}

export const sshExecutor: Executor<SshConfig> = {
  async run(config, ctx) {
    const target = `${config.user}@${config.host}:${config.port}`;
    const fail = (error: string): ExecResult => ({ status: "failed", exitCode: SSH_FAILURE_EXIT_CODE, stdout: "", stderr: "", error: `ssh ${target}: ${error}` });
    const early = stopReason(ctx.signal);
    if (early) return stoppedResult(early, { stdout: "", stderr: "" }, SSH_TIMEOUT_EXIT_CODE);

    const key = loadPrivateKey(config.keyPath);
    if (!key.ok) return fail(key.error);
    const entries = readKnownHosts(knownHostsFiles());
    ctx.log.debug("ssh connecting", { target, key: config.keyPath, key_type: key.type });
    return runSession(config, ctx, key, entries, target);
  },
};

function runSession(
  config: SshConfig,
  ctx: ExecContext,
  key: { data: Buffer; type: string },
  entries: ReturnType<typeof readKnownHosts>,
  target: string,
): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve) => {
    const client = new Client();
    const out = new OutputBuffer(ctx.outputLimit);
    const err = new OutputBuffer(ctx.outputLimit);
    const output = () => ({ stdout: out.text(), stderr: err.text() });
    let phase: "connecting" | "running" | "stopping" | "done" = "connecting";
    let hostKeyProblem: string | undefined;
    let handshaken = false;
    let channel: ClientChannel | undefined;
    let exit: { code: number | null; signal?: string } | undefined;
    let stopTimer: ReturnType<typeof setTimeout> | undefined;
    let lingerTimer: ReturnType<typeof setTimeout> | undefined;
    let stoppedBy: StopReason | undefined;
    const graceMs = ctx.killGraceMs;
    // Decode kept output as it arrives only when someone shows it live.
    const live = ctx.onOutput !== undefined;

    const finish = (r: ExecResult) => {
      if (phase === "done") return;
      phase = "done";
      clearTimeout(stopTimer);
      clearTimeout(lingerTimer);
      ctx.signal.removeEventListener("abort", onAbort);
      try {
        client.end();
      } catch {}
      // A server that does not answer our disconnect must not keep the socket (or us) alive.
      setTimeout(() => client.destroy(), 2000).unref();
      resolve(r);
    };
    // Without an exit code of the remote command, the failure is the connection's: connect,
    // handshake, host key, authentication, or lost (exit 255, as ssh(1); `run` exits 7).
    const failed = (error: string, exitCode?: number): ExecResult => ({
      status: "failed",
      exitCode: exitCode ?? SSH_FAILURE_EXIT_CODE,
      ...output(),
      error: `ssh ${target}: ${error}`,
      network: exitCode === undefined,
    });

    /** Ask the remote watchdog to stop the command's process group; force-close if it cannot. */
    const stopRemote = () => {
      if (channel) {
        try {
          channel.write("stop\n");
          channel.end();
        } catch {}
      }
      clearTimeout(stopTimer);
      // The watchdog sends SIGKILL after the grace; allow for that and the round trip.
      stopTimer = setTimeout(() => {
        ctx.log.warn("ssh remote command did not stop in time; closing the connection", { target });
        finishChannel();
      }, graceMs + 5000);
    };

    const onAbort = () => {
      const reason = stopReason(ctx.signal)!;
      if (phase === "connecting") {
        client.destroy();
        finish(stoppedResult(reason, output(), SSH_TIMEOUT_EXIT_CODE));
        return;
      }
      if (phase === "running") {
        phase = "stopping";
        stoppedBy = reason;
        ctx.log.debug("ssh stopping remote command", { target, reason: reason.kind });
        stopRemote();
      }
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });

    /** The channel is closed (or given up on): record what the command did. */
    const finishChannel = () => {
      if (phase === "done") return;
      if (stoppedBy) {
        finish(stoppedResult(stoppedBy, output(), SSH_TIMEOUT_EXIT_CODE));
        return;
      }
      if (exit?.code === 0) {
        finish({ status: "success", exitCode: 0, ...output() });
      } else if (exit && exit.code !== null) {
        finish(failed(`remote command exited with code ${exit.code}`, exit.code));
      } else if (exit?.signal) {
        const num = (constants.signals as Record<string, number>)[exit.signal] ?? 0;
        finish(failed(`remote command killed by ${exit.signal}`, num ? 128 + num : SSH_FAILURE_EXIT_CODE));
      } else {
        finish(failed("connection lost before the remote command reported its exit status"));
      }
    };

    const knownTypes = knownKeyTypes(entries, config.host, config.port);
    const connect: ConnectConfig = {
      host: config.host,
      port: config.port,
      username: config.user,
      privateKey: key.data,
      readyTimeout: config.timeout * 1000,
      // Notice a dead peer during a long command instead of waiting forever.
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      tryKeyboard: false,
      algorithms: { serverHostKey: preferredHostKeyAlgorithms(knownTypes) as any },
      hostVerifier: (blob: Buffer) => {
        const verdict = verifyHostKey(entries, config.host, config.port, blob);
        if (verdict.ok) return true;
        hostKeyProblem = hostKeyMessage(verdict, config, blob);
        return false;
      },
    };

    client.on("handshake", () => (handshaken = true));
    client.on("ready", () => {
      if (phase !== "connecting") return;
      phase = "running";
      ctx.log.debug("ssh connected", { target });
      client.exec(wrapCommand(config.command, graceMs / 1000), (e, ch) => {
        if (e) {
          if (stoppedBy) finishChannel();
          else finish(failed(`cannot start the remote command: ${e.message}`));
          return;
        }
        channel = ch;
        ch.on("data", (chunk: Buffer) => {
          const t = out.push(chunk, live);
          if (t) ctx.onOutput?.("stdout", t);
        });
        ch.stderr.on("data", (chunk: Buffer) => {
          const t = err.push(chunk, live);
          if (t) ctx.onOutput?.("stderr", t);
        });
        ch.on("exit", (code: number | null, signal?: string) => {
          exit = { code, signal };
          // The command is done, but a background process it left may still hold the output
          // open, and sshd keeps the channel open for it (ssh(1) would hang). Take what
          // arrives for a moment, then record the exit status and close the channel.
          if (phase === "running") {
            lingerTimer = setTimeout(() => {
              if (phase !== "running") return;
              ctx.log.warn("ssh command exited but a background process still holds its output; closing the channel", { target });
              finishChannel();
            }, Math.max(1000, graceMs));
          }
        });
        ch.on("close", finishChannel);
        // The runner may have aborted while the channel was opening.
        if (phase === "stopping") stopRemote();
      });
    });
    client.on("error", (e: Error & { level?: string; code?: string }) => {
      if (phase === "done") return;
      if (phase === "stopping") {
        finishChannel();
        return;
      }
      if (phase === "running") {
        finish(failed(`connection lost while the command was running: ${e.message}`));
        return;
      }
      finish(failed(connectError(e, config, key.type, handshaken, hostKeyProblem)));
    });
    client.on("close", () => {
      if (phase === "done") return;
      if (phase === "connecting") finish(failed(hostKeyProblem ?? "connection closed by the server during the handshake"));
      else finishChannel();
    });

    try {
      client.connect(connect);
    } catch (e) {
      finish(failed(`cannot connect: ${(e as Error).message}`));
    }
  });
}

function hostKeyMessage(verdict: Exclude<ReturnType<typeof verifyHostKey>, { ok: true }>, config: SshConfig, blob: Buffer): string {
  const type = blobKeyType(blob);
  const fp = fingerprint(blob);
  const hp = `${config.host}:${config.port}`;
  const add = `ssh-keyscan -p ${config.port} ${config.host} >> ~/.ssh/known_hosts`;
  const where = verdict.entry ? `${verdict.entry.file}:${verdict.entry.line}` : "";
  switch (verdict.kind) {
    case "unknown":
      return `host key verification failed: ${hp} is not in ~/.ssh/known_hosts (server offers ${type} ${fp}); check that fingerprint with the server's administrator, then run: ${add}`;
    case "changed":
      return `host key verification failed: the ${type} key of ${hp} (${fp}) does not match ${where}; someone may be intercepting the connection. If the server's key really changed, run: ssh-keygen -R '${lookupName(config.host, config.port)}' && ${add}`;
    case "other-type":
      return `host key verification failed: ~/.ssh/known_hosts has ${verdict.knownTypes!.join(", ")} for ${hp}, but the server offers only ${type} ${fp}; if that is expected, run: ${add}`;
    case "revoked":
      return `host key verification failed: the ${type} key of ${hp} (${fp}) is marked @revoked at ${where}`;
  }
}

/** One line for a failed connection: the cause in words, not ssh2's internals. */
function connectError(
  e: Error & { level?: string; code?: string },
  config: SshConfig,
  keyType: string,
  handshaken: boolean,
  hostKeyProblem: string | undefined,
): string {
  if (hostKeyProblem) return hostKeyProblem;
  const code = e.code ?? "";
  switch (e.level) {
    case "client-timeout":
      return handshaken
        ? `timed out after ${config.timeout}s during authentication (config.timeout)`
        : `connection timed out after ${config.timeout}s: no SSH handshake (is an SSH server listening on port ${config.port}?)`;
    case "client-authentication":
      return `authentication failed: user '${config.user}' with ${keyType} key ${config.keyPath} was refused (is its public key in ~${config.user}/.ssh/authorized_keys on ${config.host}?)`;
    case "client-dns":
      return `cannot resolve host name '${config.host}'`;
  }
  if (code === "ECONNREFUSED") return "connection refused (is sshd running, and is the port right?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME" || code === "EAI_FAIL") return `cannot resolve host name '${config.host}'`;
  if (code === "EHOSTUNREACH") return "host unreachable";
  if (code === "ENETUNREACH") return "network unreachable";
  if (code === "ETIMEDOUT") return "connection timed out";
  if (code === "ECONNRESET" || code === "EPIPE") return "connection reset by the server";
  if (e.level === "handshake" || e.level === "protocol") return `SSH handshake failed: ${e.message}`;
  return e.message || String(e);
}
