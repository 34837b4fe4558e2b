// What every view of the dashboard shares: the htm template tag, JSON loading from the API,
// POSTing an action, the status badge, and time and duration formats. Values from the API are
// only ever rendered as text (Preact escapes them): nothing here builds HTML from strings.

import { h } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import htm from "htm";

export const html = htm.bind(h);

export type Load<T> = { state: "loading" } | { state: "ok"; data: T } | { state: "error"; status: number; message: string };

/** An answer that is not 2xx: its HTTP status and the API's `error` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Listeners told when any request answers 401: the app then shows the login form. */
const unauthorized = new Set<() => void>();
export function onUnauthorized(fn: () => void): () => void {
  unauthorized.add(fn);
  return () => unauthorized.delete(fn);
}

async function check(res: Response, url: string): Promise<Response> {
  if (res.ok) return res;
  let message = `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === "string") message = body.error;
  } catch {
    // not JSON: keep the status
  }
  if (res.status === 401) for (const fn of unauthorized) fn();
  throw new ApiError(res.status, `${url}: ${message}`);
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await check(await fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" }), url);
  return (await res.json()) as T;
}

/** POST to the API (an action or the login); the JSON answer, or null for 204. */
export async function postJson<T>(url: string, body?: unknown): Promise<T | null> {
  const res = await check(
    await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    url,
  );
  return res.status === 204 ? null : ((await res.json()) as T);
}

/**
 * GET `url` as JSON; again every `refreshMs` when given (while the page is visible), and when
 * `reload()` is called. Keeps showing the last data while reloading.
 */
export function useJson<T>(url: string, refreshMs?: number): Load<T> & { reload: () => void } {
  const [load, setLoad] = useState<Load<T>>({ state: "loading" });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let live = true;
    getJson<T>(url)
      .then((data) => live && setLoad({ state: "ok", data }))
      .catch((err: Error) => live && setLoad({ state: "error", status: err instanceof ApiError ? err.status : 0, message: err.message }));
    return () => {
      live = false;
    };
  }, [url, tick]);
  useEffect(() => {
    if (!refreshMs) return;
    const id = setInterval(() => document.visibilityState === "visible" && reload(), refreshMs);
    return () => clearInterval(id);
  }, [refreshMs, reload]);
  return { ...load, reload };
}

/** Loading and error states of a Load, or null when it has data. */
export function loadState(load: Load<unknown>) {
  if (load.state === "loading") return html`<p class="muted" aria-busy="true">Loading…</p>`;
  if (load.state === "error") return html`<p class="error" role="alert">${load.message}</p>`;
  return null;
}

/** A run or task status as a coloured badge; the class is status-<name>. */
export function Status({ status }: { status: string | null }) {
  const s = status ?? "never run";
  return html`<span class=${`status status-${s.replace(/\W+/g, "-")}`}>${s}</span>`;
}

/** 0.4 → "0.4s", 75 → "1m 15s", 7300 → "2h 1m"; null → "–". */
export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "–";
  // Short tasks are common (a check, a curl): "0s" would say nothing.
  if (seconds > 0 && seconds < 1) return `${Number(seconds.toPrecision(2))}s`;
  if (seconds < 10) return `${Math.round(seconds * 10) / 10}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m ${Math.round(seconds % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** An ISO time in the browser's locale and zone; null → "–". */
export function fmtTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "–";
}

/** "3 min ago", "in 2 h": for times near now. */
export function fmtRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "–";
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  const a = Math.abs(s);
  const [n, unit] = a < 60 ? [a, "s"] : a < 3600 ? [Math.round(a / 60), "min"] : a < 86400 ? [Math.round(a / 3600), "h"] : [Math.round(a / 86400), "d"];
  return s < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

/** A success rate as the API gives it, a percentage 0..100 (97.5), as "98%"; null → "–". */
export function fmtRate(percent: number | null | undefined): string {
  return percent === null || percent === undefined ? "–" : `${Math.round(percent)}%`;
}

/** 61_000_000 → "58 MB" (binary units, as `ps` and `top` count); null → "–". */
export function fmtBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}

/** The current hash route: "#/runs/ID?x=1" → { path: "/runs/ID", query }. */
export interface Route {
  path: string;
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const raw = location.hash.replace(/^#/, "") || "/";
  const i = raw.indexOf("?");
  return { path: i < 0 ? raw : raw.slice(0, i), query: new URLSearchParams(i < 0 ? "" : raw.slice(i + 1)) };
}

/** A link target inside the dashboard: href("/runs", { workflow: "x" }) → "#/runs?workflow=x". */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}
