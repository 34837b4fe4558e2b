// Placeholder of the run view, replaced by its real implementation (issue 15, in progress).

import { html } from "../lib.ts";
import type { Session } from "../types.ts";

export function RunView(_: { id: string; query: URLSearchParams; session: Session }) {
  return html`<p class="muted">Not built yet.</p>`;
}
