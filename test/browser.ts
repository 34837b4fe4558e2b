// Shared by the dashboard's browser tests: Debian's chromium, headless, driven by
// puppeteer-core; a real daemon (or `picoflow dashboard`) serving the page on a free loopback
// port; and a page opener that records console errors, failed requests and dialogs.
// Set CHROMIUM_PATH to use another Chromium. With PICOFLOW_SCREENSHOTS=1, `screenshot()` writes
// docs/img/NAME.png (how the README's pictures are made); otherwise it does nothing.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type BrowserContext, type Page } from "puppeteer-core";
import { ROOT, startDaemon, waitFor, type Daemon, type Sandbox } from "./helpers.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** A web token of the right length, for tests that need one. */
export const TOKEN = "t".repeat(16) + "0123456789abcdef";

export async function launchBrowser(): Promise<Browser> {
  // Tests run as root in CI, where Chromium's sandbox cannot start.
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}

export interface Served {
  daemon: Daemon;
  /** http://127.0.0.1:PORT (no trailing slash). */
  base: string;
}

/**
 * `daemon start ARGS` with the metrics/web server on a free loopback port; `env` adds to the
 * daemon's environment (PICOFLOW_WEB_TOKEN, say). Resolves once the server's URL is logged.
 */
export async function serveDaemon(sb: Sandbox, args: string[], env: Record<string, string> = {}): Promise<Served> {
  const daemon = await startDaemon(sb, args, { PICOFLOW_METRICS_PORT: "0", PICOFLOW_LOG_FORMAT: "json", ...env });
  const url = await waitFor(() => daemon.lines().find((l) => l.msg === "serving metrics")?.url as string | undefined, 20_000, "the server's URL");
  return { daemon, base: url.replace(/\/metrics$/, "") };
}

export interface Opened {
  page: Page;
  /** Console errors, page errors and failed requests, as they happened. */
  errors: string[];
  /** Messages of dialogs that opened (each dismissed). */
  dialogs: string[];
}

/**
 * Open `url` in a new page of `size` (default 1280×800), recording errors and dialogs. Pages of
 * one browser share cookies; pass `browser.createBrowserContext()` for a page without them.
 */
export async function openPage(browser: Browser | BrowserContext, url: string, size = { width: 1280, height: 800 }): Promise<Opened> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => {
    // An EventSource or fetch the page closed itself on navigation is not an error.
    if (r.failure()?.errorText !== "net::ERR_ABORTED") errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await page.setViewport(size);
  await page.goto(url, { waitUntil: "domcontentloaded" });
  return { page, errors, dialogs };
}

/** The page scrolls sideways? (scrollWidth beyond the viewport) */
export async function scrollsSideways(page: Page): Promise<boolean> {
  const [scrollWidth, clientWidth] = await page.$eval("html", (el) => [el.scrollWidth, el.clientWidth]);
  return scrollWidth > clientWidth;
}

/** docs/img/NAME.png, only when PICOFLOW_SCREENSHOTS=1. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.PICOFLOW_SCREENSHOTS !== "1") return;
  const dir = join(ROOT, "docs/img");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) as `${string}.png` });
}
