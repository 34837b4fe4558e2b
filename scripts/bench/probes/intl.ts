// Probe: what the time-zone support (ICU data) costs: one Intl.DateTimeFormat with a zone.
import { idle } from "./idle.ts";

idle(new Intl.DateTimeFormat("en-US", { timeZone: "Europe/Berlin", hour: "numeric" }).format(new Date()));
