// `picoflow graph FILE`: draw a workflow's DAG (ascii levels, Graphviz dot, Mermaid, or JSON).
// The file is loaded exactly as `validate` loads it: same errors and exit codes, warnings on
// stderr. No database is opened.

import { ConfigError, nearest } from "../errors.ts";
import { GRAPH_FORMATS, renderGraph, type GraphFormat } from "../workflow/graph-render.ts";
import { loadWorkflow } from "../workflow/load.ts";
import { createContext, loadOptions, printLoadWarnings, type GlobalOptions } from "./context.ts";
import { paint } from "./format.ts";
import { textOption } from "./read.ts";

export interface GraphOptions extends GlobalOptions {
  format?: unknown;
}

/** `--format`, any case; an unknown one is exit 4 with the formats (and a near miss). */
export function graphFormatOption(value: unknown): GraphFormat {
  const v = textOption(value, "--format");
  if (v === undefined) return "ascii";
  const f = v.toLowerCase();
  if ((GRAPH_FORMATS as readonly string[]).includes(f)) return f as GraphFormat;
  const near = nearest(f, GRAPH_FORMATS);
  throw new ConfigError(`--format: '${v}' is not one of ${GRAPH_FORMATS.join(", ")}${near ? ` (did you mean '${near}'?)` : ""}`);
}

export function graphCommand(file: string, opts: GraphOptions): void {
  // The format first: a typo in it is reported without loading the file.
  const format = graphFormatOption(opts.format);
  const ctx = createContext(opts);
  const wf = loadWorkflow(file, loadOptions(ctx));
  printLoadWarnings(wf);
  const c = paint(ctx.tty);
  ctx.out(renderGraph(wf, format, { heading: (s) => c("bold", s), type: (s) => c("dim", s) }));
}
