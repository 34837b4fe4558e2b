// The runs list and a run's page in a real browser (Debian's chromium, headless, through
// puppeteer-core), against a real daemon with a web token: runs triggered through its API, the
// browser logged in on the page's form. Covers the SVG DAG's nodes and status classes, handlers
// drawn apart, live logs over SSE, output shown as text, retry, filters and paging, console
// errors and a phone-sized screen.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { launchBrowser, openPage, screenshot, scrollsSideways, serveDaemon, TOKEN, type Served } from "./browser.ts";
import { FAST_CONFIG, sandbox, waitFor } from "./helpers.ts";

setDefaultTimeout(60_000);

const XSS = "<script>alert(1)</script>";
const PHONE = { width: 390, height: 844 };
const sb = sandbox(FAST_CONFIG);
const flag = join(sb.dir, "go-on");
let served: Served;
let browser: Browser;
const auth = { authorization: `Bearer ${TOKEN}` };

/** A diamond whose left branch fails: a success, b failed, c success, d skipped; two handlers. */
sb.workflow(
  `name: diamond
config: { retry_default: 0 }
tasks:
  - { name: a, type: shell, config: { command: /bin/echo, args: ["a ran"] } }
  - { name: b, type: shell, depends_on: [a], config: { command: /bin/sh, args: ["-c", "echo b breaks >&2; exit 3"] } }
  - { name: c, type: shell, depends_on: [a], config: { command: /bin/echo, args: ["c ran"] } }
  - { name: d, type: shell, depends_on: [b, c], config: { command: /bin/echo, args: ["d ran"] } }
on_failure:
  - { name: tell, type: shell, config: { command: /bin/echo, args: ["told"] } }
on_exit:
  - { name: bye, type: shell, config: { command: /bin/echo, args: ["bye"] } }
`,
  "diamond.yaml",
);
sb.workflow(
  `name: talker
tasks:
  - name: talk
    type: shell
    config:
      command: /bin/sh
      args: ["-c", "echo first-line; while [ ! -e '${flag}' ]; do sleep 0.05; done; echo second-line"]
`,
  "talker.yaml",
);
sb.workflow(
  `name: markup
tasks:
  - { name: hello, type: shell, config: { command: /bin/sh, args: ["-c", "echo '${XSS}'"] } }
`,
  "markup.yaml",
);
sb.workflow(`name: tick\ntasks:\n  - { name: t, type: shell, config: { command: /bin/true } }\n`, "tick.yaml");

/** POST /api/v1/workflows/NAME/trigger with the token: the new execution's id. */
async function trigger(name: string): Promise<string> {
  const res = await fetch(`${served.base}/api/v1/workflows/${name}/trigger`, { method: "POST", headers: auth });
  expect(res.status).toBe(202);
  return ((await res.json()) as { execution_id: string }).execution_id;
}

async function execution(id: string): Promise<Record<string, any>> {
  const res = await fetch(`${served.base}/api/v1/executions/${id}`, { headers: auth });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
}

/** Trigger a workflow and wait until its run has ended. */
async function runToEnd(name: string): Promise<string> {
  const id = await trigger(name);
  await waitFor(async () => !["running", "pending"].includes((await execution(id)).status), 20_000, `${name} to end`);
  return id;
}

let diamond: string;
let markup: string;

beforeAll(async () => {
  served = await serveDaemon(sb, [sb.dir], { PICOFLOW_WEB_TOKEN: TOKEN });
  diamond = await runToEnd("diamond");
  for (let i = 0; i < 3; i++) await runToEnd("tick");
  markup = await runToEnd("markup");
  browser = await launchBrowser();
  // Log in once on the page's form: the cookie then serves every page of this browser.
  const { page } = await openPage(browser, `${served.base}/#/runs`);
  await page.waitForSelector("input#token");
  await page.type("input#token", TOKEN);
  await page.click("form.login button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("form.login") && document.querySelector("main h1")?.textContent !== "Log in");
  expect((await page.cookies()).some((c) => c.name === "picoflow_token")).toBe(true);
  await page.close();
});

afterAll(async () => {
  writeFileSync(flag, ""); // should the live test have failed early: let its task end
  await browser?.close();
  await served?.daemon.stop();
  sb.cleanup();
});

/** Open a dashboard page (hash route) and wait for `selector`. */
async function open(hash: string, selector: string, size?: { width: number; height: number }) {
  const opened = await openPage(browser, `${served.base}/${hash}`, size);
  await opened.page.waitForSelector(selector);
  return opened;
}

/** Focus a DAG node (an SVG element, which puppeteer's page.focus refuses) as Tab would. */
const focusNode = (page: Page, name: string) => page.$eval(`svg.dag .node[data-task="${name}"]`, (el) => (el as unknown as { focus(): void }).focus());
const nodeClass = (page: Page, name: string) => page.$eval(`svg.dag .node[data-task="${name}"]`, (el) => el.getAttribute("class") ?? "");

describe("a run's page", () => {
  test("draws one SVG node per DAG task with its status class, and the handlers apart", async () => {
    const { page, errors } = await open(`#/runs/${diamond}`, "svg.dag .node");
    expect(await page.$$eval("svg.dag g.tasks > .node", (els) => els.map((e) => e.getAttribute("data-task")).sort())).toEqual(["a", "b", "c", "d"]);
    expect(await nodeClass(page, "a")).toContain("status-success");
    expect(await nodeClass(page, "b")).toContain("status-failed");
    expect(await nodeClass(page, "c")).toContain("status-success");
    expect(await nodeClass(page, "d")).toContain("status-skipped");
    // The handlers, in the order they ran, in their own group.
    expect(await page.$$eval("svg.dag g.handlers > .node.handler", (els) => els.map((e) => e.getAttribute("data-task")))).toEqual(["tell", "bye"]);
    expect(await nodeClass(page, "tell")).toContain("status-success");
    expect(await page.$$eval("svg.dag .edge", (els) => els.map((e) => `${e.getAttribute("data-from")}>${e.getAttribute("data-to")}`).sort())).toEqual(["a>b", "a>c", "b>d", "c>d"]);
    expect(await page.$eval('svg.dag .node[data-task="b"]', (el) => [el.getAttribute("role"), el.getAttribute("tabindex"), el.getAttribute("aria-label")])).toEqual(["button", "0", "task b: failed"]);
    // With no task in the link, the failed one is shown: its attempt, exit code and stderr.
    await page.waitForSelector('.task[data-task="b"] .attempt pre.stderr');
    expect(await page.$eval('.task[data-task="b"] .attempt', (el) => el.textContent)).toContain("exit 3");
    expect(await page.$eval('.task[data-task="b"] pre.stderr', (el) => el.textContent)).toBe("b breaks\n");
    await screenshot(page, "dashboard-run");
    // The keyboard selects a task: its skipped reason; another: its output.
    await focusNode(page, "d");
    await page.keyboard.press("Enter");
    await page.waitForSelector('.task[data-task="d"]');
    expect(await page.$eval('.task[data-task="d"] .reason', (el) => el.textContent)).toContain("upstream 'b' failed");
    await focusNode(page, "c");
    await page.keyboard.press("Enter");
    await page.waitForSelector('.task[data-task="c"] pre.stdout');
    expect(await page.$eval('.task[data-task="c"] pre.stdout', (el) => el.textContent)).toBe("c ran\n");
    expect(page.url()).toEndWith(`#/runs/${diamond}?task=c`);
    // A handler is a task like the others: a click shows its output.
    await page.click('svg.dag .node[data-task="tell"]');
    await page.waitForSelector('.task[data-task="tell"] pre.stdout');
    expect(await page.$eval('.task[data-task="tell"] pre.stdout', (el) => el.textContent)).toBe("told\n");
    expect(errors).toEqual([]);
    await page.close();
  });

  test("shows live output while a task prints, and the run's end, without a reload", async () => {
    const id = await trigger("talker");
    const { page, errors } = await open(`#/runs/${id}?task=talk`, ".task .logs");
    await page.evaluate(() => (window.sameDocument = true));
    await page.waitForFunction(() => document.querySelector(".task pre.stdout")?.textContent?.includes("first-line"));
    // The task waits for the file: the run and the task are running (the page polls the run).
    await page.waitForFunction(() => document.querySelector(".run h1 .status")?.textContent === "running");
    await page.waitForFunction(() => document.querySelector('svg.dag .node[data-task="talk"]')?.classList.contains("status-running"));
    expect(await page.$eval(".task pre.stdout", (el) => el.textContent)).toBe("first-line\n");
    writeFileSync(flag, "");
    await page.waitForFunction(() => document.querySelector(".task pre.stdout")?.textContent === "first-line\nsecond-line\n");
    await page.waitForFunction(() => document.querySelector(".run h1 .status")?.textContent === "success");
    await page.waitForFunction(() => document.querySelector('svg.dag .node[data-task="talk"]')?.classList.contains("status-success"));
    expect(await page.evaluate(() => window.sameDocument)).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("shows a task's markup output as text, and no dialog opens", async () => {
    const { page, errors, dialogs } = await open(`#/runs/${markup}?task=hello`, ".task pre.stdout");
    expect(await page.$eval(".task pre.stdout", (el) => el.textContent)).toBe(`${XSS}\n`);
    expect(await page.$$eval("main script", (els) => els.length)).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("retries a failed run after confirmation, with the token; without it the API answers 401", async () => {
    const bare = await fetch(`${served.base}/api/v1/executions/${diamond}/retry`, { method: "POST" });
    expect(bare.status).toBe(401);
    const { page, errors } = await open(`#/runs/${diamond}`, ".run-actions button");
    await page.click(".run-actions button");
    await page.waitForSelector("dialog.confirm[open]");
    await page.click("dialog.confirm button.primary");
    // The page moves to the new run, which is a retry of this one.
    const next = await waitFor(async () => {
      const m = /#\/runs\/([^?]+)/.exec(page.url());
      return m && m[1] !== diamond ? m[1] : null;
    });
    expect((await execution(next)).retry_of).toBe(diamond);
    await page.waitForFunction((d) => document.querySelector(".run .facts")?.textContent?.includes(`Retry of${d.slice(0, 8)}`), {}, diamond);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("has no sideways scrolling on a 390×844 screen", async () => {
    const { page, errors } = await open(`#/runs/${diamond}`, "svg.dag .node", PHONE);
    await page.waitForSelector(".task .attempt");
    expect(await scrollsSideways(page)).toBe(false);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe("the runs list", () => {
  test("lists runs with a link each, filters by status and workflow through the hash", async () => {
    const { page, errors } = await open("#/runs", ".runs-table tbody tr");
    await screenshot(page, "dashboard-runs");
    const link = await page.$eval(`tr[data-run="${diamond}"] a`, (el) => el.getAttribute("href"));
    expect(link).toBe(`#/runs/${diamond}`);
    await page.select('select[name="status"]', "failed");
    await page.waitForFunction(() => location.hash === "#/runs?status=failed");
    await page.waitForFunction(() => [...document.querySelectorAll(".runs-table tbody tr .status")].every((s) => s.textContent === "failed"));
    const failed = await page.$$eval(".runs-table tbody tr", (rows) => rows.map((r) => r.getAttribute("data-run")));
    expect(failed).toContain(diamond);
    expect(failed).not.toContain(markup);
    await page.select('select[name="workflow"]', "tick");
    await page.waitForFunction(() => location.hash === "#/runs?workflow=tick&status=failed");
    await page.waitForSelector(".runs .empty");
    await page.select('select[name="status"]', "");
    await page.waitForFunction(() => document.querySelectorAll(".runs-table tbody tr").length === 3);
    expect(await page.$$eval(".runs-table tbody td.wf", (tds) => [...new Set(tds.map((t) => t.textContent))])).toEqual(["tick"]);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("pages with Older and back with Newest", async () => {
    const { page, errors } = await open("#/runs?workflow=tick&limit=2", ".runs-table tbody tr");
    const first = await page.$$eval(".runs-table tbody tr", (rows) => rows.map((r) => r.getAttribute("data-run")));
    expect(first.length).toBe(2);
    await page.click('.pager a[rel="next"]');
    await page.waitForFunction((ids) => {
      const rows = [...document.querySelectorAll(".runs-table tbody tr")].map((r) => r.getAttribute("data-run"));
      return rows.length === 1 && !ids.includes(rows[0]!);
    }, {}, first);
    // The third and last tick: no older page.
    expect(await page.$('.pager a[rel="next"]')).toBeNull();
    await page.click('.pager a[rel="first"]');
    await page.waitForFunction((ids) => {
      const rows = [...document.querySelectorAll(".runs-table tbody tr")].map((r) => r.getAttribute("data-run"));
      return rows.join() === ids.join();
    }, {}, first);
    expect(errors).toEqual([]);
    await page.close();
  });

  test("has no sideways scrolling on a 390×844 screen", async () => {
    const { page, errors } = await open("#/runs", ".runs-table tbody tr", PHONE);
    expect(await scrollsSideways(page)).toBe(false);
    expect(errors).toEqual([]);
    await page.close();
  });
});
