// HTTP executor (built-in fetch): one request, success on 2xx (or the statuses of
// expect_status, and a body matching expect_body), the response body kept as stdout up to the
// output cap without reading more than that into memory. TLS: the system's roots, the CAs of
// ca_cert instead, or no verification at all (insecure, said once per run).

import pkg from "../../package.json" with { type: "json" };
import { readCaCert } from "../workflow/ca-cert.ts";
import { escapeControls } from "../workflow/message.ts";
import type { HttpConfig } from "../workflow/types.ts";
import { OutputBuffer } from "./capture.ts";
import { stopReason, stoppedResult, type ExecContext, type ExecResult, type Executor } from "./types.ts";

/** Exit code of a request that failed in any way (spec: non-2xx, timeout, connection). */
export const HTTP_FAILURE_EXIT_CODE = 1;

/** How much of a body that does not match expect_body the error shows. */
const BODY_SHOWN = 200;

/** Written to stderr of the first attempt of a task with `insecure: true`. */
export const INSECURE_NOTE = "[picoflow: TLS certificate verification is off for this request (insecure: true)]";

const USER_AGENT = `PicoFlow/${pkg.version}`;

/** The URL without user:password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

export function buildRequest(config: HttpConfig): { headers: Headers; body?: string } {
  const headers = new Headers();
  for (const [name, value] of Object.entries(config.headers)) headers.set(name, value);
  let body: string | undefined;
  if (config.body !== undefined) {
    body = JSON.stringify(config.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  if (!headers.has("user-agent")) headers.set("user-agent", USER_AGENT);
  // RFC 7617, UTF-8. The schema refuses `auth` next to an Authorization header.
  if (config.auth) headers.set("authorization", `Basic ${Buffer.from(`${config.auth.username}:${config.auth.password}`, "utf8").toString("base64")}`);
  return { headers, body };
}

/** One line for a request that got no response (`caCert`: the CAs trusted instead of the system's). */
function fetchProblem(err: unknown, caCert?: string): string {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? "";
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return "cannot resolve host name";
  if (code === "ECONNRESET" || code === "ConnectionClosed") return "connection closed by the server before a complete response";
  if (code === "EHOSTUNREACH") return "host unreachable";
  if (code === "ENETUNREACH") return "network unreachable";
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME|ERR_TLS/i.test(code)) {
    const untrusted = /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/i.test(code);
    const hint = caCert ? `; trusted: only the certificates in ca_cert ${caCert}` : untrusted ? "; for a self-signed or private CA, set ca_cert" : "";
    return `TLS certificate verification failed: ${e.message ?? code} (${code})${hint}`;
  }
  if (/tls|ssl|certificate/i.test(e?.message ?? "")) return `TLS error: ${e.message}`;
  return `request failed: ${e?.message ?? String(err)}${code ? ` (${code})` : ""}`;
}

export const httpExecutor: Executor<HttpConfig> = {
  async run(config, ctx) {
    const out = new OutputBuffer(ctx.outputLimit);
    const where = `${config.method} ${redactUrl(config.url)}`;
    const early = stopReason(ctx.signal);
    if (early) return stoppedResult(early, { stdout: "", stderr: "" }, HTTP_FAILURE_EXIT_CODE);
    const tls = tlsOptions(config);
    if ("error" in tls) return { status: "failed", exitCode: HTTP_FAILURE_EXIT_CODE, stdout: "", stderr: "", error: `${where}: ${tls.error}` };
    const stderr = insecureNote(config, ctx);

    // One signal for fetch and the body read: the runner's stop or our request timeout.
    const ctl = new AbortController();
    let timedOut = false;
    const onStop = () => ctl.abort(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onStop, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new Error("request timeout"));
    }, config.timeout * 1000);

    const { headers, body } = buildRequest(config);
    let status: number | undefined;
    let statusText = "";
    let location: string | null = null;
    let stoppedReading = false;
    let contentLength: number | null = null;
    ctx.log.debug("http request", { method: config.method, url: redactUrl(config.url), body_bytes: body?.length ?? 0 });

    const finish = (r: ExecResult): ExecResult => (status === undefined ? r : { ...r, httpStatus: status });
    const stdout = () => bodyTexts(out, stoppedReading, contentLength).shown;
    const interrupted = (): ExecResult | undefined => {
      const reason = stopReason(ctx.signal);
      if (reason) return finish(stoppedResult(reason, { stdout: stdout(), stderr }, HTTP_FAILURE_EXIT_CODE));
      if (timedOut) {
        const phase = status === undefined ? "no response" : `HTTP ${status}, but the body did not arrive`;
        return finish({
          status: "timeout",
          exitCode: HTTP_FAILURE_EXIT_CODE,
          stdout: stdout(),
          stderr,
          error: `${where}: ${phase} within ${config.timeout}s (config.timeout)`,
        });
      }
      return undefined;
    };

    try {
      let res: Response;
      try {
        res = await fetch(config.url, {
          method: config.method,
          headers,
          body,
          signal: ctl.signal,
          // A 3xx is the answer, not an instruction: following it could send credential
          // headers to another host, and a health check should see what the URL returns.
          redirect: "manual",
          ...(tls.options ? { tls: tls.options } : {}),
        });
      } catch (err) {
        // No response at all: refused, DNS, TLS, reset, unreachable (a network failure, exit 7 for `run`).
        return (
          interrupted() ?? { status: "failed", exitCode: HTTP_FAILURE_EXIT_CODE, stdout: "", stderr, error: `${where}: ${fetchProblem(err, config.caCert)}`, network: true }
        );
      }
      status = res.status;
      statusText = res.statusText;
      location = res.headers.get("location");
      const cl = Number(res.headers.get("content-length"));
      // A compressed body's Content-Length counts compressed bytes, not the ones we keep.
      const plain = !res.headers.has("content-encoding") || res.headers.get("content-encoding") === "identity";
      contentLength = plain && res.headers.has("content-length") && Number.isFinite(cl) ? cl : null;

      if (res.body) {
        const reader = res.body.getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            const text = out.push(value, ctx.onOutput !== undefined);
            if (text) ctx.onOutput?.("stdout", text);
            // Past the cap: stop reading instead of downloading the rest for nothing.
            if (out.truncated) {
              stoppedReading = true;
              await reader.cancel().catch(() => {});
              break;
            }
          }
        } catch (err) {
          const stop = interrupted();
          if (stop) return stop;
          return finish({
            status: "failed",
            exitCode: HTTP_FAILURE_EXIT_CODE,
            stdout: stdout(),
            stderr,
            error: `${where}: HTTP ${status}, then reading the body failed: ${fetchProblem(err, config.caCert)}`,
            network: true,
          });
        } finally {
          reader.releaseLock();
        }
      }
      const stop = interrupted();
      if (stop) return stop;
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener("abort", onStop);
    }

    ctx.log.debug("http response", { method: config.method, url: redactUrl(config.url), http_status: status, body_bytes: out.total });
    const { kept, shown } = bodyTexts(out, stoppedReading, contentLength);
    const error = statusProblem(config, status!, statusText, location) ?? bodyProblem(config, kept, ctx);
    const got = error ? { status: "failed" as const, exitCode: HTTP_FAILURE_EXIT_CODE, error: `${where}: ${error}` } : { status: "success" as const, exitCode: 0 };
    return finish({ ...got, stdout: shown, stderr });
  },
};

type Tls = { options?: { ca: string } | { rejectUnauthorized: false } } | { error: string };

/** fetch's TLS options: ca_cert read now (it may have changed since the load), or no verification. */
function tlsOptions(config: HttpConfig): Tls {
  if (config.insecure) return { options: { rejectUnauthorized: false } };
  if (config.caCert === undefined || !/^https:/i.test(config.url)) return {};
  const read = readCaCert(config.caCert);
  return read.ok ? { options: { ca: read.pem } } : { error: `ca_cert ${config.caCert}: ${read.reason}` };
}

/** insecure: true is said once per run (the first attempt), in the log and in the task's stderr. */
function insecureNote(config: HttpConfig, ctx: ExecContext): string {
  if (!config.insecure || !/^https:/i.test(config.url) || ctx.attempt !== 1) return "";
  ctx.log.warn("TLS certificate verification is off (insecure: true)", { task: ctx.task, url: redactUrl(config.url) });
  ctx.onOutput?.("stderr", `${INSECURE_NOTE}\n`);
  return `${INSECURE_NOTE}\n`;
}

/** Why the status is not a success: not in expect_status, or (without it) not 2xx. */
function statusProblem(config: HttpConfig, status: number, statusText: string, location: string | null): string | null {
  const expected = config.expectStatus;
  if (expected ? expected.includes(status) : status >= 200 && status < 300) return null;
  let got = `HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
  if (status >= 300 && status < 400) {
    got += location ? ` (redirect to ${redactUrl(location)}; redirects are not followed)` : " (redirects are not followed)";
  }
  return expected ? `expected ${orList(expected.map(String))}, got ${got}` : got;
}

/**
 * Why the body does not match expect_body, showing its start. The start is masked before it is
 * cut (a cut could leave half a secret the runner's masking would no longer recognise) and its
 * control characters escaped, so the error stays one line.
 */
function bodyProblem(config: HttpConfig, body: string, ctx: ExecContext): string | null {
  if (config.expectBody === undefined || new RegExp(config.expectBody).test(body)) return null;
  const what = `the body does not match expect_body /${escapeControls(config.expectBody)}/`;
  if (body === "") return `${what}: the body is empty`;
  // Characters, not UTF-16 units: a cut never splits a surrogate pair.
  const chars = Array.from(ctx.mask(body).slice(0, 2 * BODY_SHOWN));
  const start = escapeControls(chars.slice(0, BODY_SHOWN).join(""));
  return `${what}: the body starts '${start}'${chars.length > BODY_SHOWN ? "…" : ""}`;
}

/** "200", "200 or 204", "200, 201 or 204". */
function orList(items: string[]): string {
  return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/**
 * The body as kept (what expect_body is matched against) and as shown: when we stopped
 * reading, with a marker that says so instead of a wrong total. (out.text() can be called once.)
 */
function bodyTexts(out: OutputBuffer, stoppedReading: boolean, contentLength: number | null): { kept: string; shown: string } {
  const text = out.text();
  if (!stoppedReading) return { kept: text, shown: text };
  const at = text.lastIndexOf("\n[picoflow: output truncated");
  const kept = at >= 0 ? text.slice(0, at) : text;
  const of = contentLength !== null ? ` of ${contentLength}` : "";
  return { kept, shown: `${kept}\n[picoflow: response body truncated: kept ${out.limit}${of} bytes; the rest was not read]` };
}
