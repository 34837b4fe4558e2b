// Probe: the cost of loading prom-client with one registry and a few metrics, no defaults.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { idle } from "./idle.ts";

const registry = new Registry();
new Counter({ name: "probe_total", help: "h", labelNames: ["a"], registers: [registry] }).inc({ a: "x" });
new Gauge({ name: "probe_gauge", help: "h", registers: [registry] }).set(1);
new Histogram({ name: "probe_seconds", help: "h", buckets: [1, 10, 60, 600, 3600], registers: [registry] }).observe(2);
idle(registry);
