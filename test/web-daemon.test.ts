// The daemon's HTTP server and the dashboard: a real daemon on port 0 serves the page at `/`
// and its assets with the security headers (CSP without inline script, nosniff, no framing);
// `[web] enabled = false` takes the page and the API away and leaves /metrics and /healthz.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { FAST_CONFIG, sandboxMaker, startDaemon, waitFor, type Daemon, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

const sb = sandboxMaker();
const HELLO = `
name: hello
tasks:
  - name: greet
    type: shell
    config: { command: /bin/echo, args: ["hi"] }
`;

/** A daemon of `config` serving on a free loopback port, and its http://127.0.0.1:PORT. */
async function serve(config: string): Promise<{ s: Sandbox; d: Daemon; base: string }> {
  const s = sb(config);
  s.workflow(HELLO, "hello.yaml");
  const d = await startDaemon(s, [s.dir], { PICOFLOW_METRICS_PORT: "0" });
  const url = await waitFor(() => d.lines().find((l) => l.msg === "serving metrics")?.url as string | undefined, 20_000, "the server's URL");
  return { s, d, base: url.replace(/\/metrics$/, "") };
}

function expectSecurityHeaders(res: Response): void {
  const csp = res.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe-inline");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
}

describe("[web] enabled (the default)", () => {
  let d: Daemon;
  let base: string;
  beforeAll(async () => {
    ({ d, base } = await serve(FAST_CONFIG));
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  test("/ is the page, with CSP, nosniff and frame-ancestors, and no inline script", async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expectSecurityHeaders(res);
    const html = await res.text();
    expect(html).toContain("<title>PicoFlow</title>");
    // Every <script> has a src: an inline one would be blocked by the CSP.
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) expect(tag).toContain("src=");
    expect(html).not.toMatch(/<script\b[^>]*>\s*[^<\s]/);
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN
  });

  test("its JS, CSS and icon are served, with the headers and their types", async () => {
    const html = await (await fetch(`${base}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="\.?\/?([^"]+\.(js|css|svg))"/g)].map((m) => ({ path: m[1]!, ext: m[2]! }));
    expect(assets.map((a) => a.ext).sort()).toEqual(expect.arrayContaining(["css", "js"]));
    const types: Record<string, string> = { js: "javascript", css: "text/css", svg: "image/svg+xml" };
    for (const a of assets) {
      const res = await fetch(`${base}/${a.path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(types[a.ext]!);
      expectSecurityHeaders(res);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
  });

  test("/metrics, /healthz and the API still answer beside it; an unknown path is 404 with the headers", async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/workflows`)).status).toBe(200);
    const missing = await fetch(`${base}/no-such-file.js`);
    expect(missing.status).toBe(404);
    expectSecurityHeaders(missing);
  });
});

describe("[web] enabled = false", () => {
  let d: Daemon;
  let base: string;
  beforeAll(async () => {
    ({ d, base } = await serve(`${FAST_CONFIG}\n[web]\nenabled = false\n`));
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  test("/ and /api/v1/... are 404, with the security headers", async () => {
    for (const path of ["/", "/index.html", "/api/v1/workflows", "/api/v1/overview", "/api/v1/session"]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(404);
      expectSecurityHeaders(res);
    }
    expect((await fetch(`${base}/api/v1/workflows/hello/trigger`, { method: "POST" })).status).toBe(404);
  });

  test("/metrics and /healthz work", async () => {
    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toContain("picoflow_");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
