// `picoflow dashboard [--port N] [--bind ADDR]`: the daemon's dashboard and JSON API, read-only,
// from a database alone (a copy of a Pi's on a laptop), in the foreground until SIGINT/SIGTERM.
// The same web handler as the daemon's (web/handler.ts, with readOnly: actions answer 403) on the
// same server (sys/http-server.ts, with its security headers), without /metrics. The same token
// rules as the daemon: a non-loopback --bind needs [web] token or PICOFLOW_WEB_TOKEN.
// `[web] enabled = false` does not stop it: that setting is about the daemon's server, and this
// command is the user asking for the dashboard explicitly.

import { resolve } from "node:path";
import { describeDbPath } from "../config.ts";
import { IoError, messageOf, NetworkError, NothingRecordedError } from "../errors.ts";
import { openHistory } from "../store/queries.ts";
import { defaultPidFile } from "../daemon/pidfile.ts";
import { onSignals } from "../sys/signals.ts";
import { refuseOpenApi, warnReadableToken } from "../web/exposure.ts";
import { createContext, type CliContext, type GlobalOptions } from "./context.ts";
import { formatOption, intOption, textOption } from "./read.ts";

/** Not the daemon's 9090: both can run on one machine (a laptop with a daemon of its own). */
export const DEFAULT_DASHBOARD_PORT = 9091;
export const DEFAULT_DASHBOARD_BIND = "127.0.0.1";

export interface DashboardOptions extends GlobalOptions {
  port?: unknown;
  bind?: unknown;
  format?: unknown;
}

export async function dashboardCommand(opts: DashboardOptions): Promise<void> {
  const ctx = createContext(opts);
  const format = formatOption(opts.format);
  const port = intOption(opts.port, "--port", DEFAULT_DASHBOARD_PORT, 0, 65535);
  const bind = textOption(opts.bind, "--bind") ?? DEFAULT_DASHBOARD_BIND;
  refuseOpenApi(bind, ctx.settings.web.token, "--bind");
  warnReadableToken(ctx.settings, process.env, ctx.log);
  requireDatabase(ctx);

  const [{ webHandler }, { startMetricsServer }] = await Promise.all([import("../web/handler.ts"), import("../sys/http-server.ts")]);
  const web = webHandler({
    dbPath: ctx.settings.dbPath,
    pidFile: defaultPidFile(ctx.settings.dbPath),
    token: ctx.settings.web.token,
    readOnly: true,
    configFile: ctx.settings.configFile,
    log: ctx.log,
  });
  const host = bind.includes(":") && !bind.startsWith("[") ? `[${bind}]` : bind;
  // Signals that come while the server starts are kept, not lost (or left to kill us).
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const unsubscribe = onSignals(["SIGINT", "SIGTERM", "SIGHUP"], () => stop());
  try {
    let server;
    try {
      server = await startMetricsServer({ port, hostname: bind, log: ctx.log, web });
    } catch (err) {
      // Exit 7 like the daemon's server: a taken port is a network problem.
      throw new NetworkError(`cannot serve the dashboard on ${host}:${port}: ${messageOf(err)} (choose another --port, or --port 0 for a free one)`);
    }
    const url = `http://${host}:${server.port}/`;
    const database = resolve(ctx.settings.dbPath);
    ctx.out(
      format === "json"
        ? JSON.stringify({ url, read_only: true, database }) + "\n"
        : `Dashboard at ${url} (read-only, database ${database}; Ctrl-C to stop)\n`,
    );
    await stopped;
    await server.stop();
  } finally {
    unsubscribe();
  }
}

/**
 * Exit 5 before serving anything when there is no database to show (a wrong --db-path is the
 * likely cause), as the read commands do for what is not there. Other problems (a directory,
 * permissions, not a database) are the database errors they are (exit 6).
 */
function requireDatabase(ctx: CliContext): void {
  try {
    openHistory(ctx.settings.dbPath).close();
  } catch (err) {
    if (!(err instanceof NothingRecordedError)) throw err;
    const why = messageOf(err).startsWith(`${ctx.settings.dbPath}: `) ? messageOf(err).slice(ctx.settings.dbPath.length + 2) : messageOf(err);
    throw new IoError(`nothing to show: ${describeDbPath(ctx.settings)}: ${why}`);
  }
}
