// SSH executor end to end: `picoflow run` against a real OpenSSH sshd on 127.0.0.1 with its
// own host keys, user keys of each type, and the sandbox's ~/.ssh/known_hosts.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { hostFieldMatches, lookupName, parseKnownHosts, preferredHostKeyAlgorithms, verifyHostKey } from "../src/executors/known-hosts.ts";
import { alive, cli, rows, sandbox, spawnCli, waitFor, type Sandbox } from "./helpers.ts";
import { freePort, KEY_TYPES, makeKey, startSshd, type KeyType, type Sshd } from "./sshd.ts";

let sshd: Sshd;
let sb: Sandbox;

beforeAll(async () => {
  sshd = await startSshd();
  sb = sandbox();
  mkdirSync(join(sb.dir, ".ssh"), { mode: 0o700 });
});

afterAll(async () => {
  await sshd?.stop();
  sb?.cleanup();
});

const knownHostsFile = () => join(sb.dir, ".ssh", "known_hosts");
function knownHosts(...lines: string[]): void {
  writeFileSync(knownHostsFile(), lines.join("\n") + "\n");
}
const allHostKeys = () => KEY_TYPES.map((t) => sshd.knownHosts[t]);

interface SshTask {
  command: string;
  key?: string | null;
  user?: string;
  port?: number;
  connectTimeout?: number;
  timeout?: number;
}

/** A one-task ssh workflow. `$` in commands must be written `$$` (PicoFlow's own escape). */
function sshWorkflow(t: SshTask): string {
  const key = t.key === null ? "" : `\n      key_path: "${t.key ?? sshd.userKeys.ed25519}"`;
  return sb.workflow(`
name: remote
tasks:
  - name: remote
    type: ssh
    retry: 0
    timeout: ${t.timeout ?? 60}
    config:
      host: 127.0.0.1
      port: ${t.port ?? sshd.port}
      user: ${t.user ?? sshd.user}
      command: ${JSON.stringify(t.command)}${key}
      timeout: ${t.connectTimeout ?? 10}
`);
}

function lastAttempt() {
  return rows(sb.db, "SELECT * FROM task_executions WHERE task_name = 'remote' ORDER BY created_at DESC, rowid DESC LIMIT 1")[0]!;
}

describe("ssh: commands", () => {
  test("success: stdout and stderr are recorded, exit code 0", async () => {
    knownHosts(...allHostKeys());
    const r = await cli(sb, ["run", sshWorkflow({ command: "echo hello from $$(echo sshd); echo to-stderr >&2" })]);
    expect(r.stderr).not.toContain("picoflow:");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/success\s+remote/);
    const a = lastAttempt();
    expect(a.status).toBe("success");
    expect(a.exit_code).toBe(0);
    expect(a.stdout).toBe("hello from sshd\n");
    expect(a.stderr).toBe("to-stderr\n");
    expect(a.error_message).toBeNull();
    expect(a.http_status).toBeNull();
  });

  test("the command runs in the remote shell: pipes, variables and exit status", async () => {
    knownHosts(...allHostKeys());
    const r = await cli(sb, ["run", sshWorkflow({ command: "x=3; printf 'a\\nb\\nc\\n' | wc -l; [ \"$$x\" = 3 ] && echo var-ok; cat; echo stdin-empty" })]);
    expect(r.code).toBe(0);
    // stdin is /dev/null, as for shell tasks: `cat` ends at once.
    expect(lastAttempt().stdout).toBe("3\nvar-ok\nstdin-empty\n");
  });

  test("non-zero remote exit: exit code and stderr recorded, run exits 3", async () => {
    knownHosts(...allHostKeys());
    const r = await cli(sb, ["run", sshWorkflow({ command: "echo partial; echo 'disk full' >&2; exit 7" })]);
    expect(r.code).toBe(3);
    const a = lastAttempt();
    expect(a.status).toBe("failed");
    expect(a.exit_code).toBe(7);
    expect(a.stdout).toBe("partial\n");
    expect(a.stderr).toBe("disk full\n");
    expect(a.error_message).toContain("exited with code 7");
    expect(r.stdout).toContain("exited with code 7");
  });

  test("large output on both streams at once is drained and capped at 10 MiB each", async () => {
    knownHosts(...allHostKeys());
    const twelveMiB = 12 * 1024 * 1024;
    const cmd = `head -c ${twelveMiB} /dev/zero | tr '\\0' e >&2 & head -c ${twelveMiB} /dev/zero | tr '\\0' o; wait; echo done >&2`;
    const r = await cli(sb, ["run", sshWorkflow({ command: cmd })]);
    expect(r.code).toBe(0);
    const a = rows(sb.db, "SELECT status, exit_code, length(stdout) AS out, length(stderr) AS err, substr(stdout, 1, 3) AS head, substr(stdout, -120) AS tail FROM task_executions ORDER BY rowid DESC LIMIT 1")[0]!;
    expect(a.status).toBe("success");
    expect(a.head).toBe("ooo");
    expect(a.tail).toContain(`[picoflow: output truncated: kept ${10 * 1024 * 1024} of ${twelveMiB} bytes]`);
    const limit = 10 * 1024 * 1024;
    expect(a.out).toBeGreaterThan(limit);
    expect(a.out).toBeLessThan(limit + 200);
    expect(a.err).toBeGreaterThan(limit);
    expect(a.err).toBeLessThan(limit + 200);
  });

  test("timeout: the remote command and its children are stopped, exit 124", async () => {
    knownHosts(...allHostKeys());
    const shellPid = join(sshd.dir, "timeout-shell.pid");
    const childPid = join(sshd.dir, "timeout-child.pid");
    // `trap '' TERM` in the child: SIGTERM is ignored, so only the SIGKILL after the grace ends it.
    const cmd = `echo $$$$ > ${shellPid}; (trap '' TERM; exec sleep 300) & echo $$! > ${childPid}; echo started; wait`;
    const r = await cli(sb, ["run", sshWorkflow({ command: cmd, timeout: 2 })]);
    expect(r.code).toBe(8);
    const a = lastAttempt();
    expect(a.status).toBe("timeout");
    expect(a.exit_code).toBe(124);
    expect(a.stdout).toBe("started\n");
    expect(a.error_message).toContain("timed out after 2s");
    const pids = [shellPid, childPid].map((f) => Number(readFileSync(f, "utf8")));
    expect(pids.every((p) => p > 1)).toBe(true);
    // Same machine: the remote processes themselves must be gone.
    await waitFor(() => pids.every((p) => !alive(p)), 10_000, "remote processes to be gone");
  });

  test("Ctrl-C during a remote command stops it and records the interruption (exit 9)", async () => {
    knownHosts(...allHostKeys());
    const pidFile = join(sshd.dir, "interrupt.pid");
    const p = spawnCli(sb, ["run", sshWorkflow({ command: `echo $$$$ > ${pidFile}; exec sleep 300` })]);
    try {
      await waitFor(() => existsSync(pidFile) && Number(readFileSync(pidFile, "utf8")) > 1, 15_000, "remote command to start");
      const remote = Number(readFileSync(pidFile, "utf8"));
      expect(alive(remote)).toBe(true);
      p.kill("SIGINT");
      expect(await p.exited).toBe(9);
      await waitFor(() => !alive(remote), 10_000, "remote sleep to be gone");
      const a = lastAttempt();
      expect(a.status).toBe("failed");
      expect(a.error_message).toContain("interrupted by SIGINT");
    } finally {
      p.kill("SIGKILL");
      await p.exited;
    }
  });

  test("if picoflow itself is killed (kill -9), the remote command does not outlive it", async () => {
    knownHosts(...allHostKeys());
    const pidFile = join(sshd.dir, "killed.pid");
    const p = spawnCli(sb, ["run", sshWorkflow({ command: `echo $$$$ > ${pidFile}; exec sleep 300` })]);
    try {
      await waitFor(() => existsSync(pidFile) && Number(readFileSync(pidFile, "utf8")) > 1, 15_000, "remote command to start");
      const remote = Number(readFileSync(pidFile, "utf8"));
      expect(alive(remote)).toBe(true);
      p.kill("SIGKILL");
      await p.exited;
      // The kernel closes picoflow's socket; sshd ends the session and the watchdog stops the command.
      await waitFor(() => !alive(remote), 10_000, "remote sleep to be gone");
    } finally {
      p.kill("SIGKILL");
      await p.exited;
    }
  });

  test("a background process that keeps the output open does not hang the task", async () => {
    knownHosts(...allHostKeys());
    const held = join(sshd.dir, "held.pid");
    const r = await cli(sb, ["run", sshWorkflow({ command: `sleep 300 & echo $$! > ${held}; echo main-done; exit 4` })]);
    const pid = Number(readFileSync(held, "utf8"));
    try {
      expect(r.code).toBe(3);
      const a = lastAttempt();
      expect(a.exit_code).toBe(4);
      expect(a.stdout).toBe("main-done\n");
      expect(a.error_message).toContain("exited with code 4");
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });
});

describe("ssh: keys", () => {
  test.each(KEY_TYPES.map((t) => [t]))("%s: user key of that type, only that host key type in known_hosts", async (type: KeyType) => {
    // Only this type's host key is known: the executor must ask the server for that type.
    knownHosts(sshd.knownHosts[type]);
    const r = await cli(sb, ["run", sshWorkflow({ command: `echo key-${type}`, key: sshd.userKeys[type] })]);
    expect(r.stderr).not.toContain("picoflow:");
    expect(r.code).toBe(0);
    expect(lastAttempt().stdout).toBe(`key-${type}\n`);
    const label = { ed25519: "ED25519", ecdsa: "ECDSA", rsa: "RSA" }[type];
    expect(sshd.log()).toMatch(new RegExp(`Accepted publickey for ${sshd.user} from 127\\.0\\.0\\.1 port \\d+ ssh2: ${label} `));
  });

  test("key_path defaults to ~/.ssh/id_rsa in the home directory", async () => {
    knownHosts(...allHostKeys());
    const def = join(sb.dir, ".ssh", "id_rsa");
    copyFileSync(sshd.userKeys.rsa, def);
    chmodSync(def, 0o600);
    const r = await cli(sb, ["run", sshWorkflow({ command: "echo default-key", key: null })]);
    expect(r.code).toBe(0);
    expect(lastAttempt().stdout).toBe("default-key\n");
  });

  test("a key readable by group or others is refused before connecting", async () => {
    knownHosts(...allHostKeys());
    const loose = join(sb.dir, "loose_key");
    copyFileSync(sshd.userKeys.ed25519, loose);
    chmodSync(loose, 0o644);
    const marker = join(sshd.dir, "loose-ran");
    const r = await cli(sb, ["run", sshWorkflow({ command: `touch ${marker}`, key: loose })]);
    expect(r.code).toBe(3);
    const a = lastAttempt();
    expect(a.exit_code).toBe(255);
    expect(a.error_message).toContain(`private key ${loose} is accessible by group or others (mode 0644); run: chmod 600 ${loose}`);
    expect(existsSync(marker)).toBe(false);
  });

  test("an encrypted key gets a clear message: passphrases are not supported", async () => {
    knownHosts(...allHostKeys());
    const enc = await makeKey("ed25519", join(sb.dir, "encrypted_key"), "correct horse");
    const r = await cli(sb, ["run", sshWorkflow({ command: "true", key: enc })]);
    expect(r.code).toBe(3);
    const a = lastAttempt();
    expect(a.exit_code).toBe(255);
    expect(a.error_message).toContain("protected by a passphrase, which PicoFlow does not support");
  });

  test("a missing key and a public key given as key_path are clear failures", async () => {
    knownHosts(...allHostKeys());
    const missing = join(sb.dir, "no_such_key");
    let r = await cli(sb, ["run", sshWorkflow({ command: "true", key: missing })]);
    expect(r.code).toBe(3);
    expect(lastAttempt().error_message).toContain(`private key ${missing} does not exist`);
    // Mode 0644, as ssh-keygen writes a .pub file: the message is about the key, not the mode.
    const pub = join(sb.dir, "pub_key");
    copyFileSync(`${sshd.userKeys.ed25519}.pub`, pub);
    chmodSync(pub, 0o644);
    r = await cli(sb, ["run", sshWorkflow({ command: "true", key: pub })]);
    expect(r.code).toBe(3);
    expect(lastAttempt().error_message).toContain(`${pub} is a public key; key_path must name the private key (without .pub)`);
  });

  test("a PKCS#8 key (which ssh2 cannot read) is refused with the command that converts it", async () => {
    knownHosts(...allHostKeys());
    const key = join(sb.dir, "pkcs8_key");
    const p = Bun.spawn(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PKCS8", "-N", "", "-f", key], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(await p.exited).toBe(0);
    expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
    const r = await cli(sb, ["run", sshWorkflow({ command: "true", key })]);
    expect(r.code).toBe(3);
    expect(lastAttempt()).toMatchObject({ exit_code: 255 });
    expect(lastAttempt().error_message).toContain(`(a PKCS#8 key; convert it to the OpenSSH format: ssh-keygen -p -N '' -f ${key})`);
  });

  test("wrong user: authentication failure, exit code 255", async () => {
    knownHosts(...allHostKeys());
    const r = await cli(sb, ["run", sshWorkflow({ command: "true", user: "nosuchuser" })]);
    expect(r.code).toBe(7);
    const a = lastAttempt();
    expect(a.status).toBe("failed");
    expect(a.exit_code).toBe(255);
    expect(a.error_message).toContain(`ssh nosuchuser@127.0.0.1:${sshd.port}: authentication failed: user 'nosuchuser'`);
  });
});

describe("ssh: host keys", () => {
  test("unknown host: refused, and the message says what to run", async () => {
    knownHosts("# nothing here yet");
    const marker = join(sshd.dir, "unknown-ran");
    const r = await cli(sb, ["run", sshWorkflow({ command: `touch ${marker}` })]);
    expect(r.code).toBe(7);
    const a = lastAttempt();
    expect(a.exit_code).toBe(255);
    expect(a.error_message).toContain(`127.0.0.1:${sshd.port} is not in ~/.ssh/known_hosts`);
    expect(a.error_message).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ~/.ssh/known_hosts`);
    expect(a.error_message).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect(r.stdout).toContain("ssh-keyscan");
    expect(existsSync(marker)).toBe(false);
  });

  test("no known_hosts file at all is an unknown host too", async () => {
    const file = knownHostsFile();
    if (existsSync(file)) rmSync(file);
    const r = await cli(sb, ["run", sshWorkflow({ command: "true" })]);
    expect(r.code).toBe(7);
    expect(lastAttempt().error_message).toContain("is not in ~/.ssh/known_hosts");
  });

  test("wrong host key: refused as a possible attack, with the way to fix it", async () => {
    const other = await makeKey("ed25519", join(sb.dir, "other_host_key"));
    const [type, blob] = readFileSync(`${other}.pub`, "utf8").trim().split(/\s+/);
    knownHosts(`[127.0.0.1]:${sshd.port} ${type} ${blob}`);
    const marker = join(sshd.dir, "mismatch-ran");
    const r = await cli(sb, ["run", sshWorkflow({ command: `touch ${marker}` })]);
    expect(r.code).toBe(7);
    const a = lastAttempt();
    expect(a.exit_code).toBe(255);
    expect(a.error_message).toContain(`does not match ${knownHostsFile()}:1`);
    expect(a.error_message).toContain(`ssh-keygen -R '[127.0.0.1]:${sshd.port}'`);
    expect(a.error_message).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ~/.ssh/known_hosts`);
    expect(existsSync(marker)).toBe(false);
  });

  test("a key for the host on another port does not count", async () => {
    knownHosts(allHostKeys()[0]!.replace(`[127.0.0.1]:${sshd.port}`, "127.0.0.1"));
    const r = await cli(sb, ["run", sshWorkflow({ command: "true" })]);
    expect(r.code).toBe(7);
    expect(lastAttempt().error_message).toContain("is not in ~/.ssh/known_hosts");
  });

  test("hashed known_hosts entries (ssh-keygen -H) are understood", async () => {
    knownHosts("# comment", "", ...allHostKeys());
    const p = Bun.spawn(["ssh-keygen", "-H", "-f", knownHostsFile()], { stdout: "ignore", stderr: "ignore" });
    expect(await p.exited).toBe(0);
    const text = readFileSync(knownHostsFile(), "utf8");
    expect(text).toContain("|1|");
    expect(text).not.toContain("127.0.0.1");
    const r = await cli(sb, ["run", sshWorkflow({ command: "echo hashed-ok" })]);
    expect(r.code).toBe(0);
    expect(lastAttempt().stdout).toBe("hashed-ok\n");
  });

  test("pattern entries: wildcards match, a negation rules the host out", async () => {
    const [, type, blob] = sshd.knownHosts.ed25519.split(" ");
    knownHosts(`[127.0.0.*]:${sshd.port},other.example ${type} ${blob}`);
    let r = await cli(sb, ["run", sshWorkflow({ command: "echo wildcard-ok" })]);
    expect(r.code).toBe(0);
    knownHosts(`[127.0.0.*]:${sshd.port},![127.0.0.1]:${sshd.port} ${type} ${blob}`);
    r = await cli(sb, ["run", sshWorkflow({ command: "true" })]);
    expect(r.code).toBe(7);
    expect(lastAttempt().error_message).toContain("is not in ~/.ssh/known_hosts");
  });

  test("a key marked @revoked is refused even when it is also listed", async () => {
    const [, type, blob] = sshd.knownHosts.ed25519.split(" ");
    knownHosts(sshd.knownHosts.ed25519, `@revoked * ${type} ${blob}`);
    const r = await cli(sb, ["run", sshWorkflow({ command: "true" })]);
    expect(r.code).toBe(7);
    expect(lastAttempt().error_message).toContain("is marked @revoked");
  });
});

describe("ssh: connection failures", () => {
  test("refused port: exit code 255, message names host:port", async () => {
    knownHosts(...allHostKeys());
    const port = await freePort();
    const r = await cli(sb, ["run", sshWorkflow({ command: "true", port })]);
    expect(r.code).toBe(7);
    const a = lastAttempt();
    expect(a.status).toBe("failed");
    expect(a.exit_code).toBe(255);
    expect(a.error_message).toBe(`ssh ${sshd.user}@127.0.0.1:${port}: connection refused (is sshd running, and is the port right?)`);
  });

  test("connect timeout against a port that accepts TCP but never speaks SSH", async () => {
    knownHosts(...allHostKeys());
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => {
      sockets.push(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    try {
      const r = await cli(sb, ["run", sshWorkflow({ command: "true", port, connectTimeout: 1, timeout: 60 })]);
      expect(r.code).toBe(7);
      const a = lastAttempt();
      expect(a.status).toBe("failed");
      expect(a.exit_code).toBe(255);
      expect(a.error_message).toContain(`127.0.0.1:${port}: connection timed out after 1s: no SSH handshake`);
      expect(sockets.length).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("a task timeout shorter than the connect timeout ends the attempt as a timeout (124)", async () => {
    knownHosts(...allHostKeys());
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => {
      sockets.push(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    try {
      const r = await cli(sb, ["run", sshWorkflow({ command: "true", port, connectTimeout: 30, timeout: 1 })]);
      expect(r.code).toBe(8);
      const a = lastAttempt();
      expect(a.status).toBe("timeout");
      expect(a.exit_code).toBe(124);
      expect(a.error_message).toBe("timed out after 1s");
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("validate accepts ssh tasks without connecting anywhere", async () => {
    const r = await cli(sb, ["validate", sshWorkflow({ command: "true", port: 1 })]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("1 ssh");
  });
});

describe("known_hosts parsing (pure)", () => {
  const blob = (type: string, body: string) => {
    const t = Buffer.from(type);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(t.length);
    return Buffer.concat([len, t, Buffer.from(body)]);
  };
  const ed = blob("ssh-ed25519", "key-one");
  const ed2 = blob("ssh-ed25519", "key-two");
  const rsa = blob("ssh-rsa", "rsa-key");

  test("lookup names follow OpenSSH: bare host on 22, [host]:port otherwise, lower case", () => {
    expect(lookupName("Pi.Local", 22)).toBe("pi.local");
    expect(lookupName("Pi.Local", 2222)).toBe("[pi.local]:2222");
    expect(lookupName("::1", 2222)).toBe("[::1]:2222");
  });

  test.each([
    ["pi.local", "pi.local", 22, true],
    ["PI.local", "pi.local", 22, true],
    ["pi.local", "pi.local", 2222, false],
    ["[pi.local]:2222", "pi.local", 2222, true],
    ["[pi.local]:22", "pi.local", 22, false],
    ["other,pi.local", "pi.local", 22, true],
    ["*.local", "pi.local", 22, true],
    ["pi.loca?", "pi.local", 22, true],
    ["*.local,!pi.local", "pi.local", 22, false],
    ["192.168.1.*", "192.168.1.50", 22, true],
    ["192.168.1.5", "192.168.1.50", 22, false],
  ] as const)("%s matches %s port %d: %p", (field, host, port, want) => {
    expect(hostFieldMatches(field, host, port)).toBe(want);
  });

  test("comments, blank lines, CRLF, unknown markers and corrupt lines are skipped", () => {
    const text = [
      "# comment",
      "",
      `pi.local ssh-ed25519 ${ed.toString("base64")} me@host\r`,
      `@weird pi.local ssh-ed25519 ${ed.toString("base64")}`,
      `pi.local ssh-rsa ${ed.toString("base64")}`, // type disagrees with the blob
      "pi.local ssh-ed25519 not*base64",
      "pi.local",
    ].join("\n");
    const entries = parseKnownHosts(text, "kh");
    expect(entries.map((e) => [e.line, e.hosts, e.keyType])).toEqual([[3, "pi.local", "ssh-ed25519"]]);
  });

  test("verdicts: known, changed, other type only, unknown, revoked", () => {
    const entries = parseKnownHosts(
      [`pi.local ssh-ed25519 ${ed.toString("base64")}`, `nas ssh-rsa ${rsa.toString("base64")}`, `@revoked * ssh-ed25519 ${ed2.toString("base64")}`].join("\n"),
      "kh",
    );
    expect(verifyHostKey(entries, "pi.local", 22, ed)).toMatchObject({ ok: true });
    expect(verifyHostKey(entries, "pi.local", 22, blob("ssh-ed25519", "other"))).toMatchObject({ ok: false, kind: "changed" });
    expect(verifyHostKey(entries, "nas", 22, ed)).toMatchObject({ ok: false, kind: "other-type", knownTypes: ["ssh-rsa"] });
    expect(verifyHostKey(entries, "new", 22, ed)).toMatchObject({ ok: false, kind: "unknown" });
    expect(verifyHostKey(entries, "pi.local", 22, ed2)).toMatchObject({ ok: false, kind: "revoked" });
  });

  test("known key types are asked for first; SHA-1 ssh-rsa is never offered", () => {
    expect(preferredHostKeyAlgorithms(["ssh-rsa"]).slice(0, 2)).toEqual(["rsa-sha2-512", "rsa-sha2-256"]);
    expect(preferredHostKeyAlgorithms([])[0]).toBe("ssh-ed25519");
    expect(preferredHostKeyAlgorithms(["ssh-rsa", "ssh-dss"])).not.toContain("ssh-rsa");
    expect(preferredHostKeyAlgorithms(["ssh-rsa", "ssh-dss"])).not.toContain("ssh-dss");
  });
});
