// The stats page (#/stats?days=30&workflow=), from GET /api/v1/stats: per workflow its totals
// as text and three small uPlot charts over the period, one point per day: runs (succeeded in
// front of failed), success rate, and p50/p95 duration. Charts take their colours from the
// page's CSS custom properties (so dark mode applies; they are redrawn when the system switches)
// and follow their box's width (a phone never scrolls sideways).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { fmtDuration, fmtRate, href, html, loadState, useJson } from "../lib.ts";
import "./stats.css";

/** The figures of a day, or of the whole period (src/web/stats.ts `Figures`). */
interface Figures {
  runs: number;
  success: number;
  failed: number;
  /** A percentage, 0..100. */
  success_rate: number | null;
  p50_duration: number | null;
  p95_duration: number | null;
}

type DayStats = Figures & { day: string };

interface WorkflowStats extends Figures {
  workflow_name: string;
  daily: DayStats[];
}

interface StatsAnswer {
  days: number;
  since: string;
  until: string;
  workflows: WorkflowStats[];
}

/** The periods offered; the API takes any 1-366. */
const PERIODS = [7, 30, 90];
const CHART_HEIGHT = 150;

export function StatsView({ query }: { query: URLSearchParams }) {
  const asked = Number(query.get("days"));
  const days = PERIODS.includes(asked) ? asked : 30;
  const workflow = query.get("workflow") ?? "";
  const load = useJson<StatsAnswer>(`/api/v1/stats?days=${days}${workflow ? `&workflow=${encodeURIComponent(workflow)}` : ""}`);
  return html`<h1 class="page-title">Stats${workflow ? html` · <span>${workflow}</span>` : null}</h1>
    <div class="stats-controls">
      <nav class="periods" aria-label="Period">
        ${PERIODS.map(
          (d) => html`<a key=${d} href=${href("/stats", { days: String(d), workflow })} aria-current=${d === days ? "page" : undefined}>${d} days</a>`,
        )}
      </nav>
      ${workflow ? html`<a href=${href("/stats", { days: String(days) })}>All workflows</a>` : null}
    </div>
    ${load.state !== "ok"
      ? loadState(load)
      : load.data.workflows.length === 0
        ? html`<p class="muted">No runs in the last ${days} days${workflow ? ` for ${workflow}` : ""}.</p>`
        : load.data.workflows.map((w) => html`<${WorkflowCharts} key=${w.workflow_name} w=${w} days=${days} />`)}`;
}

function WorkflowCharts({ w, days }: { w: WorkflowStats; days: number }) {
  const data = useMemo(() => series(w.daily), [w]);
  return html`<section class="stats-workflow" data-workflow=${w.workflow_name}>
    <h2><a href=${href("/stats", { days: String(days), workflow: w.workflow_name })}>${w.workflow_name}</a></h2>
    <p class="totals">
      ${`${w.runs} ${w.runs === 1 ? "run" : "runs"} · ${w.success} succeeded · ${w.failed} failed · success ${fmtRate(w.success_rate)}`}
      ${` · p50 ${fmtDuration(w.p50_duration)} · p95 ${fmtDuration(w.p95_duration)} · `}
      <a href=${href("/runs", { workflow: w.workflow_name })}>runs</a>
    </p>
    <div class="charts">
      <${Chart} title="Runs per day" data=${data.runs} build=${runsChart(w.daily)} />
      <${Chart} title="Success rate" data=${data.rate} build=${rateChart} />
      <${Chart} title="Duration (p50, p95)" data=${data.durations} build=${durationChart} />
    </div>
  </section>`;
}

/** The daily numbers as uPlot's columns; x is each day's local midnight, in seconds. */
function series(daily: DayStats[]) {
  const x = daily.map((d) => {
    const [y, m, day] = d.day.split("-").map(Number) as [number, number, number];
    return new Date(y, m - 1, day).getTime() / 1000;
  });
  return {
    // Failed is drawn as the whole finished bar, succeeded in front of it: a stacked bar.
    runs: [x, daily.map((d) => d.success + d.failed), daily.map((d) => d.success)] as uPlot.AlignedData,
    rate: [x, daily.map((d) => d.success_rate)] as uPlot.AlignedData,
    durations: [x, daily.map((d) => d.p50_duration), daily.map((d) => d.p95_duration)] as uPlot.AlignedData,
  };
}

/** The page's palette, read from its CSS custom properties (they change with dark mode). */
interface Colours {
  fg: string;
  muted: string;
  line: string;
  ok: string;
  fail: string;
  run: string;
  other: string;
}

function colours(): Colours {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string) => css.getPropertyValue(`--${name}`).trim();
  return { fg: v("fg"), muted: v("muted"), line: v("line"), ok: v("ok"), fail: v("fail"), run: v("run"), other: v("other") };
}

type Build = (c: Colours, width: number) => uPlot.Options;

/** Dots on the lines: a day with runs between days without any is a lone point, not a line. */
const dots = (colour: string) => ({ show: true, size: 5, fill: colour, stroke: colour });


function base(c: Colours, width: number, y: Partial<uPlot.Axis> = {}): Pick<uPlot.Options, "width" | "height" | "axes" | "cursor" | "legend"> {
  const axis = { stroke: c.muted, grid: { stroke: c.line, width: 1 }, ticks: { stroke: c.line, width: 1 } };
  return {
    width,
    height: CHART_HEIGHT,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    axes: [{ ...axis, space: 50 }, { ...axis, size: 60, ...y }],
  };
}

const runsChart =
  (daily: DayStats[]): Build =>
  (c, width) => ({
    ...base(c, width, { values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : "")) }),
    scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    series: [
      {},
      { label: "failed", fill: c.fail, stroke: c.fail, width: 0, paths: uPlot.paths.bars!({ size: [0.7, 24] }), points: { show: false }, value: (_u, _v, _s, i) => (i === null ? "–" : String(daily[i]?.failed ?? "–")) },
      { label: "succeeded", fill: c.ok, stroke: c.ok, width: 0, paths: uPlot.paths.bars!({ size: [0.7, 24] }), points: { show: false } },
    ],
  });

const rateChart: Build = (c, width) => ({
  ...base(c, width, { values: (_u, ticks) => ticks.map((t) => `${t}%`) }),
  scales: { y: { range: [0, 100] } },
  series: [{}, { label: "success", stroke: c.ok, width: 2, spanGaps: true, points: dots(c.ok), value: (_u, v) => fmtRate(v) }],
});

const durationChart: Build = (c, width) => ({
  ...base(c, width, { values: (_u, ticks) => ticks.map((t) => fmtDuration(t)) }),
  scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
  series: [
    {},
    { label: "p50", stroke: c.run, width: 2, spanGaps: true, points: dots(c.run), value: (_u, v) => fmtDuration(v) },
    { label: "p95", stroke: c.fail, width: 1.5, dash: [4, 3], spanGaps: true, points: dots(c.fail), value: (_u, v) => fmtDuration(v) },
  ],
});

/** Bumped when the system switches between light and dark: the charts are drawn again. */
function useColourScheme(): boolean {
  const [dark, setDark] = useState(() => matchMedia("(prefers-color-scheme: dark)").matches);
  useEffect(() => {
    const mq = matchMedia("(prefers-color-scheme: dark)");
    const on = () => setDark(mq.matches);
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, []);
  return dark;
}

function Chart({ title, data, build }: { title: string; data: uPlot.AlignedData; build: Build }) {
  const box = useRef<HTMLDivElement>(null);
  const dark = useColourScheme();
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(build(colours(), el.clientWidth), data, el);
    // Follow the box's width (window resizes, phone rotation).
    let width = el.clientWidth;
    const ro = new ResizeObserver(() => {
      if (el.clientWidth !== width) u.setSize({ width: (width = el.clientWidth), height: CHART_HEIGHT });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
    };
    // build is a new function per render for the runs chart; data changes with the answer.
  }, [data, dark]);
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div ref=${box} class="chart-box" role="img" aria-label=${title}></div>
  </figure>`;
}
