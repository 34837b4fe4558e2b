// A button that does something on the daemon (trigger, retry, pause, resume): it asks first, in
// the page, with a modal <dialog> (keyboard accessible: focus starts on the confirm button, Esc
// cancels, focus returns to the button), then POSTs and shows the answer next to itself.
// Never window.confirm: a browser may suppress it, and it cannot be styled or tested as the page.
// Views show these only when the session says actions can work (session.actions).

import { useEffect, useRef, useState } from "preact/hooks";
import "./actions.css";
import { ApiError, html, postJson } from "./lib.ts";

export interface ActionProps {
  /** The button's text, and the confirm button's. */
  label: string;
  /** The question the dialog asks. */
  confirm: string;
  /** The POST path, e.g. /api/v1/workflows/NAME/trigger. */
  url: string;
  /** Called with the API's JSON answer (null for 204) once the action succeeded. */
  onDone?: (result: unknown) => void;
  disabled?: boolean;
  /** Tooltip of the button (why it is disabled, say). */
  title?: string;
}

type Outcome = { kind: "ok"; result: unknown } | { kind: "error"; message: string } | null;

export function ActionButton({ label, confirm, url, onDone, disabled, title }: ActionProps) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const yes = useRef<HTMLButtonElement>(null);
  const button = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!asking || !dialog.current) return;
    dialog.current.showModal();
    yes.current?.focus();
  }, [asking]);

  /** Closed by Esc, Cancel or Confirm: unmount the dialog and give the focus back. */
  const closed = () => {
    setAsking(false);
    button.current?.focus();
  };

  const run = async () => {
    dialog.current?.close();
    setBusy(true);
    setOutcome(null);
    try {
      const result = await postJson<unknown>(url);
      setOutcome({ kind: "ok", result });
      onDone?.(result);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      // 401: lib.ts has told the app, which shows the login form.
      setOutcome({ kind: "error", message: status === 401 ? "needs the web token: log in" : errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  return html`<span class="action">
    <button type="button" ref=${button} disabled=${disabled || busy} title=${title} onClick=${() => setAsking(true)}>
      ${busy ? `${label}…` : label}
    </button>
    ${asking
      ? html`<dialog ref=${dialog} class="confirm" aria-labelledby="confirm-question" onClose=${closed}>
          <p id="confirm-question">${confirm}</p>
          <div class="buttons">
            <button type="button" class="cancel" onClick=${() => dialog.current?.close()}>Cancel</button>
            <button type="button" class="primary" ref=${yes} onClick=${run}>${label}</button>
          </div>
        </dialog>`
      : null}
    <span class=${`action-result ${outcome?.kind === "error" ? "error" : "muted"}`} role="status" aria-live="polite">
      ${outcome === null ? null : outcome.kind === "error" ? outcome.message : describe(outcome.result)}
    </span>
  </span>`;
}

/** What the API answered, in a few words: a started run links to its page. */
function describe(result: unknown) {
  const r = (result ?? {}) as Record<string, unknown>;
  if (typeof r.execution_id === "string") {
    return html`started <a href=${`#/runs/${encodeURIComponent(r.execution_id)}`}>run ${r.execution_id.slice(0, 8)}</a>`;
  }
  if (typeof r.paused === "boolean") return r.paused ? "paused" : "resumed";
  return "done";
}

/** The API's error text without the request path lib.ts puts in front. */
function errorText(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/^\/api\/v1\/\S+: /, "");
}
