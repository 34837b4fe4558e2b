// Probe: running a little plain JavaScript (parser, interpreter, a JIT tier), no modules.
import { idle } from "./idle.ts";

const words: string[] = [];
for (let i = 0; i < 200_000; i++) words.push(`w${i % 997}`);
const counts = new Map<string, number>();
for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
idle(JSON.stringify([...counts].slice(0, 3)));
