// Typed run events. Progress display, logging, metrics and tests subscribe; nobody polls.

import type { ExecResult } from "../executors/types.ts";
import type { Trigger } from "../store/types.ts";
import type { HandlerKind } from "../workflow/types.ts";
import type { RunSummary } from "./runner.ts";

export interface RunEventMap {
  "run:start": { runId: string; workflow: string; file: string; totalTasks: number; trigger: Trigger };
  // `handler`: set for a handler's attempts (they run after the DAG, see handlers.ts).
  "task:start": { runId: string; workflow: string; task: string; handler?: HandlerKind; attempt: number; maxAttempts: number };
  "task:finish": {
    runId: string;
    workflow: string;
    task: string;
    handler?: HandlerKind;
    attempt: number;
    maxAttempts: number;
    result: ExecResult;
    durationSeconds: number;
    /** True when no further attempt follows. */
    final: boolean;
  };
  "task:retry": { runId: string; workflow: string; task: string; handler?: HandlerKind; nextAttempt: number; maxAttempts: number; delaySeconds: number };
  /** After the handlers: the run's status is the DAG's (see RunSummary.handlers). */
  "run:finish": RunSummary;
}

type Listener<T> = (payload: T) => void;

export class RunEvents {
  private listeners: { [K in keyof RunEventMap]?: Listener<RunEventMap[K]>[] } = {};

  on<K extends keyof RunEventMap>(event: K, fn: Listener<RunEventMap[K]>): () => void {
    const list = (this.listeners[event] ??= []) as Listener<RunEventMap[K]>[];
    list.push(fn);
    return () => list.splice(list.indexOf(fn) >>> 0, 1);
  }

  emit<K extends keyof RunEventMap>(event: K, payload: RunEventMap[K]): void {
    // A copy: a listener that unsubscribes (itself or another) must not make the next one skipped.
    for (const fn of [...(this.listeners[event] ?? [])]) {
      // A listener's bug must not break a run.
      try {
        (fn as Listener<RunEventMap[K]>)(payload);
      } catch {}
    }
  }
}
