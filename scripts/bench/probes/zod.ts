// Probe: the cost of loading zod and building one schema.
import { z } from "zod";
import { idle } from "./idle.ts";

idle(z.strictObject({ name: z.string().regex(/^[a-z]+$/), n: z.number().int().optional() }).safeParse({ name: "x" }));
