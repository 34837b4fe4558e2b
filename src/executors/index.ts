// The explicit map of executors. ssh and http load on first use: ssh2 alone costs ~20 MB.

import type { ExecutorRegistry } from "../engine/runner.ts";
import { shellExecutor } from "./shell.ts";

export const executors = {
  shell: async () => shellExecutor,
  ssh: async () => (await import("./ssh.ts")).sshExecutor,
  http: async () => (await import("./http.ts")).httpExecutor,
} satisfies ExecutorRegistry;
