// Who can reach the web API: an address other than loopback without a token would let anyone
// on the network read every run. The daemon ([metrics] bind_address) and `picoflow dashboard`
// (--bind) refuse that alike, before anything starts. And a token in a config file every local
// user can read is no secret: both say so at start.

import { statSync } from "node:fs";
import type { Settings } from "../config.ts";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** 127.0.0.0/8, ::1 (bracketed or not), localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::ffff:127.0.0.1";
}

/**
 * Exit 4, saying what to do instead, when the web API would be served on `bind` without a
 * token. `setting` names where the address came from ("[metrics] bind_address", "--bind");
 * `orElse` is one more way out, if the caller has one (", or set [web] enabled = false").
 */
export function refuseOpenApi(bind: string, token: string | null, setting: string, orElse = ""): void {
  if (token !== null || isLoopback(bind)) return;
  throw new ConfigError(
    `${setting} ${bind} is reachable from other machines, and the web API would serve it without a token: ` +
      `set [web] token or PICOFLOW_WEB_TOKEN (32+ characters, e.g. from 'openssl rand -hex 24'), bind to 127.0.0.1 (and use an SSH tunnel)${orElse}`,
  );
}

/**
 * Warn when [web] token comes from a config file that other local users can read (mode o+r):
 * with it they could act through the API (trigger, pause), which the control socket denies them.
 */
export function warnReadableToken(s: Pick<Settings, "web" | "configFile">, env: Record<string, string | undefined>, log: Logger): void {
  if (s.web.token === null || env.PICOFLOW_WEB_TOKEN || s.configFile === null) return;
  let mode: number;
  try {
    mode = statSync(s.configFile).mode;
  } catch {
    return;
  }
  if (mode & 0o004) {
    log.warn("the config file holding [web] token is readable by every local user", {
      file: s.configFile,
      mode: (mode & 0o777).toString(8).padStart(4, "0"),
      fix: `chmod 0640 ${s.configFile} (group: the daemon's user), or set PICOFLOW_WEB_TOKEN instead`,
    });
  }
}
