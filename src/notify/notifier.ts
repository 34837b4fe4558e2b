// Notifications and healthcheck pings of runs, attached to a run's events by `picoflow run`
// and by the daemon. Nothing here delays a run: every delivery is a promise of its own,
// tracked so that the process can wait for them before it exits (bounded by the delivery
// limits) and stop them on a second signal. Each is recorded in `deliveries`, target masked.

import type { Settings } from "../config.ts";
import type { RunEvents } from "../engine/events.ts";
import type { RunSummary } from "../engine/runner.ts";
import { messageOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Database } from "../store/db.ts";
import { DeliveryStore, type DeliveryEnd, type DeliveryKind } from "../store/deliveries.ts";
import type { NotifyTarget, Workflow } from "../workflow/types.ts";
import { deliver } from "./delivery.ts";
import { notification, startLine, summaryLine, type HttpRequest, type RunReport } from "./payload.ts";
import { matchingEvent } from "./policy.ts";
import { maskedTarget, pingUrl } from "./target.ts";

export interface NotifierOptions {
  /** The connection runs are recorded on. */
  db: Database;
  /** False while the database must not be written (the daemon's file was replaced). */
  mayWrite?: () => boolean;
  log: Logger;
  /** [notify] as it is now (the daemon's changes on SIGHUP). */
  settings: () => Settings["notify"];
  /** Each delivery's result, for picoflow_notifications_total. */
  delivered?: (result: "success" | "failed") => void;
}

/** One delivery: where it goes, what it is, and how it is shown. */
interface Send {
  runId: string;
  workflow: string;
  kind: DeliveryKind;
  event: string;
  url: string;
  /** The URL as recorded and logged (masked). */
  shown: string;
  request: HttpRequest;
  secrets: readonly string[];
}

export class Notifier {
  private readonly pending = new Set<Promise<void>>();
  private readonly stopAll = new AbortController();
  private store: DeliveryStore | null | undefined;

  constructor(private readonly o: NotifierOptions) {}

  /** The notify target a run of `wf` reports to: the workflow's own, none (`notify: false`), or the config's. */
  targetOf(wf: Workflow): NotifyTarget | null {
    return wf.notify === false ? null : (wf.notify ?? this.o.settings().target);
  }

  /** Subscribe to one run's events (before it starts). Does nothing for a workflow with nothing to report to. */
  attach(wf: Workflow, events: RunEvents): void {
    const target = this.targetOf(wf);
    const hc = wf.healthcheck;
    if (!target && !hc) return;
    const secrets = wf.secrets ?? [];
    let started: Promise<void> = Promise.resolve();
    let trigger = "manual";
    const offStart = events.on("run:start", (e) => {
      trigger = e.trigger;
      if (hc) {
        const request = { headers: TEXT, body: startLine(wf.name, e.runId, e.trigger) };
        started = this.track(this.send({ runId: e.runId, workflow: wf.name, kind: "healthcheck", event: "start", url: pingUrl(hc, "/start"), shown: maskedTarget(hc, "/start"), request, secrets }));
      }
    });
    const offFinish = events.on("run:finish", (summary) => {
      offStart();
      offFinish();
      const report = this.report(summary, trigger, secrets);
      if (target) {
        const event = matchingEvent(target.on, summary.status, report.previous);
        if (event) {
          this.track(this.send({ runId: summary.runId, workflow: wf.name, kind: "notify", event, url: target.url, shown: maskedTarget(target.url), request: notification(target.format, report), secrets }));
        }
      }
      if (hc) {
        const ok = summary.status === "success";
        const request = { headers: TEXT, body: summaryLine(report) };
        const ping: Send = { runId: summary.runId, workflow: wf.name, kind: "healthcheck", event: ok ? "success" : "fail", url: pingUrl(hc, ok ? "" : "/fail"), shown: maskedTarget(hc, ok ? "" : "/fail"), request, secrets };
        // After the start ping has settled: a service that got the end before the start would think the run still going.
        this.track(started.then(() => this.send(ping)));
      }
    });
  }

  /** Resolves once every delivery started so far (and any they start) has ended. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Give up the deliveries still going (their rows say why). */
  stop(): void {
    this.stopAll.abort();
  }

  private track(p: Promise<void>): Promise<void> {
    const tracked = p.catch((err) => this.o.log.error("notification error", { error: messageOf(err) })).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return tracked;
  }

  /** The run as its payloads show it; times and trigger from the database, where it has them. */
  private report(summary: RunSummary, trigger: string, secrets: readonly string[]): RunReport & { previous: "success" | "failed" | null } {
    const recorded = this.read((s) => s.run(summary.runId));
    const now = new Date().toISOString();
    const started = new Date(Date.now() - summary.durationSeconds * 1000).toISOString();
    const previous = recorded?.previous ?? null;
    return {
      summary,
      trigger: recorded?.trigger ?? trigger,
      startedAt: recorded?.startedAt ?? started,
      finishedAt: recorded?.finishedAt ?? now,
      previousFailed: previous === "failed",
      previous,
      secrets,
    };
  }

  private async send(d: Send): Promise<void> {
    const what = d.kind === "notify" ? "notification" : "healthcheck ping";
    const id = this.write((s) => s.start(d.runId, d.kind, d.event, d.shown));
    const limits = this.o.settings();
    const end: DeliveryEnd = await deliver(d.url, d.request, limits, this.stopAll.signal, d.secrets);
    if (id !== null) this.write((s) => s.finish(id, end));
    this.o.delivered?.(end.result);
    const fields = { workflow: d.workflow, execution_id: d.runId, event: d.event, target: d.shown, attempts: end.attempts, http_status: end.httpStatus ?? undefined };
    if (end.result === "success") this.o.log.info(`${what} sent`, fields);
    else this.o.log.warn(`${what} failed`, { ...fields, error: end.error });
  }

  private deliveries(): DeliveryStore | null {
    if (this.store === undefined) {
      try {
        this.store = new DeliveryStore(this.o.db);
      } catch (err) {
        this.o.log.error("cannot record notifications", { error: messageOf(err) });
        this.store = null;
      }
    }
    return this.store;
  }

  /** A write of the delivery's row; a failure (full disk) is logged and the delivery still goes. */
  private write<T>(fn: (s: DeliveryStore) => T): T | null {
    const s = this.deliveries();
    if (!s || (this.o.mayWrite && !this.o.mayWrite())) return null;
    try {
      return fn(s);
    } catch (err) {
      this.o.log.warn("cannot record a notification", { error: messageOf(err) });
      return null;
    }
  }

  private read<T>(fn: (s: DeliveryStore) => T): T | null {
    const s = this.deliveries();
    if (!s) return null;
    try {
      return fn(s);
    } catch (err) {
      this.o.log.warn("cannot read the previous run for notifications", { error: messageOf(err) });
      return null;
    }
  }
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };
