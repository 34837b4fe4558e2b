// The dashboard's browser code: Preact components written with htm tagged templates, so
// there is no JSX build step; Bun bundles this file when src/web/ui/index.html is imported
// (see src/web/ui-server.ts). Everything from the API is rendered as text through Preact,
// which escapes it: no innerHTML anywhere, so task output can never become markup.
//
// Routing is by the URL's hash (#/, #/runs, #/runs/ID, #/stats, #/daemon), so the server only
// ever serves one page. Each view lives in views/ with its own CSS.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { currentRoute, html, onUnauthorized, postJson, useJson, type Route } from "./lib.ts";
import type { Session } from "./types.ts";
import { DaemonView } from "./views/daemon.ts";
import { Login } from "./views/login.ts";
import { Overview } from "./views/overview.ts";
import { RunView } from "./views/run.ts";
import { Runs } from "./views/runs.ts";
import { StatsView } from "./views/stats.ts";

const NAV: [path: string, label: string][] = [
  ["/", "Overview"],
  ["/runs", "Runs"],
  ["/stats", "Stats"],
  ["/daemon", "Daemon"],
];

function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function Page({ route, session }: { route: Route; session: Session }) {
  const run = /^\/runs\/([^/]+)$/.exec(route.path);
  if (run) return html`<${RunView} id=${decodeURIComponent(run[1]!)} query=${route.query} session=${session} />`;
  switch (route.path) {
    case "/":
      return html`<${Overview} session=${session} />`;
    case "/runs":
      return html`<${Runs} query=${route.query} />`;
    case "/stats":
      return html`<${StatsView} query=${route.query} />`;
    case "/daemon":
      return html`<${DaemonView} />`;
    default:
      return html`<p class="error" role="alert">No such page. <a href="#/">Overview</a></p>`;
  }
}

/** POST /api/v1/logout clears the cookie; the session then asks for the login again. */
async function logout(then: () => void) {
  try {
    await postJson("/api/v1/logout");
  } catch {
    // Already logged out (401) or the server is gone: the reloaded session shows which.
  }
  then();
}

function App() {
  const route = useRoute();
  const session = useJson<Session>("/api/v1/session");
  const [needLogin, setNeedLogin] = useState(false);
  useEffect(() => onUnauthorized(() => setNeedLogin(true)), []);
  useEffect(() => {
    document.title = `PicoFlow${route.path === "/" ? "" : ` · ${route.path.split("/")[1]}`}`;
  }, [route.path]);
  const active = "/" + (route.path.split("/")[1] ?? "");
  const s: Session | null = session.state === "ok" ? session.data : null;
  const login = needLogin || (s !== null && s.auth_required && !s.authenticated);
  return html`<header>
      <a class="brand" href="#/">PicoFlow</a>
      <nav aria-label="Pages">
        ${NAV.map(([p, label]) => html`<a href=${`#${p}`} aria-current=${active === p ? "page" : undefined}>${label}</a>`)}
      </nav>
      <div class="session">
        ${s?.read_only ? html`<span class="badge read-only" title="picoflow dashboard: a database without a daemon">read-only</span>` : null}
        ${s?.auth_required && s.authenticated && !login
          ? html`<button type="button" class="logout" onClick=${() => logout(session.reload)}>Log out</button>`
          : null}
      </div>
    </header>
    <main>
      ${login
        ? html`<${Login} onDone=${() => {
            setNeedLogin(false);
            session.reload();
          }} />`
        : s
          ? html`<${Page} route=${route} session=${s} />`
          : session.state === "error"
            ? html`<p class="error" role="alert">${session.message}</p>`
            : html`<p class="muted" aria-busy="true">Loading…</p>`}
    </main>`;
}

// Preact diffs against what is in the container: drop index.html's "Loading…" placeholder first.
const root = document.getElementById("app")!;
root.textContent = "";
render(html`<${App} />`, root);
