/**
 * Builds the executor a runner entry names. The only place that knows the
 * concrete executor classes (STYLE: only cli names concrete classes).
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { SUPPORTED_EXECUTORS } from "../config/executor_names.ts";
import type { Executor, JobOutput } from "../executors/executor.ts";
import { ShellExecutor } from "../executors/shell/shell_executor.ts";
import type { Logger } from "../log/logger.ts";
import { dockerConfigPath, executorStateDir } from "../poller/executor_paths.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { featureFlagsForJob, isDebugServicesForJob } from "../build/feature_flags.ts";
import { parseEnvironment } from "../build/job_variables.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { JobFiles } from "../job_files/mod.ts";
import type { DockerExecutor, OwnerLease, SweepResult } from "../executors/docker/mod.ts";
import type { SshExecutor } from "../executors/ssh/mod.ts";

export interface ExecutorContext {
  runner: RunnerConfig;
  job: JobSpec;
  output: JobOutput;
  cwd: string;
  env: Record<string, string>;
  shortToken: string;
  concurrentId: number;
  concurrentProjectId: number;
  stateDir: string;
  tempDir: string;
  log: Logger;
  onProcessGroup?: (pgid: number, isAlive: boolean) => void;
  /** Global `user`: shell jobs run as this user (through su); "" or absent: the runner's own. */
  user?: string;
}

/**
 * This executor process's lease per state dir (see OwnerLease): taken by its
 * first docker job and held until the process exits, so a process that runs
 * many jobs holds one lock file, not one per job.
 */
const processLeases = new Map<string, Promise<OwnerLease>>();

function processLease(
  acquire: (dir: string) => Promise<OwnerLease>,
  stateDir: string,
): Promise<OwnerLease> {
  const dir = executorStateDir(stateDir);
  let lease = processLeases.get(dir);
  if (!lease) {
    lease = acquire(dir);
    processLeases.set(dir, lease);
    // A lease that could not be taken is taken again by the next job.
    lease.catch(() => processLeases.delete(dir));
  }
  return lease;
}

export async function createExecutor(ctx: ExecutorContext): Promise<Executor> {
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
        ...(ctx.user ? { user: ctx.user } : {}),
        ...(ctx.onProcessGroup ? { onProcessGroup: ctx.onProcessGroup } : {}),
      });
    case "docker": {
      // Loaded only for docker jobs: the Docker client (docker-modem, ssh2) takes ~60 ms to import.
      const { connectDocker, DockerExecutor, OwnerLease, ProcessCredentialHelper } = await import(
        "../executors/docker/mod.ts"
      );
      const docker = await connectDocker(runner.docker, { env: (name) => ctx.env[name] });
      // As the build resolves flags: the runner's `environment` counts, values are expanded.
      const flags = featureFlagsForJob(runner, ctx.job.variables);
      return new DockerExecutor({
        docker,
        config: runner.docker,
        job: ctx.job,
        shortToken: ctx.shortToken,
        concurrentProjectId: ctx.concurrentProjectId,
        output: ctx.output,
        log: ctx.log,
        lease: await processLease((dir) => OwnerLease.acquire(dir), ctx.stateDir),
        buildsDir: runner.buildsDir,
        cacheDir: runner.cacheDir,
        isUmaskDisabled: flags["FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR"] === true,
        isInit: flags["FF_USE_INIT_WITH_DOCKER_EXECUTOR"] === true,
        isServiceLogFollowed: isDebugServicesForJob(runner, ctx.job.variables),
        runnerEnvironment: runner.environment,
        runnerDockerAuthConfig: ctx.env["DOCKER_AUTH_CONFIG"] || readDockerConfig(ctx.env),
        credentialHelper: new ProcessCredentialHelper(),
      });
    }
    case "ssh": {
      const { SshExecutor } = await import("../executors/ssh/mod.ts");
      return new SshExecutor({
        config: runner.ssh,
        shell: runner.shell,
        buildsDir: runner.buildsDir,
        cacheDir: runner.cacheDir,
        output: ctx.output,
        log: ctx.log,
        homeDir: ctx.env["HOME"] ?? ctx.cwd,
        jobId: ctx.job.id,
      });
    }
    case "docker+ssh": {
      const { connectDocker, OwnerLease } = await import("../executors/docker/mod.ts");
      const { DockerSshExecutor } = await import("../executors/ssh/mod.ts");
      return new DockerSshExecutor({
        docker: await connectDocker(runner.docker, { env: (name) => ctx.env[name] }),
        dockerConfig: runner.docker,
        ssh: runner.ssh,
        job: ctx.job,
        shortToken: ctx.shortToken,
        concurrentProjectId: ctx.concurrentProjectId,
        lease: await processLease((dir) => OwnerLease.acquire(dir), ctx.stateDir),
        output: ctx.output,
        log: ctx.log,
        shell: runner.shell,
        buildsDir: runner.buildsDir,
        cacheDir: runner.cacheDir,
        homeDir: ctx.env["HOME"] ?? ctx.cwd,
        isInit:
          featureFlagsForJob(runner, ctx.job.variables)["FF_USE_INIT_WITH_DOCKER_EXECUTOR"] ===
            true,
      });
    }
    case "custom": {
      const { CustomExecutor } = await import("../executors/custom/mod.ts");
      return new CustomExecutor({
        config: runner.custom,
        shell: runner.shell,
        buildsDir: runner.buildsDir,
        cacheDir: runner.cacheDir,
        cwd: ctx.cwd,
        env: ctx.env,
        tempDir: ctx.tempDir,
        job: ctx.job,
        // As the official runner's GetAllVariables: the runner's `environment`, then the
        // job's own (later wins), so config_exec and prepare_exec see both as CUSTOM_ENV_*.
        variables: [...parseEnvironment(runner.environment), ...ctx.job.variables],
        output: ctx.output,
        log: ctx.log,
        ...(ctx.onProcessGroup ? { onProcessGroup: ctx.onProcessGroup } : {}),
      });
    }
    default:
      throw new JobFailedError(
        "runner_system_failure",
        `Executor "${runner.executor}" is not supported: use one of ${
          SUPPORTED_EXECUTORS.join(", ")
        }`,
      );
  }
}

/**
 * The `sweep` message (executors/process_protocol.ts): removes what dead
 * executor processes of this runner host left in docker (sweepOrphans, with a
 * lease of this process's own). Null for executors that leave nothing there.
 */
export async function sweepDockerLeftovers(
  runner: RunnerConfig,
  options: { stateDir: string; env: Record<string, string> },
): Promise<SweepResult | null> {
  if (runner.executor !== "docker" && runner.executor !== "docker+ssh") return null;
  const { connectDocker, OwnerLease, sweepOrphans } = await import("../executors/docker/mod.ts");
  const docker = await connectDocker(runner.docker, { env: (name) => options.env[name] });
  await using lease = await OwnerLease.acquire(executorStateDir(options.stateDir));
  return await sweepOrphans(docker, lease);
}

/**
 * Where the artifact and cache stages reach the job's files (job_files/):
 * shell on this host, docker in the build container through the Engine
 * archive API, ssh over SFTP. `executor` is the one createExecutor made for
 * the same context; its files are looked up per stage, after prepare.
 * job_files/ (archives, zip) is imported here, on first use, so that jobs
 * without artifacts or caches never load it.
 */
export async function createJobFiles(ctx: ExecutorContext, executor: Executor): Promise<JobFiles> {
  const { ContainerJobFiles, LocalJobFiles, RemoteJobFiles, UnavailableJobFiles } = await import(
    "../job_files/mod.ts"
  );
  const options = { tempDir: ctx.tempDir };
  switch (ctx.runner.executor) {
    case "shell":
      return new LocalJobFiles(ctx.tempDir, () => (executor as ShellExecutor).owner);
    case "docker":
      return new ContainerJobFiles(() => (executor as DockerExecutor).files(), options);
    case "ssh":
    case "docker+ssh":
      // Both ssh executors expose the remote host's files as SftpFiles.
      return new RemoteJobFiles(() => (executor as SshExecutor).files(), options);
    default:
      return new UnavailableJobFiles(ctx.runner.executor);
  }
}

/**
 * The runner user's docker config (`$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`): registry credentials when DOCKER_AUTH_CONFIG is
 * unset, as the official runner reads it. "" when absent or unreadable.
 */
function readDockerConfig(env: Record<string, string>): string {
  const path = dockerConfigPath((name) => env[name]);
  if (!path) return "";
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}
