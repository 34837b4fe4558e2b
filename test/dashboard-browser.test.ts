// The dashboard in a real browser: Debian's chromium, headless, driven by puppeteer-core.
// The page is served by src/web/ui-server.ts's routes from source (Bun bundles it on the first
// request). Until the daemon mounts the JSON API, /api/v1/workflows here answers with the real
// output of `picoflow workflow list --format json` for a seeded database: the same shape.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { SECURITY_HEADERS } from "../src/sys/http-server.ts";
import { serveDashboard } from "../src/web/ui-server.ts";
import { cli, sandbox } from "./helpers.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const XSS = "<script>alert(1)</script>";

let server: ReturnType<typeof Bun.serve>;

/** The daemon's server adds these to every response; under them an inline script would not run. */
function withHeaders(res: Response): Response {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
  return res;
}
let browser: Browser;
const sb = sandbox();

beforeAll(async () => {
  // A workflow whose description and output carry markup, run once so it has a status.
  const wf = sb.workflow(`name: xss-demo
description: "${XSS}"
tasks:
  - name: hello
    type: shell
    config:
      command: /bin/sh
      args: ["-c", "echo '${XSS}'"]
`);
  expect((await cli(sb, ["run", wf])).code).toBe(0);
  const list = await cli(sb, ["workflow", "list", "--format", "json"]);
  expect(list.code).toBe(0);
  const workflows = JSON.parse(list.stdout);
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    development: false,
    routes: { "/api/v1/workflows": () => Response.json(workflows) },
    fetch: async (req) => withHeaders((await serveDashboard(req)) ?? new Response("not found\n", { status: 404 })),
  });
  // Tests run as root in CI, where Chromium's sandbox cannot start.
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop(true);
  sb.cleanup();
});

/** Open the dashboard, collecting console errors, page errors and dialogs as they happen. */
async function open(width: number, height: number) {
  const page: Page = await browser.newPage();
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await page.setViewport({ width, height });
  await page.goto(`http://127.0.0.1:${server.port}/`, { waitUntil: "networkidle0" });
  await page.waitForSelector("[data-workflow]");
  return { page, errors, dialogs };
}

describe("dashboard in a browser", () => {
  test("lists the seeded workflow, with markup shown as text and no console errors", async () => {
    const { page, errors, dialogs } = await open(1280, 800);
    const text = await page.$eval('[data-workflow="xss-demo"] .description', (el) => el.textContent);
    expect(text).toBe(XSS);
    // No element was made from the data: the page has only its own module script.
    expect(await page.$$eval("main script", (els) => els.length)).toBe(0);
    expect(await page.$eval('[data-workflow="xss-demo"] .status', (el) => el.textContent)).toBe("success");
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("the page's JS and CSS stay within the 250 KB budget, uncompressed", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const html = await (await fetch(`${base}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith(".js")) && assets.some((a) => a.endsWith(".css"))).toBe(true);
    let total = 0;
    for (const a of assets) {
      const res = await fetch(new URL(a, `${base}/`));
      expect(res.status).toBe(200);
      total += (await res.arrayBuffer()).byteLength;
    }
    expect(total).toBeLessThanOrEqual(250 * 1024);
  });

  test("a 390×844 phone screen has no horizontal scrolling", async () => {
    const { page, errors } = await open(390, 844);
    const [scrollWidth, clientWidth] = await page.$eval("html", (el) => [el.scrollWidth, el.clientWidth]);
    expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
    expect(errors).toEqual([]);
    await page.close();
  });
});
