// The dashboard's browser code: Preact components written with htm tagged templates, so
// there is no JSX build step; Bun bundles this file when src/web/ui/index.html is imported
// (see src/web/ui-server.ts). Everything from the API is rendered as text through Preact,
// which escapes it: no innerHTML anywhere, so task output can never become markup.

import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";

const html = htm.bind(h);

/** One row of GET /api/v1/workflows: the shape of `picoflow workflow list --format json`. */
interface WorkflowRow {
  name: string;
  description: string | null;
  schedule: string | null;
  runs: number;
  success_rate: number | null;
  last_status: string | null;
  last_run_at: string | null;
  paused: boolean;
}

type Load<T> = { state: "loading" } | { state: "ok"; data: T } | { state: "error"; message: string };

function useJson<T>(url: string): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ state: "loading" });
  useEffect(() => {
    fetch(url, { headers: { accept: "application/json" } })
      .then(async (res) => {
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
        setLoad({ state: "ok", data: (await res.json()) as T });
      })
      .catch((err: Error) => setLoad({ state: "error", message: err.message }));
  }, [url]);
  return load;
}

function Status({ status }: { status: string | null }) {
  const s = status ?? "never run";
  return html`<span class=${`status status-${s.replace(/\W+/g, "-")}`}>${s}</span>`;
}

function Workflow({ wf }: { wf: WorkflowRow }) {
  const rate = wf.success_rate === null ? "–" : `${Math.round(wf.success_rate * 100)}%`;
  return html`<li class="workflow" data-workflow=${wf.name}>
    <h2>${wf.name} <${Status} status=${wf.last_status} />${wf.paused ? html` <span class="muted">paused</span>` : null}</h2>
    ${wf.description ? html`<p class="description">${wf.description}</p>` : null}
    <p class="muted">
      ${wf.runs} runs · success ${rate}${wf.last_run_at ? ` · last ${new Date(wf.last_run_at).toLocaleString()}` : ""}${wf.schedule ? ` · ${wf.schedule}` : ""}
    </p>
  </li>`;
}

function Overview() {
  const load = useJson<WorkflowRow[]>("/api/v1/workflows");
  if (load.state === "loading") return html`<p class="muted">Loading…</p>`;
  if (load.state === "error") return html`<p class="error" role="alert">${load.message}</p>`;
  if (!load.data.length) return html`<p class="muted">No workflows yet.</p>`;
  return html`<ul class="workflows">${load.data.map((wf) => html`<${Workflow} key=${wf.name} wf=${wf} />`)}</ul>`;
}

function App() {
  return html`<header><h1>PicoFlow</h1></header>
    <main><${Overview} /></main>`;
}

render(html`<${App} />`, document.getElementById("app")!);
