// Placeholder of the runs view, replaced by its real implementation (issue 15, in progress).

import { html } from "../lib.ts";
import type { Session } from "../types.ts";

export function Runs(_: { query: URLSearchParams }) {
  return html`<p class="muted">Not built yet.</p>`;
}
