// Probe: the cost of loading ssh2 (pure-JS crypto paths).
import { Client } from "ssh2";
import { idle } from "./idle.ts";

idle(new Client());
