// A task's attempts and their output, from GET /api/v1/executions/ID/logs?task=NAME (Server-Sent
// Events, docs/api.md "Logs"), following live while the run goes on.
//
// Output is text only: each stream of each attempt is one DOM Text node inside a <pre>, and new
// output is appended to that node (Text.appendData). Nothing is parsed as HTML, and a chatty task
// does not re-render the view per chunk: Preact re-renders only when an attempt appears or
// changes, or a stream gets its first output.

import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { fmtDuration, fmtTime, href, html, Status } from "../lib.ts";
import type { Attempt } from "../types.ts";

type Stream = "stdout" | "stderr";

interface Output {
  attempt_id: string;
  stream: Stream;
  data: string;
}

/** How the stream ended: the run's status at `end`, or why reading stopped. */
type Ended = { status: string } | { error: string } | null;

/** A <pre> showing one Text node that the stream appends to. */
function Pre({ node, stream }: { node: Text; stream: Stream }) {
  const ref = useRef<HTMLPreElement>(null);
  useLayoutEffect(() => {
    const pre = ref.current!;
    pre.append(node);
    pre.scrollTop = pre.scrollHeight;
  }, [node]);
  return html`<div class="output">
    <span class="stream">${stream}</span>
    <pre ref=${ref} class=${stream} tabindex="0" aria-label=${stream}></pre>
  </div>`;
}

function AttemptView({ a, out, ended }: { a: Attempt; out: Partial<Record<Stream, Text>> | undefined; ended: boolean }) {
  const facts = [
    a.exit_code !== null ? `exit ${a.exit_code}` : null,
    a.http_status !== null ? `HTTP ${a.http_status}` : null,
    a.duration_seconds !== null ? fmtDuration(a.duration_seconds) : null,
  ].filter(Boolean);
  return html`<li class="attempt" data-attempt=${a.attempt}>
    <h3>
      ${a.attempt > 0 ? `Attempt ${a.attempt}` : "Not run again"} <${Status} status=${a.status} />
      ${facts.length ? html` <span class="attempt-facts">${facts.join(" · ")}</span>` : null}
      ${a.started_at ? html` <time class="muted" datetime=${a.started_at} title=${fmtTime(a.started_at)}>started ${fmtTime(a.started_at)}</time>` : null}
    </h3>
    ${a.error_message ? html`<p class="error">${a.error_message}</p>` : null}
    ${a.reused_from ? html`<p class="muted">Reused the success of <a href=${href(`/runs/${a.reused_from}`)}>run ${a.reused_from.slice(0, 8)}</a>.</p>` : null}
    ${out?.stdout ? html`<${Pre} node=${out.stdout} stream="stdout" />` : null}
    ${out?.stderr ? html`<${Pre} node=${out.stderr} stream="stderr" />` : null}
    ${!out?.stdout && !out?.stderr && !a.reused_from && (ended || a.finished_at) ? html`<p class="muted">No output.</p>` : null}
  </li>`;
}

export interface LogsProps {
  /** The execution's id. */
  id: string;
  task: string;
  /** Follow live output (the run is running or pending when the view opens). */
  follow: boolean;
}

/** Mount with `key` = the task, so a new task starts a new stream. */
export function Logs({ id, task, follow }: LogsProps) {
  const [attempts, setAttempts] = useState<Attempt[]>([]);
  const [ended, setEnded] = useState<Ended>(null);
  // Bumped when a stream gets its first Text node, to render its <pre>.
  const [, setStreams] = useState(0);
  const texts = useRef(new Map<string, Partial<Record<Stream, Text>>>());
  // Whether to follow is decided when the stream opens: the run ending later must not reopen it.
  const followAtOpen = useRef(follow);

  useEffect(() => {
    const url = `/api/v1/executions/${encodeURIComponent(id)}/logs?task=${encodeURIComponent(task)}${followAtOpen.current ? "&follow=1" : ""}`;
    const es = new EventSource(url);
    es.addEventListener("attempt", (e) => {
      const a = JSON.parse((e as MessageEvent<string>).data) as Attempt;
      setAttempts((list) => [...list.filter((x) => x.id !== a.id), a].sort((x, y) => x.attempt - y.attempt));
    });
    es.addEventListener("output", (e) => {
      const o = JSON.parse((e as MessageEvent<string>).data) as Output;
      const streams = texts.current.get(o.attempt_id) ?? {};
      texts.current.set(o.attempt_id, streams);
      const node = streams[o.stream];
      if (node) {
        const pre = node.parentElement;
        const atBottom = !pre || pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
        node.appendData(o.data);
        if (pre && atBottom) pre.scrollTop = pre.scrollHeight;
      } else {
        streams[o.stream] = document.createTextNode(o.data);
        setStreams((n) => n + 1);
      }
    });
    es.addEventListener("end", (e) => {
      es.close();
      setEnded(JSON.parse((e as MessageEvent<string>).data) as { status: string });
    });
    // Both the server's `error` event (with data) and a broken connection (without) land here.
    // Either way stop: a reconnect would send the whole output again.
    es.addEventListener("error", (e) => {
      es.close();
      const data = (e as MessageEvent<string>).data;
      let error = "The log stream was interrupted; reload the page to read it again.";
      if (data) {
        try {
          error = (JSON.parse(data) as { error: string }).error;
        } catch {}
      }
      setEnded({ error });
    });
    return () => es.close();
  }, [id, task]);

  const done = ended !== null;
  return html`<div class="logs" aria-live="polite" data-state=${done ? "ended" : followAtOpen.current ? "following" : "loading"}>
    ${attempts.length
      ? html`<ol class="attempts">
          ${attempts.map((a) => html`<${AttemptView} key=${a.id} a=${a} out=${texts.current.get(a.id)} ended=${done} />`)}
        </ol>`
      : done
        ? html`<p class="muted">No attempts.</p>`
        : null}
    ${ended && "error" in ended ? html`<p class="error" role="alert">${ended.error}</p>` : null}
    ${!done ? html`<p class="muted following">${followAtOpen.current ? "Following live output…" : "Loading…"}</p>` : null}
  </div>`;
}
