// One run (#/runs/ID?task=NAME): its header (workflow, status, trigger, times, error), a Retry
// button for a failed run when actions are allowed, the DAG (views/dag.ts), and the selected
// task's summary, attempts and logs (views/logs.ts). While the run is running or pending, the
// run is read again every 2 s, so statuses change without a reload; the logs follow live.
//
// The selected task lives in the hash (?task=NAME): a link to a run can point at a task.

import { useEffect, useState } from "preact/hooks";
import { ActionButton } from "../actions.ts";
import { fmtDuration, fmtTime, href, html, loadState, Status, useJson } from "../lib.ts";
import type { ExecutionDetail, Session, TaskState } from "../types.ts";
import { Dag, graphOf } from "./dag.ts";
import { Logs } from "./logs.ts";
import "./run.css";

const REFRESH_MS = 2000;

function isLive(status: string): boolean {
  return status === "running" || status === "pending";
}

/** The task to show when the link names none: the first failed, else a running one, else the first. */
function defaultTask(run: ExecutionDetail, order: string[]): string | null {
  const all = [...run.tasks, ...run.handlers];
  const pick = (s: string[]) => all.find((t) => s.includes(t.status))?.task_name;
  return pick(["failed", "timeout"]) ?? pick(["running", "retrying"]) ?? order[0] ?? null;
}

function select(id: string, task: string) {
  // replace: picking tasks should not fill the back button's history.
  location.replace(href(`/runs/${id}`, { task }));
}

/** Retry a failed run (`picoflow trigger --retry ID`), then open the new run's page. */
function Retry({ run }: { run: ExecutionDetail }) {
  const done = (result: unknown) => {
    const next = (result as { execution_id?: unknown } | null)?.execution_id;
    if (typeof next === "string") location.hash = href(`/runs/${next}`);
  };
  return html`<${ActionButton}
    label="Retry"
    confirm=${`Retry this failed run of ${run.workflow_name}? Its failed and skipped tasks run again; its successes are reused.`}
    url=${`/api/v1/executions/${encodeURIComponent(run.id)}/retry`}
    onDone=${done}
  />`;
}

function Header({ run, session }: { run: ExecutionDetail; session: Session }) {
  const live = isLive(run.status);
  const elapsed = live ? Math.max(0, (Date.now() - Date.parse(run.started_at)) / 1000) : run.duration_seconds;
  return html`<div class="run-head">
    <p class="crumbs"><a href="#/runs">Runs</a> › <a href=${href("/runs", { workflow: run.workflow_name })}>${run.workflow_name}</a></p>
    <h1>${run.workflow_name} <${Status} status=${run.status} /></h1>
    <dl class="facts">
      <div><dt>Trigger</dt><dd>${run.trigger}</dd></div>
      <div><dt>Started</dt><dd><time datetime=${run.started_at}>${fmtTime(run.started_at)}</time></dd></div>
      <div><dt>Finished</dt><dd>${run.finished_at ? html`<time datetime=${run.finished_at}>${fmtTime(run.finished_at)}</time>` : "–"}</dd></div>
      <div><dt>Duration</dt><dd>${fmtDuration(elapsed)}${live ? " so far" : ""}</dd></div>
      <div><dt>Tasks</dt><dd>${run.successful_tasks}/${run.total_tasks} succeeded${run.failed_tasks ? `, ${run.failed_tasks} failed` : ""}</dd></div>
      ${run.retry_of ? html`<div><dt>Retry of</dt><dd><a href=${href(`/runs/${run.retry_of}`)}>${run.retry_of.slice(0, 8)}</a></dd></div>` : null}
      <div><dt>Execution</dt><dd class="id">${run.id}</dd></div>
    </dl>
    ${run.error_message ? html`<p class="error" role="alert">${run.error_message}</p>` : null}
    ${session.actions && run.status === "failed" ? html`<p class="run-actions"><${Retry} run=${run} /></p>` : null}
  </div>`;
}

/** The task's line above its attempts (which carry each error, so the task's is shown only without any). */
function TaskSummary({ t }: { t: TaskState }) {
  const facts = [
    t.handler ? `${t.handler} handler` : null,
    t.attempts ? `${t.attempts} attempt${t.attempts === 1 ? "" : "s"}` : null,
    t.duration_seconds !== null ? fmtDuration(t.duration_seconds) : null,
    t.exit_code !== null ? `exit ${t.exit_code}` : null,
    t.http_status !== null ? `HTTP ${t.http_status}` : null,
    t.tolerated ? "failure tolerated" : null,
    t.retry_at ? `next attempt ${fmtTime(t.retry_at)}` : null,
  ].filter(Boolean);
  return html`<div class="task-head">
    <h2><span class="task-name">${t.task_name}</span> <${Status} status=${t.status} /></h2>
    ${facts.length ? html`<p class="muted">${facts.join(" · ")}</p>` : null}
    ${t.reason ? html`<p class="reason">${t.reason}</p>` : null}
    ${t.error_message && !t.attempts ? html`<p class="error">${t.error_message}</p>` : null}
  </div>`;
}

function Body({ run, query, session }: { run: ExecutionDetail; query: URLSearchParams; session: Session }) {
  const graph = graphOf(run.graph, run.tasks);
  const order = [...graph.levels.flat(), ...run.handlers.map((h) => h.task_name)];
  const wanted = query.get("task");
  const task = wanted && order.includes(wanted) ? wanted : defaultTask(run, order);
  const state = [...run.tasks, ...run.handlers].find((t) => t.task_name === task);
  return html`<${Header} run=${run} session=${session} />
    <section class="dag-box" aria-label="Tasks">
      <${Dag} graph=${graph} tasks=${run.tasks} handlers=${run.handlers} selected=${task} onSelect=${(name: string) => select(run.id, name)} />
      ${graph.known ? null : html`<p class="muted">This run was recorded without its dependencies: its tasks are shown side by side.</p>`}
    </section>
    ${task
      ? html`<section class="task" data-task=${task} aria-label=${`Task ${task}`}>
          ${state ? html`<${TaskSummary} t=${state} />` : html`<h2>${task}</h2>`}
          <${Logs} key=${`${run.id}/${task}`} id=${run.id} task=${task} follow=${isLive(run.status)} />
        </section>`
      : null}`;
}

export function RunView({ id, query, session }: { id: string; query: URLSearchParams; session: Session }) {
  // Read again every 2 s while the last answer said the run goes on.
  const [refresh, setRefresh] = useState<number | undefined>(undefined);
  const run = useJson<ExecutionDetail>(`/api/v1/executions/${encodeURIComponent(id)}`, refresh);
  const live = run.state === "ok" && isLive(run.data.status);
  useEffect(() => setRefresh(live ? REFRESH_MS : undefined), [live]);
  return html`<div class="run">${run.state === "ok" ? html`<${Body} run=${run.data} query=${query} session=${session} />` : loadState(run)}</div>`;
}
