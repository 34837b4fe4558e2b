// The web part of the HTTP server ([web] enabled): the JSON API under /api/ (web/api.ts) and
// the dashboard's page and files everywhere else (web/ui-server.ts). Both modules are imported
// on their first request, so an enabled but unvisited dashboard costs no memory. The daemon and
// `picoflow dashboard` (read-only, no daemon) build theirs here.

import type { ApiOptions } from "./api.ts";

export type WebHandler = (req: Request) => Promise<Response | null>;

export function webHandler(o: ApiOptions): WebHandler {
  let api: Promise<(req: Request) => Promise<Response>> | undefined;
  let ui: Promise<(req: Request) => Promise<Response | null>> | undefined;
  return async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/api" || path.startsWith("/api/")) {
      api ??= import("./api.ts").then(({ createApi }) => createApi(o));
      return (await api)(req);
    }
    ui ??= import("./ui-server.ts").then(({ serveDashboard }) => serveDashboard);
    return (await ui)(req);
  };
}
