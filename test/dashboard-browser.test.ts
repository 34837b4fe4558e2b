// The dashboard's overview, stats, daemon and login pages in a real browser (Debian's chromium,
// headless, puppeteer-core) against a real daemon serving them: workflows run by the real CLI
// seed the database; actions go through the page (login form, in-page confirmation dialog) and
// are checked in the database and the CLI's JSON. With PICOFLOW_SCREENSHOTS=1 it writes
// docs/img/overview*.png and stats.png.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Browser, Page } from "puppeteer-core";
import { launchBrowser, openPage, screenshot, scrollsSideways, serveDaemon, TOKEN, type Served } from "./browser.ts";
import { cli, FAST_CONFIG, rows, sandboxMaker, waitFor, type Sandbox } from "./helpers.ts";

setDefaultTimeout(60_000);

const XSS = "<script>alert(1)</script>";
const sb = sandboxMaker(`${FAST_CONFIG}\n[daemon]\nshutdown_grace_seconds = 5\n`);

/** Workflows of the seeded database: one with markup, one scheduled (to pause), one failing. */
function seedFiles(s: Sandbox) {
  return {
    xss: s.workflow(
      `name: xss-demo
description: "${XSS}"
tasks:
  - name: hello
    type: shell
    config: { command: /bin/sh, args: ["-c", "echo '${XSS}'"] }
`,
      "xss.yaml",
    ),
    nightly: s.workflow(
      `name: nightly
description: Backs up the photos
schedule: "0 0 3 * * *"
tasks:
  - name: copy
    type: shell
    config: { command: /bin/echo, args: ["copied"] }
  - name: verify
    type: shell
    depends_on: [copy]
    config: { command: /bin/echo, args: ["ok"] }
`,
      "nightly.yaml",
    ),
    broken: s.workflow(
      `name: broken
tasks:
  - name: fails
    type: shell
    retry: 0
    config: { command: /bin/sh, args: ["-c", "exit 3"] }
`,
      "broken.yaml",
    ),
  };
}

/** A sandbox whose database has runs of every seeded workflow (two of nightly), and an invalid file. */
async function seeded(): Promise<Sandbox> {
  const s = sb();
  const f = seedFiles(s);
  for (const file of [f.xss, f.nightly, f.nightly]) expect((await cli(s, ["run", file])).code).toBe(0);
  expect((await cli(s, ["run", f.broken])).code).not.toBe(0);
  s.file("invalid.yaml", "name: invalid\ntasks: [\n");
  return s;
}

const runsOf = (s: Sandbox, wf: string) => rows<{ n: number }>(s.db, "SELECT count(*) AS n FROM workflow_executions WHERE workflow_name = ?", wf)[0]!.n;

async function pausedInCli(s: Sandbox, wf: string): Promise<boolean> {
  const r = await cli(s, ["workflow", "list", "--format", "json"]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { name: string; paused: boolean }[]).find((w) => w.name === wf)!.paused;
}

/** Click an action button of a workflow's card and answer its dialog: confirm or Esc. */
async function act(page: Page, wf: string, label: string, answer: "confirm" | "escape") {
  const [button] = await page.$$(`xpath/.//li[@data-workflow="${wf}"]//span[@class="action"]/button[normalize-space(.)="${label}"]`);
  expect(button).toBeDefined();
  await button!.click();
  await page.waitForSelector("dialog.confirm[open]");
  // Focus starts on the confirm button: Enter confirms, Esc cancels.
  expect(await page.$eval("dialog.confirm button.primary", (b) => b === b.ownerDocument.activeElement)).toBe(true);
  await page.keyboard.press(answer === "confirm" ? "Enter" : "Escape");
  await page.waitForSelector("dialog.confirm", { hidden: true });
}

describe("with a web token: login, overview, actions, stats, daemon", () => {
  let s: Sandbox;
  let served: Served;
  let browser: Browser;
  beforeAll(async () => {
    s = await seeded();
    served = await serveDaemon(s, [s.dir], { PICOFLOW_WEB_TOKEN: TOKEN });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    expect(await served?.daemon.stop()).toBe(0);
  });

  test("without the token: the login form, 'wrong token' for a wrong one, and a POST from the page is 401", async () => {
    const context = await browser.createBrowserContext();
    try {
      const { page, errors } = await openPage(context, `${served.base}/`);
      await page.waitForSelector("form.login");
      expect(await page.$("[data-workflow]")).toBeNull();
      const status = await page.evaluate(async () => (await fetch("/api/v1/workflows/nightly/trigger", { method: "POST" })).status);
      expect(status).toBe(401);
      await page.type("#token", "not-the-token-0123456789abcdef0123456");
      await page.click("form.login button[type=submit]");
      await page.waitForSelector("#login-error");
      expect(await page.$eval("#login-error", (el) => el.textContent)).toBe("wrong token");
      expect(runsOf(s, "nightly")).toBe(2);
      // The browser logs a failed fetch (401) as a console error: those are the only ones.
      expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("log in through the form: the overview lists the workflows with their run strips, markup as text", async () => {
    const { page, errors, dialogs } = await openPage(browser, `${served.base}/`);
    await page.waitForSelector("form.login");
    await page.type("#token", TOKEN);
    await page.click("form.login button[type=submit]");
    await page.waitForSelector("[data-workflow]");
    const names = await page.$$eval("ul.workflows > li[data-workflow]", (els) => els.map((e) => e.getAttribute("data-workflow")));
    expect(names.sort()).toEqual(["broken", "nightly", "xss-demo"]);

    // The description with markup is text; nothing from the data became an element.
    expect(await page.$eval('[data-workflow="xss-demo"] .description', (el) => el.textContent)).toBe(XSS);
    expect(await page.$$eval("main script", (els) => els.length)).toBe(0);
    expect(await page.$eval('[data-workflow="xss-demo"] .status', (el) => el.textContent)).toBe("success");
    expect(await page.$eval('[data-workflow="broken"] .status', (el) => el.className)).toContain("status-failed");

    // The strip: one link per run, oldest first, coloured by status, to the run's page.
    const strip = await page.$$eval('[data-workflow="nightly"] ol.strip a', (els) => els.map((a) => [a.className, a.getAttribute("href"), a.getAttribute("title")]));
    const ids = rows<{ id: string }>(s.db, "SELECT id FROM workflow_executions WHERE workflow_name = 'nightly' ORDER BY started_at");
    expect(strip.map((x) => x[1])).toEqual(ids.map((r) => `#/runs/${r.id}`));
    expect(strip.every(([cls, , title]) => cls === "run status-success" && title!.startsWith("success · "))).toBe(true);
    expect(await page.$eval('[data-workflow="broken"] ol.strip a', (a) => a.className)).toBe("run status-failed");
    expect(await page.$$eval('[data-workflow="nightly"] .trend svg polyline', (els) => els.length)).toBe(1);
    // A logged-in visitor with a token-configured daemon gets the buttons, not the hint.
    expect(await page.$(".hint")).toBeNull();
    expect(await page.$("header button.logout")).not.toBeNull();

    await screenshot(page, "overview");
    expect(dialogs).toEqual([]);
    expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    await page.close();
  });

  test("trigger asks in the page (Esc cancels), then starts a run the database records", async () => {
    const { page, errors, dialogs } = await openPage(browser, `${served.base}/`);
    await page.waitForSelector('[data-workflow="nightly"] .actions');
    await act(page, "nightly", "Trigger", "escape");
    expect(runsOf(s, "nightly")).toBe(2);

    await act(page, "nightly", "Trigger", "confirm");
    const link = await page.waitForSelector('[data-workflow="nightly"] .action-result a');
    const id = (await link!.evaluate((a) => a.getAttribute("href")))!.replace("#/runs/", "");
    const run = await waitFor(() => rows(s.db, "SELECT workflow_name, trigger, status FROM workflow_executions WHERE id = ? AND status = 'success'", id)[0], 20_000, "the triggered run");
    expect(run).toEqual({ workflow_name: "nightly", trigger: "trigger", status: "success" });
    expect(runsOf(s, "nightly")).toBe(3);
    // The strip picks it up (the overview reloads after an action).
    await page.waitForFunction(`document.querySelectorAll('[data-workflow="nightly"] ol.strip a').length === 3`);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("pause, then resume, change the workflow's paused state", async () => {
    const { page, errors } = await openPage(browser, `${served.base}/`);
    await page.waitForSelector('[data-workflow="nightly"] .actions');
    expect(await pausedInCli(s, "nightly")).toBe(false);
    await act(page, "nightly", "Pause", "confirm");
    await page.waitForSelector('[data-workflow="nightly"] .badge.paused');
    expect(await pausedInCli(s, "nightly")).toBe(true);
    await act(page, "nightly", "Resume", "confirm");
    await page.waitForSelector('[data-workflow="nightly"] .badge.paused', { hidden: true });
    expect(await pausedInCli(s, "nightly")).toBe(false);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("an action whose cookie is gone: 401, the login form, no run", async () => {
    const context = await browser.createBrowserContext();
    try {
      const { page, errors } = await openPage(context, `${served.base}/`);
      await page.waitForSelector("form.login");
      await page.type("#token", TOKEN);
      await page.keyboard.press("Enter");
      await page.waitForSelector('[data-workflow="nightly"] .actions');
      const before = runsOf(s, "nightly");
      await context.deleteCookie(...(await context.cookies()));
      await act(page, "nightly", "Trigger", "confirm");
      await page.waitForSelector("form.login");
      expect(runsOf(s, "nightly")).toBe(before);
      expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("log out: the login form again, and reading needs the token again", async () => {
    const context = await browser.createBrowserContext();
    try {
      const { page, errors } = await openPage(context, `${served.base}/`);
      await page.waitForSelector("form.login");
      await page.type("#token", TOKEN);
      await page.keyboard.press("Enter");
      await page.waitForSelector("header button.logout");
      await page.click("header button.logout");
      await page.waitForSelector("form.login");
      expect(await page.evaluate(async () => (await fetch("/api/v1/overview")).status)).toBe(401);
      expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("stats: totals as text, charts per workflow, a 7/30/90 days switch", async () => {
    const { page, errors } = await openPage(browser, `${served.base}/#/stats`);
    await page.waitForSelector('.stats-workflow[data-workflow="nightly"] canvas');
    const names = await page.$$eval(".stats-workflow", (els) => els.map((e) => e.getAttribute("data-workflow")).sort());
    expect(names).toEqual(["broken", "nightly", "xss-demo"]);
    expect(await page.$eval('.stats-workflow[data-workflow="broken"] .totals', (el) => el.textContent)).toContain("1 run · 0 succeeded · 1 failed · success 0%");
    expect(await page.$$eval('.stats-workflow[data-workflow="nightly"] .uplot', (els) => els.length)).toBe(3);
    expect(await page.$eval('.periods a[aria-current="page"]', (a) => a.textContent)).toBe("30 days");
    await screenshot(page, "stats");

    // The switch is links: keyboard-usable, and the period shows in the URL.
    await page.click(".periods a:first-child");
    await page.waitForFunction(`document.querySelector('.periods a[aria-current="page"]')?.textContent === "7 days"`);
    expect(new URL(page.url()).hash).toBe("#/stats?days=7");
    await page.waitForSelector('.stats-workflow[data-workflow="nightly"] canvas');
    expect(errors).toEqual([]);
    await page.close();
  });

  test("daemon: state, version, loaded workflows, and the invalid file with its message as text", async () => {
    const { page, errors } = await openPage(browser, `${served.base}/#/daemon`);
    await page.waitForSelector(".daemon-facts");
    const facts = await page.$eval(".daemon-facts", (el) => el.textContent);
    expect(facts).toContain("running");
    expect(facts).toContain(String(served.daemon.pid));
    // The build, as `picoflow --version` names it: "(source)" from source, "(commit …, date)" from a binary.
    const version = (await cli(s, ["--version"])).stdout;
    const build = /\(([^)]+)\)/.exec(version)![1]!;
    expect(facts).toContain(`(${build})`);
    const loaded = await page.$$eval(".daemon-workflows li", (els) => els.map((e) => e.getAttribute("data-workflow")).sort());
    expect(loaded).toEqual(["broken", "nightly", "xss-demo"]);
    expect(await page.$eval('.daemon-workflows [data-workflow="nightly"]', (el) => el.textContent)).toContain("0 0 3 * * *");
    const invalid = await page.$eval(".invalid-files", (el) => el.textContent);
    expect(invalid).toContain("invalid.yaml");
    expect(await page.$eval(".invalid-files pre.problems", (el) => el.textContent)).toContain("invalid.yaml:");
    expect(errors).toEqual([]);
    await page.close();
  });

  test("a 390×844 phone screen has no horizontal scrolling on the overview, stats and daemon pages", async () => {
    for (const [path, ready] of [
      ["#/", '[data-workflow="nightly"] ol.strip'],
      ["#/stats", '.stats-workflow[data-workflow="nightly"] canvas'],
      ["#/daemon", ".invalid-files"],
    ] as const) {
      const { page, errors } = await openPage(browser, `${served.base}/${path}`, { width: 390, height: 844 });
      await page.waitForSelector(ready);
      expect({ path, sideways: await scrollsSideways(page) }).toEqual({ path, sideways: false });
      if (path === "#/") await screenshot(page, "overview-phone");
      expect(errors).toEqual([]);
      await page.close();
    }
  });

  test("the page's JS and CSS stay within the 250 KB budget, uncompressed", async () => {
    const html = await (await fetch(`${served.base}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith(".js")) && assets.some((a) => a.endsWith(".css"))).toBe(true);
    let total = 0;
    for (const a of assets) {
      const res = await fetch(new URL(a, `${served.base}/`));
      expect(res.status).toBe(200);
      total += (await res.arrayBuffer()).byteLength;
    }
    expect(total).toBeLessThanOrEqual(250 * 1024);
  });
});

describe("without a web token", () => {
  let s: Sandbox;
  let served: Served;
  let browser: Browser;
  beforeAll(async () => {
    s = await seeded();
    served = await serveDaemon(s, [s.dir]);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    expect(await served?.daemon.stop()).toBe(0);
  });

  test("reading works without logging in; no action buttons, a hint how to enable them", async () => {
    const { page, errors } = await openPage(browser, `${served.base}/`);
    await page.waitForSelector('[data-workflow="nightly"]');
    expect(await page.$("form.login")).toBeNull();
    expect(await page.$$(".actions button")).toEqual([]);
    expect(await page.$eval(".hint", (el) => el.textContent)).toContain("[web] token");
    expect(await page.$("header button.logout")).toBeNull();
    const status = await page.evaluate(async () => (await fetch("/api/v1/workflows/nightly/trigger", { method: "POST" })).status);
    expect(status).toBe(401);
    expect(runsOf(s, "nightly")).toBe(2);
    expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    await page.close();
  });

  test("dark mode follows the system: a dark page with light text, a light page with dark text", async () => {
    const luminance = (rgb: string) => {
      const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    for (const scheme of ["light", "dark"] as const) {
      const { page, errors } = await openPage(browser, "about:blank");
      await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
      await page.goto(`${served.base}/`, { waitUntil: "domcontentloaded" });
      await page.waitForSelector('[data-workflow="nightly"]');
      const [bg, fg, card] = await page.evaluate(() => {
        const style = (sel: string) => getComputedStyle(document.querySelector(sel)!);
        return [style("body").backgroundColor, style("body").color, style('[data-workflow="nightly"]').backgroundColor];
      });
      if (scheme === "dark") expect([luminance(bg) < 60, luminance(card) < 80, luminance(fg) > 180]).toEqual([true, true, true]);
      else expect([luminance(bg) > 200, luminance(card) > 200, luminance(fg) < 80]).toEqual([true, true, true]);
      expect(errors).toEqual([]);
      await page.close();
    }
  });

  test("the keyboard reaches every page: Tab to the nav, Enter follows the link", async () => {
    const { page, errors } = await openPage(browser, `${served.base}/`);
    await page.waitForSelector('[data-workflow="nightly"]');
    const visited: string[] = [];
    for (const label of ["Runs", "Stats", "Daemon", "Overview"]) {
      // Tab from the top of the page until the nav link has the focus.
      await page.evaluate(() => (document.activeElement as { blur?: () => void } | null)?.blur?.());
      let focused = "";
      for (let i = 0; i < 10 && focused !== label; i++) {
        await page.keyboard.press("Tab");
        focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? "");
      }
      expect(focused).toBe(label);
      // A visible focus ring: the focused link has an outline.
      expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe("none");
      await page.keyboard.press("Enter");
      await page.waitForFunction((l) => document.querySelector('nav a[aria-current="page"]')?.textContent === l, {}, label);
      visited.push(await page.evaluate(() => location.hash));
    }
    expect(visited).toEqual(["#/runs", "#/stats", "#/daemon", "#/"]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
