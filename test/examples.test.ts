// The files in examples/ as a user takes them: hello.yaml run the way the README says, the
// systemd unit's command line and environment run for real, and the unit with its Raspberry
// Pi hardware drop-in checked by systemd-analyze.

import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { cli, FAST_CONFIG, picoflowCommand, sandbox, scheduled, waitFor } from "./helpers.ts";

const ROOT = resolve(import.meta.dir, "..");
const EXAMPLES = join(ROOT, "examples");
const UNIT = join(EXAMPLES, "picoflow.service");
const DROP_IN = join(EXAMPLES, "picoflow.service.d/pi-hardware.conf");

describe("examples/hello.yaml", () => {
  // README: `npm run hello` (bun src/main.ts run examples/hello.yaml), then `picoflow logs hello`.
  for (const [user, greeting] of [
    [undefined, "Hello from PicoFlow, friend"],
    ["", "Hello from PicoFlow, friend"],
    ["pi", "Hello from PicoFlow, pi"],
  ] as const) {
    test(`with USER ${user === undefined ? "unset" : `'${user}'`} it greets '${greeting.split(", ")[1]}'`, async () => {
      const s = sandbox();
      try {
        const env = { ...s.env };
        delete env.USER;
        if (user !== undefined) env.USER = user;
        const run = await cli({ ...s, env }, ["run", join(EXAMPLES, "hello.yaml")]);
        expect(run.code).toBe(0);
        expect(run.stdout).toContain("hello: success");
        expect(run.stderr).not.toContain("USER");
        const logs = await cli(s, ["logs", "hello", "--task", "greet"]);
        expect(logs.code).toBe(0);
        expect(logs.stdout).toContain(`${greeting}\n`);
      } finally {
        s.cleanup();
      }
    });
  }

  test("the README's commands after `npm run hello` give a working `picoflow`", async () => {
    const s = sandbox();
    try {
      expect((await cli(s, ["run", join(EXAMPLES, "hello.yaml")])).code).toBe(0);
      const readme = readFileSync(join(ROOT, "README.md"), "utf8");
      const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes("alias picoflow="));
      expect(block).toBeDefined();
      // In the project directory, as the README says; the database is the sandbox's (the
      // README's is ./picoflow.db), and the Bun running this test is the one "on your PATH".
      const p = Bun.spawn(["bash", "-c", `shopt -s expand_aliases\nset -e\n${block}`], {
        cwd: ROOT,
        env: { ...s.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, PICOFLOW_DB_PATH: s.db },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      expect({ code, err }).toEqual({ code: 0, err: "" });
      expect(out).toMatch(/^hello\s+success\s/m); // status
      expect(out).toContain("Hello from PicoFlow, "); // logs hello
    } finally {
      s.cleanup();
    }
  });
});

/** `Key=value` lines of a unit file's [Service] section, in order. */
function serviceLines(unit: string): [string, string][] {
  const section = unit.split(/^\[Service\]$/m)[1]!.split(/^\[/m)[0]!;
  return section
    .split("\n")
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
}

describe("examples/picoflow.service", () => {
  test("its ExecStart, run with the unit's environment: every .yaml and .yml file, the config file's database, found by the CLI", async () => {
    const s = sandbox("");
    // The unit's absolute paths, moved into the sandbox.
    const etc = join(s.dir, "etc/picoflow");
    const state = join(s.dir, "var/lib/picoflow");
    mkdirSync(join(etc, "workflows"), { recursive: true });
    mkdirSync(state, { recursive: true });
    const moved = (v: string) => v.replaceAll("/etc/picoflow", etc).replaceAll("/var/lib/picoflow", state);
    const db = join(state, "picoflow.db");
    s.file("etc/picoflow/config.toml", `db_path = "${db}"\n${FAST_CONFIG}\n[metrics]\nenabled = false\n`);
    s.file("etc/picoflow/workflows/a.yaml", scheduled("a", "0 0 0 1 1 *", "/bin/true"));
    s.file("etc/picoflow/workflows/b.yml", scheduled("b", "0 0 0 1 1 *", "/bin/true"));
    // A PICOFLOW_DB_PATH put in /etc/picoflow/environment, next to the secrets.
    s.file("etc/picoflow/environment", `PICOFLOW_DB_PATH=${join(s.dir, "elsewhere.db")}\n`);

    // What systemd does with the lines: Environment=, then EnvironmentFile=, then
    // UnsetEnvironment= removes names from the result; ExecStart= in WorkingDirectory=.
    const env: Record<string, string> = { ...s.env };
    let argv: string[] = [];
    let cwd = s.dir;
    for (const [key, value] of serviceLines(readFileSync(UNIT, "utf8"))) {
      if (key === "Environment") {
        const [k, ...v] = value.split("=");
        env[k!] = moved(v.join("="));
      } else if (key === "EnvironmentFile") {
        for (const line of readFileSync(moved(value.replace(/^-/, "")), "utf8").split("\n")) {
          if (line.includes("=")) env[line.slice(0, line.indexOf("="))] = line.slice(line.indexOf("=") + 1);
        }
      } else if (key === "WorkingDirectory") cwd = moved(value);
      else if (key === "ExecStart") argv = moved(value).split(" ");
    }
    for (const [key, value] of serviceLines(readFileSync(UNIT, "utf8"))) {
      if (key === "UnsetEnvironment") for (const name of value.split(" ")) delete env[name];
    }
    expect(argv[0]).toBe("/usr/local/bin/picoflow");
    const daemon = Bun.spawn([...picoflowCommand(), ...argv.slice(1)], { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    let log = "";
    const reading = (async () => {
      for await (const chunk of daemon.stderr) log += new TextDecoder().decode(chunk);
    })();
    try {
      await Promise.race([
        waitFor(() => log.includes('"daemon started"'), 30_000, "daemon start"),
        daemon.exited.then((code) => {
          throw new Error(`daemon exited ${code}:\n${log}`);
        }),
      ]);
      expect(existsSync(db)).toBe(true);
      expect(existsSync(join(s.dir, "elsewhere.db"))).toBe(false);

      // You, from your own directory, with only the config file (/etc/picoflow/config.toml
      // is found by default; here it is named): the same database, the same PID file.
      const status = await cli(s, ["daemon", "status", "--format", "json"], { PICOFLOW_CONFIG: join(etc, "config.toml") });
      expect(status.code).toBe(0);
      const report = JSON.parse(status.stdout);
      expect(report).toMatchObject({ status: "running", pid: daemon.pid, pid_file: join(state, "picoflow.pid") });
      expect(report.workflows.map((w: any) => [w.name, w.file])).toEqual([
        ["a", join(etc, "workflows/a.yaml")],
        ["b", join(etc, "workflows/b.yml")],
      ]);
    } finally {
      daemon.kill("SIGTERM");
      await daemon.exited;
      await reading;
      s.cleanup();
    }
  });

  const analyze = Bun.which("systemd-analyze");

  /** Copy the unit (and the drop-in, if asked) with ExecStart pointed at a stand-in: verify requires the program to exist. */
  function installed(dir: string, dropIn: string | null): string {
    mkdirSync(dir);
    const bin = join(dir, "picoflow");
    writeFileSync(bin, "#!/bin/sh\n");
    chmodSync(bin, 0o755);
    const unit = join(dir, "picoflow.service");
    writeFileSync(unit, readFileSync(UNIT, "utf8").replaceAll("/usr/local/bin/picoflow", bin));
    if (dropIn !== null) {
      mkdirSync(join(dir, "picoflow.service.d"));
      writeFileSync(join(dir, "picoflow.service.d/pi-hardware.conf"), dropIn);
    }
    return unit;
  }

  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const p = Bun.spawn([analyze!, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, SYSTEMD_LOG_LEVEL: "notice", SYSTEMD_COLORS: "0" } });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, out, err };
  }

  test.skipIf(!analyze)("with the Pi hardware drop-in: systemd-analyze verify is clean, and devices are opened only as listed", async () => {
    const s = sandbox("");
    try {
      const plain = installed(join(s.dir, "plain"), null);
      const withDropIn = installed(join(s.dir, "pi"), readFileSync(DROP_IN, "utf8"));
      expect(await run(["verify", "--man=no", plain])).toEqual({ code: 0, out: "", err: "" });
      expect(await run(["verify", "--man=no", withDropIn])).toEqual({ code: 0, out: "", err: "" });

      // The drop-in is read from beside the unit (a mistake in it is reported) ...
      const broken = installed(join(s.dir, "broken"), "[Service]\nDeviceAlow=char-i2c rw\n");
      expect((await run(["verify", "--man=no", broken])).err).toContain("pi-hardware.conf:2: Unknown key 'DeviceAlow'");

      // ... and changes what the service may open: the real /dev, behind a closed device list.
      const before = (await run(["security", "--offline=yes", plain])).out;
      const after = (await run(["security", "--offline=yes", withDropIn])).out;
      expect(before).toMatch(/✓ PrivateDevices=/);
      expect(after).toMatch(/✗ PrivateDevices=/);
      const allow = after.split("\n").find((l) => /DeviceAllow=/.test(l))!;
      for (const d of ["char-gpiochip:rw", "char-*gpiomem*:rw", "char-i2c:rw", "char-spi:rw", "char-video4linux:rw", "char-media:rw", "char-dma_heap:rw", "char-vchiq:rw", "char-vcio:rw"]) {
        expect(allow).toContain(d);
      }
      expect(readFileSync(DROP_IN, "utf8")).toMatch(/^SupplementaryGroups=gpio i2c spi video$/m);
      expect(readFileSync(DROP_IN, "utf8")).toMatch(/^DevicePolicy=closed$/m);
    } finally {
      s.cleanup();
    }
  });
});
