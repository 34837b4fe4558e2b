// Which runs are reported: the `on` events of a notify target, decided against the previous
// finished (not skipped) run of the same workflow. Pure: the caller reads the history.

import type { NotifyEvent } from "../workflow/types.ts";

/** How a run ended, as the policy sees it: an interrupted run is a failed one. */
export type Outcome = "success" | "failed";

/**
 * The first of the target's events this run matches, or null when it is not reported.
 * `previous` is the status of the previous finished run (null: this is the first).
 */
export function matchingEvent(on: readonly NotifyEvent[], outcome: Outcome, previous: Outcome | null): NotifyEvent | null {
  return on.find((e) => matches(e, outcome, previous)) ?? null;
}

function matches(event: NotifyEvent, outcome: Outcome, previous: Outcome | null): boolean {
  switch (event) {
    case "failure": // the first failure of a streak
      return outcome === "failed" && previous !== "failed";
    case "recovery": // the first success after a failure
      return outcome === "success" && previous === "failed";
    case "every_failure":
      return outcome === "failed";
    case "success":
      return outcome === "success";
    case "always":
      return true;
  }
}
