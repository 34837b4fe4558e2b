// Baseline with a full collection first, to compare with the module probes.
import { idle } from "./idle.ts";

idle(null);
