// HTTP executor (fetch). Being built in issue 3.
import type { HttpConfig } from "../workflow/types.ts";
import type { Executor } from "./types.ts";

export const httpExecutor: Executor<HttpConfig> = {
  async run() {
    return { status: "failed", exitCode: 1, stdout: "", stderr: "", error: "http executor not built yet" };
  },
};
