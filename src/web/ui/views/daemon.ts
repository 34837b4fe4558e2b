// The daemon page (#/daemon), from GET /api/v1/daemon (`picoflow daemon status --format json`,
// refreshed every 10 s): its state, pid, version, uptime and memory; the workflows it loaded
// with their schedule, next run and what is running; and the workflow files it refused, with
// the validator's messages (masked by the server) shown as text.

import { fmtBytes, fmtDuration, fmtRelative, fmtTime, html, Status, useJson } from "../lib.ts";
import "./daemon.css";

interface DaemonWorkflow {
  name: string;
  file: string;
  schedule: string | null;
  timezone: string | null;
  next_run: string | null;
  running: boolean;
  paused: boolean;
  error: string | null;
  execution_id?: string | null;
  running_tasks?: string[];
}

interface DaemonReport {
  status: "running" | "stopped";
  pid: number | null;
  note?: string;
  started_at?: string;
  uptime_seconds?: number;
  rss_bytes?: number | null;
  updated_at?: string;
  version?: string;
  /** The build's commit (12 characters shown; "-dirty" marked) or "source", and its date. */
  commit?: string;
  commit_date?: string | null;
  workflows?: DaemonWorkflow[];
  invalid_files?: { file: string; workflow: string | null; problems: string[] }[];
  /** `daemon`: live from the daemon; `database`: what it last recorded (`picoflow dashboard`). */
  source?: "daemon" | "database";
}

export function DaemonView(_: Record<string, never>) {
  const load = useJson<DaemonReport>("/api/v1/daemon", 10_000);
  let body;
  if (load.state === "loading") body = html`<p class="muted" aria-busy="true">Loading…</p>`;
  else if (load.state === "error")
    body =
      load.status === 503
        ? html`<p class="hint" role="status">The daemon is starting; this page checks again every 10 seconds.</p>`
        : html`<p class="error" role="alert">${load.message}</p>`;
  else body = html`<${Report} r=${load.data} />`;
  return html`<h1 class="page-title">Daemon</h1>
    ${body}`;
}

/** The report; its `hint` (which --db-path to pass) is advice for a shell, left out here. */
function Report({ r }: { r: DaemonReport }) {
  const live = r.source === "daemon";
  return html`
    ${live
      ? null
      : html`<p class="hint muted">
          What the database last recorded${r.updated_at ? html` (<time datetime=${r.updated_at} title=${fmtTime(r.updated_at)}>${fmtRelative(r.updated_at)}</time>)` : null}: no
          live daemon answers here.
        </p>`}
    <dl class="daemon-facts">
      <div><dt>State</dt><dd><${Status} status=${r.status} /></dd></div>
      <div><dt>PID</dt><dd>${r.pid ?? "–"}</dd></div>
      <div><dt>Version</dt><dd>${r.version ?? "–"}${r.commit ? html` <span class="muted">(${buildLabel(r.commit, r.commit_date ?? null)})</span>` : null}</dd></div>
      <div>
        <dt>Up</dt>
        <dd>
          ${r.uptime_seconds === undefined
            ? "–"
            : html`<span title=${r.started_at ? `since ${fmtTime(r.started_at)}` : undefined}>${fmtDuration(r.uptime_seconds)}</span>`}
        </dd>
      </div>
      <div><dt>Memory (RSS)</dt><dd>${fmtBytes(r.rss_bytes)}</dd></div>
    </dl>
    ${r.note ? html`<p class="muted">${r.note}</p>` : null}
    ${r.workflows ? html`<${Workflows} list=${r.workflows} />` : null}
    ${r.invalid_files?.length ? html`<${Invalid} files=${r.invalid_files} />` : null}
  `;
}

function Workflows({ list }: { list: DaemonWorkflow[] }) {
  return html`<h2>Loaded workflows <span class="muted">(${list.length})</span></h2>
    ${list.length === 0
      ? html`<p class="muted">None: put workflow files in the daemon's directory.</p>`
      : html`<ul class="daemon-workflows">
          ${list.map(
            (w) => html`<li key=${w.name} data-workflow=${w.name}>
              <div class="head">
                <strong>${w.name}</strong>
                ${w.running ? html`<${Status} status="running" />` : null}
                ${w.paused ? html`<span class="badge">paused</span>` : null}
              </div>
              <div class="muted file">${w.file}</div>
              <div>
                ${w.schedule ? html`<code>${w.schedule}</code>${w.timezone ? ` (${w.timezone})` : ""}` : html`<span class="muted">no schedule</span>`}
                ${w.next_run && !w.paused
                  ? html` · next <time datetime=${w.next_run} title=${fmtTime(w.next_run)}>${fmtRelative(w.next_run)}</time>`
                  : null}
              </div>
              ${w.running && w.execution_id
                ? html`<div>
                    running <a href=${`#/runs/${encodeURIComponent(w.execution_id)}`}>run ${w.execution_id.slice(0, 8)}</a>${w.running_tasks?.length
                      ? `: ${w.running_tasks.join(", ")}`
                      : ""}
                  </div>`
                : null}
              ${w.error ? html`<div class="error">${w.error}</div>` : null}
            </li>`,
          )}
        </ul>`}`;
}

function Invalid({ files }: { files: NonNullable<DaemonReport["invalid_files"]> }) {
  return html`<h2>Invalid workflow files <span class="muted">(${files.length})</span></h2>
    <ul class="invalid-files">
      ${files.map(
        (f) => html`<li key=${f.file}>
          <div><code>${f.file}</code>${f.workflow ? html` <span class="muted">· keeps the last good version of ${f.workflow}</span>` : null}</div>
          <pre class="problems">${f.problems.join("\n")}</pre>
        </li>`,
      )}
    </ul>`;
}

/** "commit 1a2b3c4d5e6f, 2026-12-01", or "source": as `picoflow --version` says it. */
function buildLabel(commit: string, date: string | null): string {
  if (commit === "source") return "source";
  const dirty = commit.endsWith("-dirty") ? "-dirty" : "";
  return `commit ${commit.replace(/-dirty$/, "").slice(0, 12)}${dirty}${date ? `, ${date.slice(0, 10)}` : ""}`;
}
