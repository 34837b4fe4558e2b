// Probe: the cost of loading croner and scheduling one job.
import { Cron } from "croner";
import { idle } from "./idle.ts";

idle(new Cron("0 0 3 * * *", () => {}));
