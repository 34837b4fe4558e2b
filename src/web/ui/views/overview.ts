// The overview (#/): every workflow as a card, from GET /api/v1/overview (refreshed every 10 s
// while the page is visible): last status and when, next run, paused, a strip of the last 30
// runs (each a link to its page), success rate, a duration sparkline, and the actions.

import { ActionButton } from "../actions.ts";
import { fmtDuration, fmtRate, fmtRelative, fmtTime, href, html, loadState, Status, useJson } from "../lib.ts";
import type { Session } from "../types.ts";
import "./overview.css";

/** One of the last 30 runs of a workflow, oldest first. */
interface RecentRun {
  id: string;
  status: string;
  trigger: string;
  started_at: string;
  duration_seconds: number | null;
}

/** A workflow's row of GET /api/v1/workflows plus its schedule and recent runs. */
interface OverviewWorkflow {
  name: string;
  description: string | null;
  schedule: string | null;
  loaded: boolean;
  runs: number;
  /** A percentage, 0..100. */
  success_rate: number | null;
  last_execution_id: string | null;
  last_status: string | null;
  last_run_at: string | null;
  paused: boolean;
  next_run: string | null;
  recent: RecentRun[];
}

interface OverviewAnswer {
  generated_at: string;
  workflows: OverviewWorkflow[];
}

export function Overview({ session }: { session: Session }) {
  const load = useJson<OverviewAnswer>("/api/v1/overview", 10_000);
  const body =
    load.state !== "ok"
      ? loadState(load)
      : load.data.workflows.length === 0
        ? html`<p class="muted">No workflows yet: run one with <code>picoflow run FILE</code>, or put it in the daemon's directory.</p>`
        : html`<ul class="workflows">
            ${load.data.workflows.map((wf) => html`<${Workflow} key=${wf.name} wf=${wf} session=${session} reload=${load.reload} />`)}
          </ul>`;
  return html`<h1 class="page-title">Workflows</h1>
    <${ActionsHint} session=${session} />
    ${body}`;
}

/** Why there are no buttons, when there are none. */
function ActionsHint({ session }: { session: Session }) {
  if (session.actions) return null;
  return html`<p class="hint muted">
    ${session.read_only
      ? "Read-only dashboard: this is a database without a daemon, so there are no actions."
      : html`Actions (trigger, pause, resume, retry) are off: set <code>[web] token</code> (or <code>PICOFLOW_WEB_TOKEN</code>, 32+ characters) and restart the daemon to enable them.`}
  </p>`;
}

function Workflow({ wf, session, reload }: { wf: OverviewWorkflow; session: Session; reload: () => void }) {
  const name = encodeURIComponent(wf.name);
  return html`<li class="workflow" data-workflow=${wf.name}>
    <div class="head">
      <h2><a href=${href("/runs", { workflow: wf.name })}>${wf.name}</a></h2>
      <${Status} status=${wf.last_status} />
      ${wf.paused ? html`<span class="badge paused">paused</span>` : null}
    </div>
    ${wf.description ? html`<p class="description">${wf.description}</p>` : null}
    <dl class="facts">
      <div>
        <dt>Last run</dt>
        <dd>
          ${wf.last_run_at
            ? html`<time datetime=${wf.last_run_at} title=${fmtTime(wf.last_run_at)}>${fmtRelative(wf.last_run_at)}</time>`
            : "never"}
        </dd>
      </div>
      <div>
        <dt>Next run</dt>
        <dd>${nextRun(wf)}</dd>
      </div>
      <div>
        <dt>Success</dt>
        <dd>${fmtRate(wf.success_rate)} <span class="muted">of ${wf.runs} ${wf.runs === 1 ? "run" : "runs"}</span></dd>
      </div>
    </dl>
    ${wf.recent.length ? html`<${Strip} runs=${wf.recent} />` : null}
    ${wf.recent.some((r) => r.duration_seconds !== null) ? html`<${Trend} runs=${wf.recent} />` : null}
    <div class="links">
      <a href=${href("/runs", { workflow: wf.name })}>Runs</a>
      <a href=${href("/stats", { workflow: wf.name })}>Stats</a>
    </div>
    ${session.actions
      ? html`<div class="actions">
          <${ActionButton}
            label="Trigger"
            confirm=${`Run ${wf.name} now?`}
            url=${`/api/v1/workflows/${name}/trigger`}
            disabled=${!wf.loaded}
            title=${wf.loaded ? `Run ${wf.name} now` : "The daemon has not loaded this workflow"}
            onDone=${reload}
          />
          ${wf.paused
            ? html`<${ActionButton}
                key="resume"
                label="Resume"
                confirm=${`Resume the schedule of ${wf.name}?`}
                url=${`/api/v1/workflows/${name}/resume`}
                onDone=${reload}
              />`
            : html`<${ActionButton}
                key="pause"
                label="Pause"
                confirm=${`Pause the schedule of ${wf.name}? It will not run on schedule until resumed; a manual trigger still works.`}
                url=${`/api/v1/workflows/${name}/pause`}
                onDone=${reload}
              />`}
        </div>`
      : null}
  </li>`;
}

function nextRun(wf: OverviewWorkflow) {
  if (wf.paused) return html`<span class="muted">paused</span>`;
  if (wf.next_run) return html`<time datetime=${wf.next_run} title=${fmtTime(wf.next_run)}>${fmtRelative(wf.next_run)}</time>`;
  return html`<span class="muted">${wf.schedule ? "not scheduled by a daemon" : "no schedule"}</span>`;
}

/** The last runs as coloured cells, oldest first; each links to its run. */
function Strip({ runs }: { runs: RecentRun[] }) {
  return html`<ol class="strip" aria-label="Last runs, oldest first">
    ${runs.map((r) => {
      const label = `${r.status} · ${fmtTime(r.started_at)} · ${fmtDuration(r.duration_seconds)}`;
      return html`<li key=${r.id}>
        <a class=${`run status-${r.status.replace(/\W+/g, "-")}`} href=${`#/runs/${encodeURIComponent(r.id)}`} title=${label} aria-label=${label}></a>
      </li>`;
    })}
  </ol>`;
}

/** Durations of the recent runs as a tiny line chart (inline SVG, scaled to its box). */
function Trend({ runs }: { runs: RecentRun[] }) {
  const W = 120;
  const H = 28;
  const points = runs.map((r, i) => [i, r.duration_seconds] as const).filter((p): p is readonly [number, number] => p[1] !== null);
  const max = Math.max(...points.map((p) => p[1])) || 1;
  const x = (i: number) => (runs.length > 1 ? (i / (runs.length - 1)) * W : W / 2);
  const y = (d: number) => H - 2 - (d / max) * (H - 4);
  const line = points.map(([i, d]) => `${x(i).toFixed(1)},${y(d).toFixed(1)}`).join(" ");
  const last = points[points.length - 1]!;
  return html`<div class="trend">
    <svg viewBox=${`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label=${`Durations of the last ${points.length} runs, up to ${fmtDuration(max)}`}>
      <polyline points=${line} />
    </svg>
    <span class="muted">last ${fmtDuration(last[1])} · max ${fmtDuration(max)}</span>
  </div>`;
}
