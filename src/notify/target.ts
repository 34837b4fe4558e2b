// A notification or ping URL is a credential: an ntfy topic or a healthchecks.io UUID lets
// anyone who knows it post. What is recorded and logged is `scheme://host[:port]/***`: the
// host says where it went, the path and query (and any user:password) never appear.

import { MASK, maskSecrets, MIN_SECRET_LENGTH } from "../secrets.ts";

/** `https://ntfy.sh/***`; `suffix` (a ping's `/start`, `/fail`) is shown after the mask. */
export function maskedTarget(url: string, suffix = ""): string {
  try {
    const u = new URL(url);
    const hidden = (u.pathname !== "/" && u.pathname !== "") || u.search !== "" || u.hash !== "";
    return `${u.protocol}//${u.host}/${hidden ? MASK : ""}${suffix}`;
  } catch {
    return MASK;
  }
}

/** The parts of a URL that must not appear in an error message about it. */
export function urlSecrets(url: string): string[] {
  const out = [url];
  try {
    const u = new URL(url);
    out.push(u.href, `${u.pathname}${u.search}`, u.search.slice(1), u.password, u.username);
    for (const part of u.pathname.split("/")) {
      out.push(part);
      try {
        out.push(decodeURIComponent(part));
      } catch {}
    }
  } catch {}
  return out.filter((s) => s.length >= MIN_SECRET_LENGTH);
}

/** `text` with the URL's secret parts (and the workflow's secrets) masked. */
export function maskUrlIn(text: string, url: string, secrets: readonly string[] = []): string {
  return maskSecrets(text, [...urlSecrets(url), ...secrets]);
}

/** `URL/start`, `URL/fail`: the suffix goes on the path; a query string stays at the end. */
export function pingUrl(url: string, suffix: "" | "/start" | "/fail"): string {
  if (!suffix) return url;
  const u = new URL(url);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}${suffix}`;
  return u.toString();
}
