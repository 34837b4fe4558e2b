// Placeholder of the daemon view, replaced by its real implementation (issue 15, in progress).

import { html } from "../lib.ts";
import type { Session } from "../types.ts";

export function DaemonView(_: Record<string, never>) {
  return html`<p class="muted">Not built yet.</p>`;
}
