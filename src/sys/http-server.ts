// The metrics and health endpoint (Bun.serve): GET /metrics (Prometheus text) and GET /healthz
// (JSON), and, when the daemon passes `api`, everything under /api/ (src/web/api.ts). Nothing
// else is served; it binds to loopback unless configured otherwise. Every response carries the
// security headers below, whatever answered it.

import { PicoflowError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

export interface MetricsServerOptions {
  metrics: Metrics;
  /** 0 picks a free port (reported back). */
  port: number;
  hostname: string;
  /** JSON for GET /healthz; `{"status":"ok"}` when not given. */
  health?: () => unknown;
  log: Logger;
  /** Answers every request whose path starts with /api/ ([web] enabled); 404 there when not given. */
  api?: (req: Request) => Promise<Response>;
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
    if (opts.api && (path === "/api" || path.startsWith("/api/"))) {
      try {
        return await opts.api(req);
      } catch (err) {
        log.warn("api request failed", { path, error: (err as Error).message ?? String(err) });
        return Response.json({ error: "internal error" }, { status: 500 });
      }
    }
    if (path !== "/metrics" && path !== "/healthz") return new Response("not found\n", { status: 404 });
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    try {
      if (path === "/metrics") return new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } });
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
