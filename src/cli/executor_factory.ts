/**
 * Builds the executor a runner entry names. The only place that knows the
 * concrete executor classes (STYLE: only cli names concrete classes).
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import type { Executor, JobOutput } from "../executors/executor.ts";
import { ShellExecutor } from "../executors/shell/shell_executor.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { JobFailedError } from "../job/failure_reason.ts";

export interface ExecutorContext {
  runner: RunnerConfig;
  job: JobSpec;
  output: JobOutput;
  cwd: string;
  env: Record<string, string>;
  shortToken: string;
  concurrentId: number;
  concurrentProjectId: number;
}

export const EXECUTOR_NAMES = ["shell"] as const;

export function createExecutor(ctx: ExecutorContext): Executor {
  const { runner } = ctx;
  switch (runner.executor) {
    case "shell":
      return new ShellExecutor({
        shell: runner.shell,
        buildsDir: runner.buildsDir,
        cacheDir: runner.cacheDir,
        cwd: ctx.cwd,
        env: ctx.env,
        output: ctx.output,
      });
    default:
      throw new JobFailedError(
        "runner_system_failure",
        `Executor "${runner.executor}" is not supported: use one of ${EXECUTOR_NAMES.join(", ")}`,
      );
  }
}
