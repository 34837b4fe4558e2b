// Metrics for one `picoflow run` (only with --metrics-port): prom-client and the HTTP server are
// imported here, on demand, so a plain run or a read command never loads them.

import type { RunEvents } from "../engine/events.ts";
import { PicoflowError, messageOf } from "../errors.ts";
import type { CliContext } from "./context.ts";
import { intOption } from "./read.ts";

/** The --metrics-port value: a port (0 = any free one), or undefined when not given. */
export function metricsPortOption(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return intOption(value, "--metrics-port", 0, 0, 65535);
}

/**
 * Serve /metrics and /healthz on `port` at [metrics] bind_address while the run lasts, fed by
 * `events`. A port that cannot be bound is an error before anything runs (exit 1).
 * Returns the function that stops the server.
 */
export async function serveRunMetrics(ctx: CliContext, port: number, events: RunEvents): Promise<() => Promise<void>> {
  const [{ createMetrics }, { startMetricsServer }] = await Promise.all([import("../metrics.ts"), import("../sys/http-server.ts")]);
  const metrics = createMetrics();
  metrics.observe(events);
  const host = ctx.settings.metrics.bindAddress;
  const shown = host.includes(":") ? `[${host}]` : host;
  let server;
  try {
    server = await startMetricsServer({ metrics, port, hostname: host, log: ctx.log });
  } catch (err) {
    throw new PicoflowError(`cannot serve metrics on ${shown}:${port}: ${messageOf(err)} (choose another --metrics-port)`, 1);
  }
  ctx.log.info("serving metrics", { url: `http://${shown}:${server.port}/metrics` });
  return () => server.stop();
}
