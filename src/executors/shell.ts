// Shell executor: runs `command` with `args` as an argv array (never through a shell; only a
// script without a `#!` line is handed to /bin/sh, as execvp does: see sys/process.ts). An
// inline `script:` arrives as `SHELL -e -c SCRIPT` (workflow/load.ts). The environment is the
// process's with the workflow's env_file and env over it (ctx.env), then the task's own env.

import { markerEnv } from "../sys/environ.ts";
import { runProcess } from "../sys/process.ts";
import type { ShellConfig } from "../workflow/types.ts";
import { stopReason, stoppedResult, type Executor } from "./types.ts";

/** Exit code recorded when the task timeout stops a process, as timeout(1) and ssh do. */
export const TIMEOUT_EXIT_CODE = 124;

export const shellExecutor: Executor<ShellConfig> = {
  async run(config, ctx) {
    const p = await runProcess({
      argv: [config.command, ...config.args],
      cwd: config.workdir,
      // The markers go last: a task's own env cannot hide it from crash recovery.
      env: { ...ctx.env, ...config.env, ...markerEnv(ctx.runId, ctx.attemptId) },
      signal: ctx.signal,
      killGraceMs: ctx.killGraceMs,
      outputLimit: ctx.outputLimit,
      onOutput: ctx.onOutput,
      onSpawn: ctx.onSpawn,
    });
    const output = { stdout: p.stdout, stderr: p.stderr };
    if (p.spawnError) return { status: "failed", exitCode: p.exitCode, ...output, error: p.spawnError, permanent: p.permanent };
    const reason = stopReason(ctx.signal);
    if (reason && p.stopped) return stoppedResult(reason, output, TIMEOUT_EXIT_CODE);
    if (p.exitCode === 0) return { status: "success", exitCode: 0, ...output };
    const error = p.signal ? `killed by ${p.signal}` : `exited with code ${p.exitCode}`;
    return { status: "failed", exitCode: p.exitCode, ...output, error };
  },
};
