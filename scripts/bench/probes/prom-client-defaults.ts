// Probe: prom-client with collectDefaultMetrics() (process and Node.js runtime metrics).
import { collectDefaultMetrics, Registry } from "prom-client";
import { idle } from "./idle.ts";

const registry = new Registry();
collectDefaultMetrics({ register: registry });
await registry.metrics();
idle(registry);
