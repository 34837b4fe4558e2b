// The daemon's HTTP server (Bun.serve): GET /metrics (Prometheus text) and GET /healthz (JSON),
// and, when given `web` ([web] enabled), the dashboard and its JSON API (src/web/handler.ts).
// `picoflow dashboard` serves the web part alone, without metrics. Nothing else is served; it
// binds to loopback unless configured otherwise. Every response carries the security headers
// below, whatever answered it.

import { PicoflowError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

export interface MetricsServerOptions {
  /** Serves GET /metrics; absent (picoflow dashboard): 404 there. */
  metrics?: Metrics;
  /** 0 picks a free port (reported back). */
  port: number;
  hostname: string;
  /** JSON for GET /healthz; `{"status":"ok"}` when not given. */
  health?: () => unknown;
  log: Logger;
  /**
   * The dashboard and the API ([web] enabled): asked about every other path, and answers null
   * for a path it does not serve (then 404). Not given: 404 for everything but the above.
   */
  web?: (req: Request) => Promise<Response | null>;
}

/** No inline script, no framing, no content sniffing: for every response of this server. */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
};

export interface MetricsServer {
  /** The port really bound (useful with port 0). */
  port: number;
  stop(): Promise<void>;
}

/**
 * Start serving. A port that cannot be bound throws a PicoflowError (exit 1) whose message is
 * the cause alone ("address already in use"), for the caller to put in context.
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { metrics, log } = opts;
  const answer = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if ((path !== "/metrics" || !metrics) && path !== "/healthz") {
      if (!opts.web) return new Response("not found\n", { status: 404 });
      try {
        return (await opts.web(req)) ?? new Response("not found\n", { status: 404 });
      } catch (err) {
        log.warn("web request failed", { path, error: (err as Error).message ?? String(err) });
        return Response.json({ error: "internal error" }, { status: 500 });
      }
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    try {
      if (path === "/metrics" && metrics) return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
      return Response.json(opts.health ? opts.health() : { status: "ok" });
    } catch (err) {
      log.warn("metrics endpoint failed", { path, error: (err as Error).message ?? String(err) });
      return new Response("internal error\n", { status: 500 });
    }
  };
  const handle = async (req: Request): Promise<Response> => {
    const res = await answer(req);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
    return res;
  };

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ port: opts.port, hostname: opts.hostname, development: false, fetch: handle });
  } catch (err) {
    throw new PicoflowError(bindProblem(err), 1);
  }
  return {
    port: server.port ?? opts.port,
    async stop() {
      await server.stop(true);
    },
  };
}

function bindProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return "address already in use (another process listens on that port)";
  if (code === "EADDRNOTAVAIL") return "address not available (no such local address)";
  if (code === "EACCES" || code === "EPERM") return "permission denied (ports below 1024 need privileges)";
  if (code === "ENOTFOUND" || code === "EAI_NONAME") return "unknown host name";
  return (err as Error).message ?? String(err);
}
