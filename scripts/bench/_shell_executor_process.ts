/**
 * How a shell runner's executor process runs, for benches that measure what
 * a job pays there: its V8 flags and its permission row (`--allow-read=...`
 * of executorPermissions, as the poller computes it). Deno checks every
 * path-taking call against that row, a cost `--allow-all` does not have.
 */
import { defaultRunnerConfig } from "../../src/config/default_config.ts";
import type { RunnerConfig } from "../../src/config/runner_config.ts";
import { executorPermissions, permissionFlags } from "../../src/poller/executor_permissions.ts";

/**
 * A shell runner whose builds_dir and cache_dir are `builds` and `caches`
 * (absolute); its GitLab URL goes nowhere.
 */
export function shellRunner(builds: string, caches: string): RunnerConfig {
  const runner = defaultRunnerConfig("shell");
  runner.url = "http://127.0.0.1:9";
  runner.buildsDir = builds;
  runner.cacheDir = caches;
  return runner;
}

/**
 * The permission flags of `runner`'s executor processes, for a runner working
 * in `work` (its temp dir `work/tmp`, which must exist, and state dir
 * `work/.runner`).
 */
export function executorPermissionFlags(runner: RunnerConfig, work: string): string[] {
  return permissionFlags(executorPermissions({
    runner,
    cwd: work,
    tempDir: `${work}/tmp`,
    stateDir: `${work}/.runner`,
    env: () => undefined,
  }));
}
