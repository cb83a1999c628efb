/**
 * The official runner's executor stages, as `gitlab_runner_jobs{executor_stage}`
 * and /debug/jobs/list show them: docker executors name their own
 * (`docker_prepare`, `docker_run`, `docker_cleanup`), the others keep
 * `prepare` from their preparation through the job's stages. Pure.
 */

/** Where a build is with its executor: preparing it, running a stage's script, done, cleaning up. */
export type ExecutorStep = "prepare" | "run" | "finish" | "cleanup";

/** The stage name `executor` shows at `step`; null when the step does not change it. */
export function executorStageName(executor: string, step: ExecutorStep): string | null {
  const isDocker = executor === "docker" || executor.startsWith("docker+") ||
    executor.startsWith("docker-");
  switch (step) {
    case "prepare":
      return isDocker ? "docker_prepare" : "prepare";
    case "run":
      return isDocker ? "docker_run" : null;
    case "finish":
      return "finish";
    case "cleanup":
      return isDocker ? "docker_cleanup" : "cleanup";
  }
}
