// Probe: a Bun.serve HTTP server on 127.0.0.1 (what the metrics endpoint costs before metrics).
import { idle } from "./idle.ts";

idle(Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") }));
