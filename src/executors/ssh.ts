// SSH executor (ssh2). Being built in issue 3.
import type { SshConfig } from "../workflow/types.ts";
import type { Executor } from "./types.ts";

export const sshExecutor: Executor<SshConfig> = {
  async run() {
    return { status: "failed", exitCode: 255, stdout: "", stderr: "", error: "ssh executor not built yet" };
  },
};
