// Sending one notification or ping: a POST with a timeout per attempt, a few attempts with
// backoff (doubling), stopped early by an abort (a second stop signal). Never throws: the
// outcome is returned, its error masked (the URL's own parts never appear in it).

import pkg from "../../package.json" with { type: "json" };
import { sleep } from "../engine/limiter.ts";
import type { DeliveryEnd } from "../store/deliveries.ts";
import type { HttpRequest } from "./payload.ts";
import { maskUrlIn } from "./target.ts";

export interface DeliveryLimits {
  timeoutSeconds: number;
  attempts: number;
  /** Before the second attempt; doubled before each one after it. */
  backoffSeconds: number;
}

/** POST `req` to `url` until it is answered with a 2xx, or the attempts run out. */
export async function deliver(url: string, req: HttpRequest, limits: DeliveryLimits, signal: AbortSignal, secrets: readonly string[]): Promise<DeliveryEnd> {
  let end: DeliveryEnd = { result: "failed", attempts: 0, httpStatus: null, error: null };
  for (let attempt = 1; attempt <= limits.attempts; attempt++) {
    if (signal.aborted) break;
    const r = await attemptOnce(url, req, limits.timeoutSeconds, signal);
    end = { ...r, attempts: attempt, error: r.error === null ? null : maskUrlIn(r.error, url, secrets) };
    // A client error (bad topic, revoked webhook) will not heal by itself; 408 and 429 may.
    if (end.result === "success" || (r.httpStatus !== null && r.httpStatus >= 400 && r.httpStatus < 500 && r.httpStatus !== 408 && r.httpStatus !== 429)) break;
    if (attempt < limits.attempts) {
      try {
        await sleep(limits.backoffSeconds * 1000 * 2 ** (attempt - 1), signal);
      } catch {
        break;
      }
    }
  }
  if (signal.aborted && end.result !== "success") end.error = `stopped before it was delivered${end.error ? ` (last attempt: ${end.error})` : ""}`;
  return end;
}

async function attemptOnce(url: string, req: HttpRequest, timeoutSeconds: number, stop: AbortSignal): Promise<Omit<DeliveryEnd, "attempts">> {
  const timeout = AbortSignal.timeout(Math.max(1, Math.round(timeoutSeconds * 1000)));
  try {
    const headers = { "user-agent": USER_AGENT, ...req.headers };
    const res = await fetch(url, { method: "POST", headers, body: req.body, signal: AbortSignal.any([timeout, stop]), redirect: "follow" });
    // The body is not needed; reading it (bounded by the same timeout) frees the connection.
    await res.arrayBuffer().catch(() => {});
    if (res.ok) return { result: "success", httpStatus: res.status, error: null };
    return { result: "failed", httpStatus: res.status, error: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}` };
  } catch (err) {
    if (timeout.aborted) return { result: "failed", httpStatus: null, error: `no answer within ${timeoutSeconds}s` };
    // deliver() says it: "stopped before it was delivered" (a "last attempt: stopped" would add nothing).
    if (stop.aborted) return { result: "failed", httpStatus: null, error: null };
    return { result: "failed", httpStatus: null, error: problem(err) };
  }
}

const USER_AGENT = `PicoFlow/${pkg.version}`;

function problem(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? "";
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return "cannot resolve host name";
  if (code === "ECONNRESET" || code === "ConnectionClosed") return "connection closed by the server";
  return `request failed: ${e?.message ?? String(err)}${code ? ` (${code})` : ""}`;
}
