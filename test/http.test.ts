// HTTP executor end to end: `picoflow run` against a real Bun.serve server on 127.0.0.1:0.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { maskSecrets, StreamMasker } from "../src/secrets.ts";
import { cli, rows, sandbox, waitFor, type Sandbox } from "./helpers.ts";
import { freePort } from "./sshd.ts";

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

let server: ReturnType<typeof Bun.serve>;
let base: string;
let sb: Sandbox;
const seen: Seen[] = [];
const huge = { sent: 0, cancelled: false };
const MiB = 1024 * 1024;

beforeAll(() => {
  sb = sandbox();
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 30,
    async fetch(req) {
      const url = new URL(req.url);
      const body = await req.text();
      const headers = Object.fromEntries(req.headers);
      seen.push({ method: req.method, path: url.pathname, headers, body });
      const [, route, arg] = url.pathname.split("/");
      switch (route) {
        case "echo":
          return Response.json({ method: req.method, headers, body });
        case "status": {
          const code = Number(arg);
          const extra: Record<string, string> = code >= 300 && code < 400 ? { location: `${base}/redirected` } : {};
          return new Response(`body of ${code}`, { status: code, headers: extra });
        }
        case "slow":
          await Bun.sleep(5000);
          return new Response("too late");
        case "stall-body":
          // Headers at once, then a body that never finishes.
          return new Response(
            new ReadableStream({
              async pull(c) {
                c.enqueue(new TextEncoder().encode("first part;"));
                await Bun.sleep(5000);
                c.close();
              },
            }),
          );
        case "huge":
          huge.sent = 0;
          huge.cancelled = false;
          // 1 GiB on demand: far more than the 10 MiB cap, and far more than should be read.
          return new Response(
            new ReadableStream({
              pull(c) {
                if (huge.sent >= 1024 * MiB) return c.close();
                const chunk = new Uint8Array(64 * 1024).fill(0x78);
                huge.sent += chunk.length;
                c.enqueue(chunk);
              },
              cancel() {
                huge.cancelled = true;
              },
            }),
            { headers: { "content-type": "text/plain" } },
          );
        case "big-known":
          // 12 MiB with a Content-Length.
          return new Response(new Uint8Array(12 * MiB).fill(0x79));
        case "pad":
          // Two lines, then ARG dots, then the Authorization header as received.
          return new Response(`line one\n${".".repeat(Number(arg))}${req.headers.get("authorization") ?? ""}\nend`);
        case "whoami": {
          // What a server makes of Basic auth: the user and the password, decoded.
          const basic = (req.headers.get("authorization") ?? "").replace(/^Basic /, "");
          const decoded = Buffer.from(basic, "base64").toString("utf8");
          const colon = decoded.indexOf(":");
          return new Response(`user=${decoded.slice(0, colon)} password=${decoded.slice(colon + 1)}\n`);
        }
        case "split-echo": {
          // The Authorization header echoed in two pieces, split inside the token.
          const auth = req.headers.get("authorization") ?? "";
          const mid = Math.floor(auth.length / 2) + 3;
          return new Response(
            new ReadableStream({
              async start(c) {
                c.enqueue(new TextEncoder().encode(`auth was: ${auth.slice(0, mid)}`));
                await Bun.sleep(700);
                c.enqueue(new TextEncoder().encode(`${auth.slice(mid)}\n`));
                c.close();
              },
            }),
            { status: Number(url.searchParams.get("status") ?? 200) },
          );
        }
      }
      return new Response("not here", { status: 404 });
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(() => {
  server?.stop(true);
  sb?.cleanup();
});

interface HttpTask {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  requestTimeout?: number;
  retry?: number;
  /** More config keys, as written in YAML (expect_status, ca_cert, auth, ...). */
  extra?: Record<string, unknown>;
}

function httpWorkflow(t: HttpTask): string {
  const config: Record<string, unknown> = { url: t.url, method: t.method ?? "GET" };
  if (t.headers) config.headers = t.headers;
  if (t.body !== undefined) config.body = t.body;
  if (t.requestTimeout) config.timeout = t.requestTimeout;
  Object.assign(config, t.extra);
  // JSON is YAML: the config goes in as one flow mapping.
  return sb.workflow(`
name: web
tasks:
  - name: call
    type: http
    retry: ${t.retry ?? 0}
    timeout: 60
    config: ${JSON.stringify(config)}
`);
}

function attempts() {
  return rows(sb.db, "SELECT * FROM task_executions WHERE task_name = 'call' ORDER BY rowid");
}
const last = () => attempts().at(-1)!;

describe("http: requests", () => {
  test.each([["GET"], ["post"], ["Put"], ["DELETE"], ["PATCH"], ["HEAD"], ["OPTIONS"]])("method %s (any case)", async (method: string) => {
    const before = seen.length;
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/echo`, method })]);
    expect(r.stderr).not.toContain("picoflow:");
    expect(r.code).toBe(0);
    expect(seen.slice(before).map((s) => s.method)).toEqual([method.toUpperCase()]);
    const a = last();
    expect(a.status).toBe("success");
    expect(a.exit_code).toBe(0);
    expect(a.http_status).toBe(200);
    if (method === "HEAD") expect(a.stdout).toBe("");
    else expect(JSON.parse(a.stdout).method).toBe(method.toUpperCase());
  });

  test("JSON body: serialised, Content-Type application/json added", async () => {
    const body = { name: "New Resource", size: 3, tags: ["a", "b"], nested: { ok: true, none: null } };
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/echo`, method: "POST", body })]);
    expect(r.code).toBe(0);
    const got = seen.at(-1)!;
    expect(got.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(got.body)).toEqual(body);
    expect(JSON.parse(last().stdout).body).toBe(JSON.stringify(body));
  });

  test("a Content-Type set by the user is kept", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/echo`, method: "PUT", headers: { "content-type": "application/vnd.api+json" }, body: [1, 2] })]);
    expect(r.code).toBe(0);
    expect(seen.at(-1)!.headers["content-type"]).toBe("application/vnd.api+json");
    expect(seen.at(-1)!.body).toBe("[1,2]");
  });

  test("custom headers with ${VAR} expansion; a default User-Agent unless set", async () => {
    let r = await cli(sb, ["run", httpWorkflow({ url: `${base}/echo`, headers: { "X-Request-Id": "req-${REQ}", Accept: "text/plain" } })], { REQ: "42" });
    expect(r.code).toBe(0);
    let h = seen.at(-1)!.headers;
    expect(h["x-request-id"]).toBe("req-42");
    expect(h.accept).toBe("text/plain");
    expect(h["user-agent"]).toMatch(/^PicoFlow\/\d+\.\d+\.\d+/);
    r = await cli(sb, ["run", httpWorkflow({ url: `${base}/echo`, headers: { "User-Agent": "mine/1.0" } })]);
    expect(r.code).toBe(0);
    h = seen.at(-1)!.headers;
    expect(h["user-agent"]).toBe("mine/1.0");
    // Not a credential header and not from ${VAR}: shown as is.
    expect(JSON.parse(last().stdout).headers["user-agent"]).toBe("mine/1.0");
  });
});

describe("http: status codes", () => {
  test("3xx is a failure and is not followed", async () => {
    const before = seen.length;
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/status/301` })]);
    expect(r.code).toBe(3);
    const a = last();
    expect(a.status).toBe("failed");
    expect(a.exit_code).toBe(1);
    expect(a.http_status).toBe(301);
    expect(a.error_message).toBe(`GET ${base}/status/301: HTTP 301 Moved Permanently (redirect to ${base}/redirected; redirects are not followed)`);
    expect(seen.slice(before).map((s) => s.path)).toEqual(["/status/301"]);
    expect(r.stdout).toContain("HTTP 301");
  });

  test("4xx: failure, status and body recorded", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/status/404` })]);
    expect(r.code).toBe(3);
    const a = last();
    expect(a.exit_code).toBe(1);
    expect(a.http_status).toBe(404);
    expect(a.stdout).toBe("body of 404");
    expect(a.error_message).toContain("HTTP 404 Not Found");
    // The status stays visible where users look.
    const st = await cli(sb, ["status", "--workflow", "web"]);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/call\s+failed.*HTTP 404/);
  });

  test("5xx: failure, retried, each attempt records its status", async () => {
    const before = attempts().length;
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/status/503`, retry: 1 })]);
    expect(r.code).toBe(3);
    const mine = attempts().slice(before);
    expect(mine.map((a) => [a.attempt, a.status, a.exit_code, a.http_status])).toEqual([
      [1, "failed", 1, 503],
      [2, "failed", 1, 503],
    ]);
  });

  test("2xx other than 200 is success", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/status/204`, method: "DELETE" })]);
    expect(r.code).toBe(0);
    expect(last().http_status).toBe(204);
    expect(last().exit_code).toBe(0);
  });
});

describe("http: failures without a response", () => {
  test("a slow server hits the request timeout", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/slow`, requestTimeout: 1 })]);
    expect(r.code).toBe(8);
    const a = last();
    expect(a.status).toBe("timeout");
    expect(a.exit_code).toBe(1);
    expect(a.http_status).toBeNull();
    expect(a.error_message).toBe(`GET ${base}/slow: no response within 1s (config.timeout)`);
  });

  test("the request timeout also covers reading the body", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/stall-body`, requestTimeout: 1 })]);
    expect(r.code).toBe(8);
    const a = last();
    expect(a.status).toBe("timeout");
    expect(a.http_status).toBe(200);
    expect(a.stdout).toBe("first part;");
    expect(a.error_message).toContain("HTTP 200, but the body did not arrive within 1s");
  });

  test("connection refused", async () => {
    const port = await freePort();
    const r = await cli(sb, ["run", httpWorkflow({ url: `http://127.0.0.1:${port}/x`, method: "post" })]);
    expect(r.code).toBe(7);
    const a = last();
    expect(a.status).toBe("failed");
    expect(a.exit_code).toBe(1);
    expect(a.http_status).toBeNull();
    expect(a.error_message).toBe(`POST http://127.0.0.1:${port}/x: connection refused`);
  });

  test("TLS certificates are verified: a self-signed certificate is refused", async () => {
    const key = join(sb.dir, "tls.key");
    const cert = join(sb.dir, "tls.crt");
    const gen = Bun.spawn(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"], {
      stdout: "ignore",
      stderr: "ignore",
    });
    expect(await gen.exited).toBe(0);
    const tls = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { key: Bun.file(key), cert: Bun.file(cert) }, fetch: () => new Response("secret page") });
    try {
      const r = await cli(sb, ["run", httpWorkflow({ url: `https://127.0.0.1:${tls.port}/` })]);
      expect(r.code).toBe(7);
      const a = last();
      expect(a.exit_code).toBe(1);
      expect(a.stdout).toBe("");
      expect(a.error_message).toContain("TLS certificate verification failed");
    } finally {
      tls.stop(true);
    }
  });
});

describe("http: large bodies", () => {
  test("a huge streamed body: 10 MiB kept, the rest never read", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/huge` })]);
    expect(r.code).toBe(0);
    const a = rows(sb.db, "SELECT status, http_status, length(stdout) AS n, substr(stdout, 1, 4) AS head, substr(stdout, -100) AS tail FROM task_executions ORDER BY rowid DESC LIMIT 1")[0]!;
    expect(a.status).toBe("success");
    expect(a.http_status).toBe(200);
    expect(a.head).toBe("xxxx");
    expect(a.n).toBeGreaterThan(10 * MiB);
    expect(a.n).toBeLessThan(10 * MiB + 120);
    expect(a.tail).toContain(`[picoflow: response body truncated: kept ${10 * MiB} bytes; the rest was not read]`);
    // The client hung up: the server stopped producing long before its 1 GiB.
    await waitFor(() => huge.cancelled, 10_000, "the server to see the body cancelled");
    expect(huge.sent).toBeLessThan(512 * MiB);
  });

  test("a body larger than the cap with a Content-Length: the marker gives the full size", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/big-known` })]);
    expect(r.code).toBe(0);
    const a = rows(sb.db, "SELECT length(stdout) AS n, substr(stdout, -100) AS tail FROM task_executions ORDER BY rowid DESC LIMIT 1")[0]!;
    expect(a.n).toBeLessThan(10 * MiB + 120);
    expect(a.tail).toContain(`[picoflow: response body truncated: kept ${10 * MiB} of ${12 * MiB} bytes; the rest was not read]`);
  });
});

describe("http: secrets", () => {
  const TOKEN = "tok-5ec7e7-a1b2c3d4e5f6-do-not-leak";
  const KEY = "k3y-7766554433-private";

  /** Every 10-character piece of each secret: half a token is a leak too. */
  const pieces = [TOKEN, KEY].flatMap((s) => Array.from({ length: s.length - 9 }, (_, i) => s.slice(i, i + 10)));

  function assertNowhere(text: string | Buffer, where: string) {
    for (const p of pieces) {
      if (text.includes(p)) throw new Error(`part of a secret (${p}) found in ${where}`);
    }
  }

  test("credential headers and ${VAR} header values never reach the database or the logs", async () => {
    const headers = { Authorization: "Bearer ${API_TOKEN}", "X-Custom": "key=${API_KEY}" };
    const env = { API_TOKEN: TOKEN, API_KEY: KEY };
    const runs = [
      // Success: the server echoes every header back in the body.
      httpWorkflow({ url: `${base}/echo`, method: "POST", headers, body: { hello: "world" } }),
      // Failure with a retry, the token split across two pieces of live output.
      httpWorkflow({ url: `${base}/split-echo?status=500`, headers, retry: 1 }),
    ];
    let logs = "";
    for (const wf of runs) {
      const r = await cli(sb, ["--log-level", "trace", "run", wf], env);
      logs += r.stdout + r.stderr;
    }
    // The requests really carried the secrets.
    const sent = seen.filter((s) => s.headers.authorization === `Bearer ${TOKEN}`);
    expect(sent.length).toBe(3);
    expect(sent.every((s) => s.headers["x-custom"] === `key=${KEY}`)).toBe(true);

    for (const cmd of [["logs", "--workflow", "web"], ["status", "--workflow", "web"]]) {
      const r = await cli(sb, ["--log-level", "trace", ...cmd]);
      expect(r.code).toBe(0);
      logs += r.stdout + r.stderr;
    }
    expect(logs).toContain("auth was: ***");
    assertNowhere(logs, "picoflow's stdout/stderr");
    // Debug-level lines of the executor were on, and still said nothing secret.
    expect(logs).toContain('"msg":"http request"');

    const echo = attempts().find((a) => a.stdout?.includes("hello"))!;
    const echoed = JSON.parse(echo.stdout);
    // The whole value of a credential header is a secret, and so is its credential part.
    expect(echoed.headers.authorization).toBe("***");
    expect(echoed.headers["x-custom"]).toBe("key=***");
    const split = attempts().filter((a) => a.stdout?.startsWith("auth was:"));
    expect(split.map((a) => a.stdout)).toEqual(["auth was: ***\n", "auth was: ***\n"]);
    expect(split.map((a) => a.http_status)).toEqual([500, 500]);

    // Every byte SQLite wrote: the database, and the WAL and shared memory if left behind.
    for (const file of [sb.db, `${sb.db}-wal`, `${sb.db}-shm`, `${sb.db}-journal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      assertNowhere(bytes, file);
      assertNowhere(bytes.toString("utf16le"), `${file} (as UTF-16)`);
    }
  });

  test("the password in a URL's user:password@ part is masked too", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `http://user:${TOKEN}@127.0.0.1:${await freePort()}/x` })]);
    expect(r.code).toBe(7);
    assertNowhere(r.stdout + r.stderr, "output");
    expect(last().error_message).toContain("connection refused");
    assertNowhere(JSON.stringify(last()), "the stored attempt");
  });
});

describe("http: validation", () => {
  test.each([
    ["ftp://example.org/file", "unsupported scheme 'ftp' (use http or https)"],
    ["not a url", "'not a url' is not a valid URL"],
    ["https://${NO_SUCH_VAR}", "is not a valid URL"],
  ])("url %s is a validation error (exit 2) before anything runs", async (url, message) => {
    const wf = httpWorkflow({ url });
    for (const cmd of ["validate", "run"]) {
      const r = await cli(sb, [cmd, wf]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      // One error line (an unset variable adds a warning line that names it).
      expect(r.stderr.trim().split("\n").filter((l) => !l.includes(": warning: ")).length).toBe(1);
    }
  });

  test("a body on GET or HEAD is a validation error", async () => {
    const r = await cli(sb, ["validate", httpWorkflow({ url: `${base}/echo`, method: "get", body: { a: 1 } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("tasks[0].config.body: a GET request cannot have a body (use POST, PUT or PATCH)");
  });

  test("an unknown method is a validation error", async () => {
    const r = await cli(sb, ["validate", httpWorkflow({ url: `${base}/echo`, method: "FETCH" })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS (any case)");
  });
});

describe("http: expect_status and expect_body", () => {
  test("expect_status: the listed statuses succeed (a 3xx too), others fail with what came back", async () => {
    const extra = { expect_status: [200, 204, 302] };
    for (const code of [204, 302]) {
      const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/status/${code}`, extra })]);
      expect(r.code).toBe(0);
      expect([last().status, last().exit_code, last().http_status]).toEqual(["success", 0, code]);
    }
    const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/status/503`, extra })]);
    // An unexpected status is an ordinary failure (3), not a connection failure (7).
    expect(r.code).toBe(3);
    const a = last();
    expect([a.status, a.exit_code, a.http_status]).toEqual(["failed", 1, 503]);
    expect(a.error_message).toBe(`GET ${base}/status/503: expected 200, 204 or 302, got HTTP 503 Service Unavailable`);
    // A single status: a 2xx that is not it fails too.
    const one = await cli(sb, ["run", httpWorkflow({ url: `${base}/echo`, extra: { expect_status: 201 } })]);
    expect(one.code).toBe(3);
    expect(last().error_message).toBe(`GET ${base}/echo: expected 201, got HTTP 200 OK`);
  });

  test("expect_body: a match succeeds, a mismatch fails showing the body's start on one line", async () => {
    let r = await cli(sb, ["run", httpWorkflow({ url: `${base}/echo`, extra: { expect_body: '"method":\\s*"GET"' } })]);
    expect(r.code).toBe(0);
    expect(last().status).toBe("success");

    r = await cli(sb, ["run", httpWorkflow({ url: `${base}/pad/3`, extra: { expect_body: "^status: ok" } })]);
    expect(r.code).toBe(3);
    const a = last();
    expect([a.status, a.exit_code, a.http_status]).toEqual(["failed", 1, 200]);
    expect(a.stdout).toBe("line one\n...\nend");
    expect(a.error_message).toBe(`GET ${base}/pad/3: the body does not match expect_body /^status: ok/: the body starts 'line one\\n...\\nend'`);
    // A long body: its first 200 characters.
    r = await cli(sb, ["run", httpWorkflow({ url: `${base}/pad/500`, extra: { expect_body: "nothing like this" } })]);
    expect(r.code).toBe(3);
    expect(last().error_message).toEndWith(`the body starts 'line one\\n${".".repeat(191)}'…`);
  });

  test("the body's start in the error is masked, also where the cut falls inside a secret", async () => {
    const TOKEN = "tok-77aa88bb99cc-expect-body-secret";
    const headers = { Authorization: "Bearer ${TOKEN}" };
    const pieces = Array.from({ length: TOKEN.length - 9 }, (_, i) => TOKEN.slice(i, i + 10));
    // 9 + 3 dots: the secret well inside the 200 characters; 9 + 167: the cut at 200 falls in its middle.
    for (const dots of [3, 167]) {
      const r = await cli(sb, ["run", httpWorkflow({ url: `${base}/pad/${dots}`, headers, extra: { expect_body: "^status: ok" } })], { TOKEN });
      expect(r.code).toBe(3);
      expect(seen.at(-1)!.headers.authorization).toBe(`Bearer ${TOKEN}`);
      const error = last().error_message as string;
      expect(error).toContain(`the body starts 'line one\\n${".".repeat(dots)}`);
      if (dots === 3) expect(error).toEndWith("...***\\nend'");
      for (const p of pieces) expect(error).not.toContain(p);
      for (const p of pieces) expect(r.stdout + r.stderr).not.toContain(p);
    }
  });

  test("an invalid expect_body regex is a validation error", async () => {
    const r = await cli(sb, ["validate", httpWorkflow({ url: `${base}/echo`, extra: { expect_body: "(unclosed" } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/:\d+:\d+: tasks\[0\]\.config\.expect_body: not a valid regular expression/);
  });
});

describe("http: basic auth", () => {
  const PASSWORD = "pä55-w0rd-b4s1c-never-shown";

  test("auth is sent as Basic base64(user:password) in UTF-8; the password never shows", async () => {
    const wf = httpWorkflow({ url: `${base}/whoami`, extra: { auth: { username: "admin", password: "${NAS_PASSWORD}" } } });
    const r = await cli(sb, ["--log-level", "trace", "run", wf], { NAS_PASSWORD: PASSWORD });
    expect(r.code).toBe(0);
    const b64 = Buffer.from(`admin:${PASSWORD}`, "utf8").toString("base64");
    expect(seen.at(-1)!.headers.authorization).toBe(`Basic ${b64}`);
    // The server decoded it (so it was UTF-8); what it said back is stored masked.
    expect(last().stdout).toBe("user=admin password=***\n");
    // And the same with the Basic header echoed back, on a failing attempt.
    const echo = await cli(sb, ["run", httpWorkflow({ url: `${base}/pad/1`, extra: { auth: { username: "admin", password: PASSWORD }, expect_body: "^x" } })]);
    expect(echo.code).toBe(3);
    expect(last().error_message).toContain("'line one\\n.Basic ***\\nend'");

    let shown = r.stdout + r.stderr + echo.stdout + echo.stderr;
    for (const cmd of [["status", "--workflow", "web"], ["logs", "--workflow", "web"]]) {
      const out = await cli(sb, cmd);
      expect(out.code).toBe(0);
      shown += out.stdout + out.stderr;
    }
    const pieces = [PASSWORD, b64].flatMap((s) => Array.from({ length: s.length - 9 }, (_, i) => s.slice(i, i + 10)));
    for (const p of pieces) expect(shown).not.toContain(p);
    for (const file of [sb.db, `${sb.db}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      for (const p of pieces) expect(bytes.includes(p)).toBe(false);
    }
  });
});

describe("http: TLS with a private CA (ca_cert, insecure)", () => {
  let tls: ReturnType<typeof Bun.serve>;
  let url: string;
  let caCert: string;
  let otherCa: string;
  let serverKey: string;

  async function openssl(...args: string[]) {
    const p = Bun.spawn(["openssl", ...args], { cwd: sb.dir, stdout: "ignore", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`openssl ${args[0]}: ${err}`);
  }

  beforeAll(async () => {
    // A CA, and a server certificate for IP:127.0.0.1 signed by it (a SAN: the CN alone is not checked).
    await openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=PicoFlow test CA");
    await openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=Another CA");
    await openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
    sb.file("san.cnf", "subjectAltName=IP:127.0.0.1\n");
    await openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.cnf");
    caCert = join(sb.dir, "ca.pem");
    otherCa = join(sb.dir, "other-ca.pem");
    serverKey = join(sb.dir, "server.key");
    tls = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { key: Bun.file(serverKey), cert: Bun.file(join(sb.dir, "server.pem")) },
      fetch(req) {
        const [, route, arg] = new URL(req.url).pathname.split("/");
        if (route === "status") return new Response(`tls ${arg}`, { status: Number(arg) });
        return new Response("hello over tls");
      },
    });
    url = `https://127.0.0.1:${tls.port}`;
  });

  afterAll(() => {
    tls?.stop(true);
  });

  test("without ca_cert the private CA is not trusted; with it the request succeeds", async () => {
    let r = await cli(sb, ["run", httpWorkflow({ url: `${url}/` })]);
    expect(r.code).toBe(7);
    expect(last().error_message).toContain("TLS certificate verification failed");
    expect(last().error_message).toContain("for a self-signed or private CA, set ca_cert");
    expect(last().stdout).toBe("");

    r = await cli(sb, ["run", httpWorkflow({ url: `${url}/`, extra: { ca_cert: caCert } })]);
    expect(r.stderr).not.toContain("picoflow:");
    expect(r.code).toBe(0);
    expect([last().status, last().http_status, last().stdout]).toEqual(["success", 200, "hello over tls"]);

    // Another CA's certificate does not vouch for this server, and ca_cert replaces the system's roots.
    r = await cli(sb, ["run", httpWorkflow({ url: `${url}/`, extra: { ca_cert: otherCa } })]);
    expect(r.code).toBe(7);
    expect(last().error_message).toContain(`TLS certificate verification failed`);
    expect(last().error_message).toContain(`trusted: only the certificates in ca_cert ${otherCa}`);
  });

  test("insecure: true skips verification and says so once per run, not once per attempt", async () => {
    const r = await cli(sb, ["run", httpWorkflow({ url: `${url}/status/503`, retry: 2, extra: { insecure: true } })]);
    expect(r.code).toBe(3);
    const mine = attempts().slice(-3);
    expect(mine.map((a) => [a.attempt, a.http_status, a.stdout])).toEqual([
      [1, 503, "tls 503"],
      [2, 503, "tls 503"],
      [3, 503, "tls 503"],
    ]);
    const note = "[picoflow: TLS certificate verification is off for this request (insecure: true)]\n";
    expect(mine.map((a) => a.stderr)).toEqual([note, "", ""]);
    const warnings = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === "TLS certificate verification is off (insecure: true)");
    expect(warnings.map((w) => [w.level, w.task, w.url])).toEqual([["warn", "call", `${url}/status/503`]]);

    // A second run is another run: said again.
    const ok = await cli(sb, ["run", httpWorkflow({ url: `${url}/`, extra: { insecure: true } })]);
    expect(ok.code).toBe(0);
    expect([last().status, last().stdout, last().stderr]).toEqual(["success", "hello over tls", note]);
    expect(ok.stderr).toContain('"msg":"TLS certificate verification is off (insecure: true)"');
  });

  test("a missing or non-PEM ca_cert is a validation error at its position, every one at once", async () => {
    const notPem = sb.file("not-a-cert.pem", "hello, I am not a certificate\n");
    const broken = sb.file("broken.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
    const missing = join(sb.dir, "no-such-ca.pem");
    const cases: [string, string][] = [
      [missing, "no such file or directory"],
      [notPem, "not a PEM certificate file (no -----BEGIN CERTIFICATE----- block)"],
      [serverKey, "not a PEM certificate file (no -----BEGIN CERTIFICATE----- block; it holds a private key, not a certificate)"],
      [broken, "not a PEM certificate file (its certificate does not parse)"],
      [sb.dir, "not a regular file"],
    ];
    const text = `name: bad-ca\ntasks:\n${cases
      .map(([path], i) => `  - name: t${i}\n    type: http\n    config:\n      url: "${url}/"\n      method: GET\n      ca_cert: ${path}\n`)
      .join("")}`;
    const file = sb.workflow(text);
    for (const cmd of ["validate", "run"]) {
      const r = await cli(sb, [cmd, file]);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toEqual(
        cases.map(([path, why], i) => {
          const offset = text.indexOf(`ca_cert: ${path}\n`) + "ca_cert: ".length;
          const line = text.slice(0, offset).split("\n").length;
          const col = offset - text.lastIndexOf("\n", offset - 1);
          return `${file}:${line}:${col}: tasks[${i}].config.ca_cert: '${path}': ${why}`;
        }),
      );
    }
  });

  test("ca_cert is read when the task runs: gone by then, the task fails saying so", async () => {
    const copy = sb.file("short-lived-ca.pem", readFileSync(caCert, "utf8"));
    const file = sb.workflow(`
name: web
tasks:
  - name: remove_ca
    type: shell
    config: { command: /bin/rm, args: ["${copy}"] }
  - name: call
    type: http
    depends_on: [remove_ca]
    config: { url: "${url}/", method: GET, ca_cert: "${copy}" }
`);
    const r = await cli(sb, ["run", file]);
    expect(r.code).toBe(3);
    expect([last().status, last().exit_code, last().http_status]).toEqual(["failed", 1, null]);
    expect(last().error_message).toBe(`GET ${url}/: ca_cert ${copy}: no such file or directory`);
  });

  test("ca_cert on an http:// URL is a warning (it is only used for https)", async () => {
    const file = httpWorkflow({ url: `${base}/echo`, extra: { ca_cert: caCert } });
    const r = await cli(sb, ["validate", file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/:\d+:\d+: warning: tasks\[0\]\.config\.ca_cert: ca_cert is only used for https \(the url is http\)/);
  });
});

describe("masking live output that arrives in pieces", () => {
  test("a secret split anywhere across pieces is masked as if the text came whole", () => {
    const secrets = ["Bearer tok-123456", "tok-123456", "abc"];
    const text = "a Bearer tok-123456 b tok-123456tok-123456 ab abc tok-12 c\n";
    const whole = maskSecrets(text, secrets);
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        const m = new StreamMasker(secrets);
        const out = [text.slice(0, i), text.slice(i, j), text.slice(j)].map((p) => m.push(p)).join("");
        expect(out).toBe(whole);
      }
    }
  });

  test("a possible start of a secret is held back until the next piece shows what it is", () => {
    const m = new StreamMasker(["s3cret-value"]);
    expect(m.push("value: s3cr")).toBe("value: ");
    expect(m.push("et-value and s3")).toBe("*** and ");
    expect(m.push("x\n")).toBe("s3x\n");
  });

  test("no secrets: pieces pass through untouched", () => {
    const m = new StreamMasker([]);
    expect(m.push("anything")).toBe("anything");
  });
});
