// The overview (#/): every workflow with its last status. (Being extended: see docs/dashboard.md.)

import { fmtRate, html, loadState, Status, useJson } from "../lib.ts";
import type { Session } from "../types.ts";

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

function Workflow({ wf }: { wf: WorkflowRow }) {
  return html`<li class="workflow" data-workflow=${wf.name}>
    <h2>${wf.name} <${Status} status=${wf.last_status} />${wf.paused ? html` <span class="muted">paused</span>` : null}</h2>
    ${wf.description ? html`<p class="description">${wf.description}</p>` : null}
    <p class="muted">
      ${wf.runs} runs · success ${fmtRate(wf.success_rate)}${wf.last_run_at ? ` · last ${new Date(wf.last_run_at).toLocaleString()}` : ""}${wf.schedule ? ` · ${wf.schedule}` : ""}
    </p>
  </li>`;
}

export function Overview(_: { session: Session }) {
  const load = useJson<WorkflowRow[]>("/api/v1/workflows", 10_000);
  if (load.state !== "ok") return loadState(load);
  if (!load.data.length) return html`<p class="muted">No workflows yet.</p>`;
  return html`<ul class="workflows">${load.data.map((wf) => html`<${Workflow} key=${wf.name} wf=${wf} />`)}</ul>`;
}
