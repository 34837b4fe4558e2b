// HTTP executor (built-in fetch): one request, success on 2xx, the response body kept as
// stdout up to the output cap without reading more than that into memory.

import pkg from "../../package.json" with { type: "json" };
import type { HttpConfig } from "../workflow/types.ts";
import { OutputBuffer } from "./capture.ts";
import { stopReason, stoppedResult, type ExecResult, type Executor } from "./types.ts";

/** Exit code of a request that failed in any way (spec: non-2xx, timeout, connection). */
export const HTTP_FAILURE_EXIT_CODE = 1;

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
  return { headers, body };
}

/** One line for a request that got no response. */
function fetchProblem(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? "";
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return "cannot resolve host name";
  if (code === "ECONNRESET" || code === "ConnectionClosed") return "connection closed by the server before a complete response";
  if (code === "EHOSTUNREACH") return "host unreachable";
  if (code === "ENETUNREACH") return "network unreachable";
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME|ERR_TLS/i.test(code)) {
    return `TLS certificate verification failed: ${e.message ?? code} (${code})`;
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
    const stdout = () => bodyText(out, stoppedReading, contentLength);
    const interrupted = (): ExecResult | undefined => {
      const reason = stopReason(ctx.signal);
      if (reason) return finish(stoppedResult(reason, { stdout: stdout(), stderr: "" }, HTTP_FAILURE_EXIT_CODE));
      if (timedOut) {
        const phase = status === undefined ? "no response" : `HTTP ${status}, but the body did not arrive`;
        return finish({
          status: "timeout",
          exitCode: HTTP_FAILURE_EXIT_CODE,
          stdout: stdout(),
          stderr: "",
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
        });
      } catch (err) {
        // No response at all: refused, DNS, TLS, reset, unreachable (a network failure, exit 7 for `run`).
        return (
          interrupted() ?? { status: "failed", exitCode: HTTP_FAILURE_EXIT_CODE, stdout: "", stderr: "", error: `${where}: ${fetchProblem(err)}`, network: true }
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
            stderr: "",
            error: `${where}: HTTP ${status}, then reading the body failed: ${fetchProblem(err)}`,
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
    if (status! >= 200 && status! < 300) return finish({ status: "success", exitCode: 0, stdout: stdout(), stderr: "" });
    let error = `${where}: HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
    if (status! >= 300 && status! < 400) {
      error += location ? ` (redirect to ${redactUrl(location)}; redirects are not followed)` : " (redirects are not followed)";
    }
    return finish({ status: "failed", exitCode: HTTP_FAILURE_EXIT_CODE, stdout: stdout(), stderr: "", error });
  },
};

/** The kept body; when we stopped reading, a marker that says so instead of a wrong total. */
function bodyText(out: OutputBuffer, stoppedReading: boolean, contentLength: number | null): string {
  const text = out.text();
  if (!stoppedReading) return text;
  const at = text.lastIndexOf("\n[picoflow: output truncated");
  const kept = at >= 0 ? text.slice(0, at) : text;
  const of = contentLength !== null ? ` of ${contentLength}` : "";
  return `${kept}\n[picoflow: response body truncated: kept ${out.limit}${of} bytes; the rest was not read]`;
}
