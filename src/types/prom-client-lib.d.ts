// Types for the prom-client modules imported one by one (src/metrics.ts): the package's index
// also loads the default process metrics, the push gateway and cluster support, ~9 MB of RSS.

declare module "prom-client/lib/registry" {
  import type { Registry } from "prom-client";
  const R: typeof Registry;
  export default R;
}
declare module "prom-client/lib/counter" {
  import type { Counter } from "prom-client";
  const C: typeof Counter;
  export default C;
}
declare module "prom-client/lib/gauge" {
  import type { Gauge } from "prom-client";
  const G: typeof Gauge;
  export default G;
}
declare module "prom-client/lib/histogram" {
  import type { Histogram } from "prom-client";
  const H: typeof Histogram;
  export default H;
}
