// Probe: the cost of loading the yaml package and parsing a small document with positions.
import { LineCounter, parseDocument } from "yaml";
import { idle } from "./idle.ts";

idle(parseDocument("name: x\ntasks: [1, 2]\n", { lineCounter: new LineCounter() }).toJS());
