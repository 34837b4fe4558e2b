// The runs list (#/runs?workflow=&status=&before=): GET /api/v1/executions, 50 at a time, newest
// first, filtered by workflow and status. The filters and the page live in the hash, so every
// view of the list is a link. "Older" asks for runs started before the last row's start (the
// API's paging); "Newest" goes back to the first page. `limit=N` in the hash changes the page's
// size (1-1000, as the API takes it). The first page refreshes itself every
// few seconds, so running runs move on without a reload.
//
// A table on a wide screen; on a phone each row stacks into a small card (runs.css).

import { fmtDuration, fmtRelative, fmtTime, href, html, loadState, Status, useJson } from "../lib.ts";
import type { Execution } from "../types.ts";
import "./runs.css";

const PAGE = 50;
const REFRESH_MS = 5000;
const STATUSES = ["success", "failed", "running", "pending", "skipped"];

function go(query: Record<string, string | undefined>) {
  location.hash = href("/runs", query);
}

function Filters({ workflow, status, limit }: { workflow: string; status: string; limit: string }) {
  const list = useJson<{ name: string }[]>("/api/v1/workflows");
  const names = list.state === "ok" ? list.data.map((w) => w.name) : [];
  if (workflow && !names.includes(workflow)) names.unshift(workflow);
  return html`<form class="filters" onSubmit=${(e: Event) => e.preventDefault()}>
    <label
      >Workflow
      <select name="workflow" onChange=${(e: Event) => go({ workflow: (e.target as HTMLSelectElement).value, status, limit })}>
        <option value="" selected=${workflow === ""}>all</option>
        ${names.map((n) => html`<option value=${n} selected=${n === workflow}>${n}</option>`)}
      </select>
    </label>
    <label
      >Status
      <select name="status" onChange=${(e: Event) => go({ workflow, status: (e.target as HTMLSelectElement).value, limit })}>
        <option value="" selected=${status === ""}>any</option>
        ${STATUSES.map((s) => html`<option value=${s} selected=${s === status}>${s}</option>`)}
      </select>
    </label>
  </form>`;
}

function Row({ run }: { run: Execution }) {
  return html`<tr data-run=${run.id} class=${`run-row status-row-${run.status}`}>
    <td data-label="Status"><${Status} status=${run.status} /></td>
    <td data-label="Workflow" class="wf"><a href=${href(`/runs/${run.id}`)}>${run.workflow_name}</a></td>
    <td data-label="Trigger">${run.trigger}${run.retry_of ? html` <span class="muted">of ${run.retry_of.slice(0, 8)}</span>` : null}</td>
    <td data-label="Started"><time datetime=${run.started_at} title=${fmtTime(run.started_at)}>${fmtRelative(run.started_at)}</time></td>
    <td data-label="Duration">${fmtDuration(run.duration_seconds)}</td>
    <td data-label="Tasks" title=${run.failed_tasks ? `${run.failed_tasks} failed` : undefined}>${run.successful_tasks}/${run.total_tasks}</td>
  </tr>`;
}

export function Runs({ query }: { query: URLSearchParams }) {
  const workflow = query.get("workflow") ?? "";
  const status = query.get("status") ?? "";
  const before = query.get("before") ?? "";
  const limit = query.get("limit") ?? "";
  const size = limit ? Number(limit) : PAGE;
  const api = new URLSearchParams({ limit: limit || String(PAGE) });
  if (workflow) api.set("workflow", workflow);
  if (status) api.set("status", status);
  if (before) api.set("before", before);
  const runs = useJson<Execution[]>(`/api/v1/executions?${api}`, before ? undefined : REFRESH_MS);
  const rows = runs.state === "ok" ? runs.data : null;
  const last = rows?.[rows.length - 1];
  const filtered = workflow !== "" || status !== "";
  return html`<div class="runs">
    <h1>Runs</h1>
    <${Filters} workflow=${workflow} status=${status} limit=${limit} />
    ${rows === null
      ? loadState(runs)
      : rows.length === 0
        ? html`<p class="muted empty">${before ? "No older runs." : filtered ? "No runs match these filters." : "No runs recorded yet."}</p>`
        : html`<table class="runs-table">
            <thead>
              <tr><th scope="col">Status</th><th scope="col">Workflow</th><th scope="col">Trigger</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Tasks</th></tr>
            </thead>
            <tbody>
              ${rows.map((r) => html`<${Row} key=${r.id} run=${r} />`)}
            </tbody>
          </table>`}
    <nav class="pager" aria-label="Pages of runs">
      ${before ? html`<a href=${href("/runs", { workflow, status, limit })} rel="first">Newest</a>` : null}
      ${rows && rows.length === size && last ? html`<a href=${href("/runs", { workflow, status, limit, before: last.started_at })} rel="next">Older</a>` : null}
    </nav>
  </div>`;
}
