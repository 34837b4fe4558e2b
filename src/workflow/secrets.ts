// The workflow's secret set: every value that is secret anywhere in the file, computed once
// from the parsed (and ${VAR}-expanded) data, valid or not, so errors can be masked too.

/** The path of a string value in the parsed tree, as expandTree reports it. */
export type ValuePath = readonly (string | number)[];

export interface WorkflowSecrets {
  /** Masked in every task's output, errors and logs: the runner gets this as task.secrets. */
  secrets: string[];
  /** Masked in validation messages as well: also every ${VAR} value put into a URL. */
  inMessages: string[];
}

const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|api-key|apikey|x-auth-token|x-access-token)$|token|secret|password|passwd|api[-_]?key|session|credential/i;

/**
 * A value is secret when it is the value of a credential-like header (and its credential part:
 * "abc" of "Bearer abc"), a value ${VAR} put into any header, or the password of a URL (as
 * written, percent-decoded, and inside the `Basic` header that fetch makes of it). Basic
 * credentials are masked in both forms, base64 and decoded. An HTTP task's `auth.password` is
 * secret, and the Basic header made of it. `substituted` maps a value's path (joined with NUL)
 * to the values variables put into it. `values` are secret as they are: every env_file value,
 * and the values of the variables a `secrets:` list names.
 */
export function workflowSecrets(data: unknown, substituted: ReadonlyMap<string, string[]>, values: Iterable<string> = []): WorkflowSecrets {
  const secrets = new Set<string>(values);
  const inMessages = new Set<string>();
  // Handlers are tasks too: the same rules, at their own paths.
  for (const list of ["tasks", "on_failure", "on_success", "on_exit"]) {
    const tasks = (data as Record<string, unknown> | null)?.[list];
    if (!Array.isArray(tasks)) continue;
    tasks.forEach((task, i) => {
      const config = (task as { config?: unknown } | null)?.config;
      if (config === null || typeof config !== "object") return;
      const { headers, url, auth } = config as { headers?: unknown; url?: unknown; auth?: unknown };
      basicAuthSecrets(auth, secrets);
      if (headers !== null && typeof headers === "object" && !Array.isArray(headers)) {
        for (const [name, value] of Object.entries(headers)) {
          if (typeof value !== "string") continue;
          if (CREDENTIAL_HEADER.test(name)) credentialValue(value, secrets);
          for (const v of substituted.get(pathKey([list, i, "config", "headers", name])) ?? []) secrets.add(v);
        }
      }
      if (typeof url === "string") {
        urlCredentials(url, secrets);
        for (const v of substituted.get(pathKey([list, i, "config", "url"])) ?? []) inMessages.add(v);
      }
    });
  }
  notifyUrlSecrets(data, substituted, secrets);
  for (const s of secrets) inMessages.add(s);
  return { secrets: longestFirst(secrets), inMessages: longestFirst(inMessages) };
}

/** `auth: { username, password }` (after ${VAR}): the password, and `base64(user:password)` as sent (padded or not). */
function basicAuthSecrets(auth: unknown, out: Set<string>): void {
  const { username, password } = (auth ?? {}) as { username?: unknown; password?: unknown };
  if (typeof password !== "string" || password === "") return;
  out.add(password);
  if (typeof username !== "string") return;
  const b64 = Buffer.from(`${username}:${password}`, "utf8").toString("base64");
  out.add(b64);
  out.add(b64.replace(/=+$/, ""));
}

/**
 * A notification or healthcheck URL is a credential as a whole (an ntfy topic or a ping UUID
 * lets anyone post): the URL, its path and query, and what ${VAR} put into it are secret.
 */
function notifyUrlSecrets(data: unknown, substituted: ReadonlyMap<string, string[]>, out: Set<string>): void {
  const top = data as { notify?: unknown; healthcheck?: unknown } | null;
  const urls: [ValuePath, unknown][] = [
    [["notify", "url"], (top?.notify as { url?: unknown } | null | undefined)?.url],
    [["healthcheck"], top?.healthcheck],
  ];
  for (const [path, url] of urls) {
    if (typeof url !== "string") continue;
    out.add(url);
    for (const v of substituted.get(pathKey(path)) ?? []) out.add(v);
    urlCredentials(url, out);
    try {
      const u = new URL(url);
      // "/my-pi-alerts", but not a bare "/" or "/x": too short to be anybody's secret.
      if (`${u.pathname}${u.search}`.length > 4) out.add(`${u.pathname}${u.search}`);
      out.add(u.href);
    } catch {}
  }
}

export function pathKey(path: ValuePath): string {
  return path.join("\u0000");
}

/** Longest first, so a secret that contains another is masked whole (and sorting is done once). */
function longestFirst(set: Set<string>): string[] {
  return [...set].filter((s) => s !== "").sort((a, b) => b.length - a.length);
}

/** The whole value, its credential part, and for `Basic xyz` the decoded `user:password`. */
function credentialValue(value: string, out: Set<string>): void {
  out.add(value);
  const parts = value.trim().split(/\s+/);
  if (parts.length < 2) return;
  const credential = parts.slice(1).join(" ");
  out.add(credential);
  if (/^basic$/i.test(parts[0]!) && /^[A-Za-z0-9+/]+={0,2}$/.test(credential)) {
    const decoded = Buffer.from(credential, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon >= 0 && !decoded.includes("\ufffd")) {
      out.add(decoded);
      out.add(decoded.slice(colon + 1));
    }
  }
}

/**
 * The password of `scheme://user:password@host`, found even in a URL that does not parse (its
 * error message quotes it). Like the URL parser, the userinfo ends at the last `@` before the
 * path; special schemes may use any number of slashes or backslashes.
 */
function urlCredentials(url: string, out: Set<string>): void {
  const users = new Set<string>();
  const passwords = new Set<string>();
  // With a scheme, and without one in case a "user:" at the start was taken for a scheme.
  for (const re of [/^\s*(?:[A-Za-z][A-Za-z0-9+.-]*:)?[/\\]*([^/\\?#]*)@/, /^\s*[/\\]*([^/\\?#]*)@/]) {
    const info = re.exec(url)?.[1];
    const colon = info?.indexOf(":") ?? -1;
    if (colon < 0) continue;
    users.add(info!.slice(0, colon));
    passwords.add(info!.slice(colon + 1));
  }
  try {
    const parsed = new URL(url);
    users.add(parsed.username);
    passwords.add(parsed.password);
  } catch {}
  for (const u of [...users]) users.add(decode(u));
  for (const p of [...passwords]) passwords.add(decode(p));
  for (const p of passwords) {
    if (!p) continue;
    out.add(p);
    // fetch sends `Authorization: Basic base64(user:password)`, percent-decoded, in UTF-8.
    for (const u of users) {
      const b64 = Buffer.from(`${u}:${p}`, "utf8").toString("base64");
      out.add(b64);
      out.add(b64.replace(/=+$/, ""));
    }
  }
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
