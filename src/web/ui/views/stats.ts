// Placeholder of the stats view, replaced by its real implementation (issue 15, in progress).

import { html } from "../lib.ts";
import type { Session } from "../types.ts";

export function StatsView(_: { query: URLSearchParams }) {
  return html`<p class="muted">Not built yet.</p>`;
}
