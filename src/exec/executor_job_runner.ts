/**
 * Runs one job attempt for `runner exec` exactly as the poller runs a job
 * from GitLab: an executor subprocess from the same launcher, with the same
 * permissions and the same start message, its raw trace fed through the same
 * `JobTrace` masking and UTF-8 pipeline. What differs is around it: the
 * working tree is copied into the job's project directory first (the payload
 * says `GIT_STRATEGY=none`), and the log goes to the terminal, not to GitLab.
 *
 * The project directory is the one the build derives (run_build.ts):
 * `<builds_dir>/<short token>/<slot>/<project path>`, the project path being
 * taken from `git_info.repo_url` as for any job. Exec points `repo_url` at
 * its local endpoint, `<runner url>/<project path>.git`, as GitLab's points
 * at GitLab; nothing clones from it.
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { projectPathFromRepoUrl } from "../build/git_remote.ts";
import {
  type CacheUrlAnswer,
  type CacheUrlRequest,
  executorSettings,
  type FromExecutor,
  type ResultEvent,
  type SweptEvent,
} from "../executors/process_protocol.ts";
import type { JobSpec } from "../job/job_spec.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { ExecutorPermissions } from "../poller/executor_permissions.ts";
import type { ExecutorLauncher, ExecutorProcess } from "../poller/process_launcher.ts";
import { isDockerOwner, sweepLeftovers } from "../poller/leftover_sweep.ts";
import { joinPath } from "../shells/script_writer.ts";
import {
  expandVariables,
  lookupVariable,
  parseEnvironment,
  runnerVariable,
} from "../build/job_variables.ts";
import type { JobTrace } from "../trace/job_trace.ts";
import type { AttemptOptions, AttemptResult, JobAttemptRunner } from "./pipeline_runner.ts";
import type { WorkspacePlan } from "../pipeline/pipeline_plan.ts";
import { copyWorkspace } from "./workspace_copy.ts";

/**
 * Answers a job's `cache-url` requests (the executor process asks for each
 * distributed cache download and upload), as the poller does for a job from
 * GitLab: the credentials stay here.
 */
export interface CacheUrlAnswers {
  /** Resolves an answer with an `error` rather than rejecting. */
  answer(job: JobSpec, request: CacheUrlRequest): Promise<CacheUrlAnswer>;
}

export interface ExecutorJobRunnerOptions {
  launcher: ExecutorLauncher;
  /** For a runner entry with a distributed cache; without, each request is answered that there is none. */
  cacheUrls?: CacheUrlAnswers;
  /** The runner entry jobs run with; its `token` is "" and `url` the local endpoint. */
  runner: RunnerConfig;
  /** Temporary directory the executor processes may use. */
  tempDir: string;
  permissions: ExecutorPermissions;
  shortToken: string;
  systemId: string;
  /** Working directory of the executor process. */
  cwd: string;
  /** Shared state of executor processes (docker owner leases). */
  executorStateDir: string;
  workspace: WorkspacePlan;
  /** `namespace/name` of the project. */
  projectPath: string;
  /**
   * The builds directory as seen from this host: `builds_dir` for the shell
   * executor, the host side of the `/builds` bind for docker.
   */
  hostBuildsDir: string;
  /**
   * How many jobs will probably run (the plan's job count): a process is
   * started ahead only while more are expected, so a last job does not pay
   * for a spare nobody uses.
   */
  expectedJobs: number;
  /**
   * A process already launched with `permissions` (started before the
   * pipeline was planned); used by the first job.
   */
  spare?: ExecutorProcess;
  /** After a cancel, how long the executor process has before it is killed. Default 10 s. */
  killGraceMs?: number;
}

const encoder = new TextEncoder();

/**
 * Call order: `run` any number of times, at once or in turn; `close` once
 * at the end (it may run twice). One executor process is kept started ahead
 * (`prelaunch`): a process loads its modules while it waits for its start
 * message, so the next job does not wait for that start-up.
 *
 * A job ends with its result, as for the poller: the executor process sends
 * it before it removes a docker job's containers (executor_process.ts), and
 * `run` resolves then, so the next job starts during that removal. The
 * process is still watched till it exits: a stop (`signal`) reaches it as
 * during the job, and `close` resolves only once every process has exited.
 */
export class ExecutorJobRunner implements JobAttemptRunner, AsyncDisposable {
  readonly #o: ExecutorJobRunnerOptions;
  #spare: ExecutorProcess | null = null;
  #launched = 0;
  /** Workspace archives written so far (their names are unique per attempt). */
  #archives = 0;
  #isClosed = false;
  /** Processes that gave their job's result, until each has exited. */
  readonly #exiting = new Set<Promise<void>>();

  constructor(options: ExecutorJobRunnerOptions) {
    this.#o = options;
    if (options.spare !== undefined) {
      this.#spare = options.spare;
      this.#launched = 1;
    }
  }

  /** Starts an executor process for the next job now; failures surface in `run`. */
  prelaunch(): void {
    if (this.#spare !== null || this.#isClosed || this.#launched >= this.#o.expectedJobs) return;
    try {
      this.#spare = this.#o.launcher.launch(this.#o.permissions);
      this.#launched++;
    } catch {
      // `run` launches again and reports the error in the job log.
    }
  }

  #take(): ExecutorProcess {
    const spare = this.#spare;
    this.#spare = null;
    if (spare !== null) return spare;
    this.#launched++;
    return this.#o.launcher.launch(this.#o.permissions);
  }

  /**
   * Stops the process kept for a next job, and resolves once every process
   * that gave a result has exited (its cleanup done).
   */
  async close(): Promise<void> {
    this.#isClosed = true;
    const spare = this.#spare;
    this.#spare = null;
    if (spare !== null) {
      spare.kill("SIGKILL");
      await spare[Symbol.asyncDispose]();
    }
    while (this.#exiting.size > 0) await Promise.all(this.#exiting);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** `repo_url` for jobs of this project: the local endpoint, as GitLab's points at GitLab. */
  repoUrl(): string {
    const path = this.#o.projectPath.split("/").map(encodeURIComponent).join("/");
    return `${this.#o.runner.url.replace(/\/+$/, "")}/${path}.git`;
  }

  /**
   * Whether a docker job runs as a non-root user (`image:docker:user` or
   * `[runners.docker] user`): the copied tree must then be writable for it.
   */
  #isContainerUserNonRoot(job: JobSpec): boolean {
    if (this.#o.runner.executor !== "docker") return false;
    const user = (job.image.dockerUser || this.#o.runner.docker.user).split(":")[0] ?? "";
    return user !== "" && user !== "root" && user !== "0";
  }

  #answerCacheUrl(job: JobSpec, request: CacheUrlRequest): Promise<CacheUrlAnswer> {
    if (this.#o.cacheUrls === undefined) {
      return Promise.resolve({
        type: "cache-url",
        id: request.id,
        error: "runner exec has no distributed cache",
      });
    }
    return this.#o.cacheUrls.answer(job, request);
  }

  /**
   * The job's project directory on this host in workspace slot `slot`: its
   * `GIT_CLONE_PATH` when the runner entry lets jobs choose it
   * (`custom_build_dir`, on for docker), as the build resolves it
   * (run_build.ts), else `hostProjectDir`. A path the build refuses (outside
   * the builds directory) is not written: the job fails saying why. The
   * builds directory itself is refused here: the copy would clear it of other
   * jobs' directories, and a copy put elsewhere left the job in a directory
   * without the project's files.
   */
  #projectDirOf(job: JobSpec, slot: number): string {
    const { runner, shortToken, hostBuildsDir } = this.#o;
    if (!runner.customBuildDirEnabled) return this.hostProjectDir(slot);
    // The builds directory as the job sees it: in the container for docker.
    const buildsDir = runner.executor === "docker" ? runner.buildsDir || "/builds" : hostBuildsDir;
    const variables = expandVariables([
      runnerVariable("CI_RUNNER_SHORT_TOKEN", shortToken),
      ...parseEnvironment(runner.environment),
      runnerVariable("CI_BUILDS_DIR", buildsDir),
      runnerVariable("CI_CONCURRENT_ID", String(slot)),
      runnerVariable("CI_CONCURRENT_PROJECT_ID", String(slot)),
      ...job.variables,
    ]);
    const clonePath = lookupVariable(variables, "GIT_CLONE_PATH") ?? "";
    if (clonePath === "") return this.hostProjectDir(slot);
    const dir = joinPath(clonePath);
    const root = joinPath(buildsDir);
    if (dir === root) {
      throw new JobFailedError(
        "runner_configuration_error",
        `the GIT_CLONE_PATH="${clonePath}" is the builds directory "${buildsDir}": runner exec ` +
          "copies the project into the project directory, clearing what else is there, so it " +
          "has to be a directory within the builds directory",
      );
    }
    if (!dir.startsWith(root.endsWith("/") ? root : `${root}/`)) return this.hostProjectDir(slot);
    return joinPath(hostBuildsDir, dir.slice(root.length));
  }

  /** The job's project directory on this host for workspace slot `slot`. */
  hostProjectDir(slot: number): string {
    const projectPath = projectPathFromRepoUrl(this.repoUrl()) ?? "project-0";
    return joinPath(this.#o.hostBuildsDir, this.#o.shortToken, String(slot), projectPath);
  }

  /**
   * Has a fresh process of the docker permission row remove what the dead
   * executor process left in docker (poller/leftover_sweep.ts); the job log
   * says what it removed.
   */
  async #sweep(trace: JobTrace): Promise<void> {
    let line: string;
    try {
      const swept = await sweepLeftovers(this.#o.launcher, {
        runner: this.#o.runner,
        permissions: this.#o.permissions,
        stateDir: this.#o.executorStateDir,
      });
      line = swept === "timeout"
        ? "\x1b[0;33mWARNING: Removing what the executor process left in docker did not finish in time\x1b[0;m"
        : swept.error !== undefined
        ? `\x1b[0;33mWARNING: Cannot remove what the executor process left in docker: ${swept.error}\x1b[0;m`
        : describeSwept(swept);
    } catch (error) {
      line = `\x1b[0;33mWARNING: Cannot remove what the executor process left in docker: ${
        (error as Error).message
      }\x1b[0;m`;
    }
    trace.write(encoder.encode(`${line}\n`), "runner");
  }

  /**
   * Follows a process that gave its job's result to its exit (what it still
   * says is dropped), then disposes of it; `close` waits for this.
   */
  #untilExit(child: ExecutorProcess, stopper: ProcessStopper): void {
    const exited = (async () => {
      try {
        for await (const _ of child.events()) {
          // Nothing of the job comes after its result.
        }
      } catch {
        // Its stdout broke: the exit status tells the end.
      }
      await child.status;
      stopper[Symbol.dispose]();
      await child[Symbol.asyncDispose]();
    })().catch(() => {});
    this.#exiting.add(exited);
    exited.finally(() => this.#exiting.delete(exited));
  }

  async run(job: JobSpec, options: AttemptOptions): Promise<AttemptResult> {
    const spec: JobSpec = { ...job, gitInfo: { ...job.gitInfo, repoUrl: this.repoUrl() } };
    // Opened once the start message is on its way (exec_trace.ts), or by a
    // failure before that.
    let trace: JobTrace | null = null;
    const openTrace = async () => {
      const { openExecTrace } = await import("./exec_trace.ts");
      return trace ??= openExecTrace(spec, this.#o.runner, options.onLog);
    };
    try {
      return await this.#run(spec, options, openTrace);
    } finally {
      (trace as JobTrace | null)?.[Symbol.dispose]();
    }
  }

  async #run(
    spec: JobSpec,
    options: AttemptOptions,
    openTrace: () => Promise<JobTrace>,
  ): Promise<AttemptResult> {
    const fail = async (reason: string, message: string): Promise<AttemptResult> => {
      const trace = await openTrace();
      trace.write(
        encoder.encode(`\x1b[31;1mERROR: Job failed (system failure): ${message}\x1b[0;m\n`),
        "runner",
      );
      trace.close();
      return { state: "failed", failureReason: reason };
    };
    if (options.signal.aborted) return { state: "failed", failureReason: "job_canceled" };
    // Launched first: the process starts up while the working tree is copied.
    let proc;
    try {
      proc = this.#take();
    } catch (error) {
      return await fail(
        "runner_system_failure",
        `Cannot start the executor process: ${(error as Error).message}`,
      );
    }
    const child = proc;
    /** Set once the job's result came: the process then ends on its own (`#untilExit`). */
    let isEnding = false;
    try {
      return await this.#attempt(child, spec, options, {
        openTrace,
        fail,
        onResult: () => {
          isEnding = true;
        },
      });
    } finally {
      if (!isEnding) await child[Symbol.asyncDispose]();
    }
  }

  /**
   * Whether jobs run where this host's files are not (an ssh host, a custom
   * driver's environment): the working tree then travels as an archive that
   * get_sources extracts, not as a copy in the builds directory.
   */
  #isRemote(): boolean {
    const executor = this.#o.runner.executor;
    return executor === "ssh" || executor === "custom" || executor === "docker+ssh";
  }

  /** Puts the working tree where the job finds it; resolves with the archive's path for a remote job. */
  async #deliverWorkspace(spec: JobSpec, slot: number): Promise<string | null> {
    if (this.#isRemote()) {
      const { writeWorkspaceArchive } = await import("./workspace_archive.ts");
      const path = joinPath(this.#o.tempDir, `workspace-${spec.id}-${++this.#archives}.tar`);
      try {
        await writeWorkspaceArchive(this.#o.workspace, path);
      } catch (error) {
        throw new Error(`Cannot archive the working tree into "${path}"`, { cause: error });
      }
      return path;
    }
    await copyWorkspace(this.#o.workspace, this.#projectDirOf(spec, slot), {
      ...(this.#isContainerUserNonRoot(spec) ? { worldWritableFrom: this.#o.hostBuildsDir } : {}),
    });
    return null;
  }

  async #attempt(
    child: ExecutorProcess,
    spec: JobSpec,
    options: AttemptOptions,
    { openTrace, fail, onResult }: {
      openTrace: () => Promise<JobTrace>;
      fail: (reason: string, message: string) => Promise<AttemptResult>;
      onResult: () => void;
    },
  ): Promise<AttemptResult> {
    this.prelaunch();
    let archive: string | null = null;
    try {
      archive = await this.#deliverWorkspace(spec, options.slot);
    } catch (error) {
      child.kill("SIGKILL");
      if (error instanceof JobFailedError) return await fail(error.reason, error.message);
      const cause = (error as Error).cause;
      return await fail(
        "runner_system_failure",
        `${(error as Error).message}${cause ? `: ${(cause as Error).message}` : ""}`,
      );
    }
    const stopper = new ProcessStopper(child, options.signal, this.#o.killGraceMs ?? 10_000);
    let result: ResultEvent | null = null;
    try {
      await child.send({
        type: "start",
        job: spec,
        runner: executorSettings(this.#o.runner),
        shortToken: this.#o.shortToken,
        systemId: this.#o.systemId,
        concurrentId: options.slot,
        concurrentProjectId: options.slot,
        cwd: this.#o.cwd,
        stateDir: this.#o.executorStateDir,
        tempDir: this.#o.tempDir,
        ...(archive !== null ? { workspaceArchive: archive } : {}),
      });
      stopper.watch();
      // The job's output waits in the pipe while the trace pipeline loads.
      const trace = await openTrace();
      for await (const item of child.events()) {
        if ("trace" in item) trace.write(item.trace, item.stream);
        else if (item.event.type === "cache-url") {
          // Unanswered, the cache step would wait a minute for each archive.
          void this.#answerCacheUrl(spec, item.event).then((answer) => child.send(answer))
            .catch(() => {});
        } else result = resultOf(item.event) ?? result;
        // The result is the job's last frame: the job ends here, the process
        // exits once it removed what the job left (a docker job's containers).
        if (result !== null) break;
      }
    } catch {
      // The process went away mid-stream; reported below from its status.
    }
    // Read at the start of the job (executor_process.ts): no longer needed.
    if (archive !== null) void Deno.remove(archive).catch(() => {});
    if (result !== null) {
      onResult();
      this.#untilExit(child, stopper);
    } else {
      await child.status;
      stopper[Symbol.dispose]();
    }
    const trace = await openTrace();
    if (result === null) {
      const status = await child.status;
      // A docker job's containers, network and volumes outlive a killed process.
      if (isDockerOwner(this.#o.runner)) await this.#sweep(trace);
      if (options.signal.aborted) {
        trace.write(encoder.encode("\x1b[31;1mERROR: Job failed: canceled\x1b[0;m\n"), "runner");
        trace.close();
        return { state: "failed", failureReason: "job_canceled" };
      }
      const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
      const tail = child.stderrTail().trim().split("\n").slice(-3).join(" | ");
      return await fail(
        "runner_system_failure",
        `executor process ended unexpectedly (${how})${tail ? `: ${tail}` : ""}`,
      );
    }
    trace.close();
    return {
      state: result.state,
      ...(result.failureReason ? { failureReason: result.failureReason } : {}),
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    };
  }
}

/**
 * Cancels the job of an executor process when `signal` aborts, and kills the
 * process if it has not exited `graceMs` later. Disposing stops both.
 */
class ProcessStopper implements Disposable {
  readonly #child: ExecutorProcess;
  readonly #signal: AbortSignal;
  readonly #graceMs: number;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #onAbort = () => {
    this.#child.send({ type: "cancel", graceful: false }).catch(() => {});
    this.#killTimer ??= setTimeout(() => this.#child.kill("SIGKILL"), this.#graceMs);
  };

  constructor(child: ExecutorProcess, signal: AbortSignal, graceMs: number) {
    this.#child = child;
    this.#signal = signal;
    this.#graceMs = graceMs;
  }

  /** From now on (the job was sent), an abort stops the process. */
  watch(): void {
    this.#signal.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#signal.aborted) this.#onAbort();
  }

  [Symbol.dispose](): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    // Only when set: even clearTimeout(undefined) loads node:timers (time/clock.ts).
    if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
  }
}

/** "Removed what the executor process left in docker: containers a, b; networks n". */
function describeSwept(swept: SweptEvent): string {
  const parts = ([["containers", swept.containers], ["networks", swept.networks], [
    "volumes",
    swept.volumes,
  ]] as const).filter(([, names]) => names.length > 0)
    .map(([kind, names]) => `${kind} ${names.join(", ")}`);
  const failed = swept.failures.map((f) => `; could not remove ${f.name}: ${f.reason}`).join("");
  return parts.length === 0 && failed === ""
    ? "The executor process left nothing in docker"
    : `Removed what the executor process left in docker: ${parts.join("; ") || "nothing"}${failed}`;
}

function resultOf(event: FromExecutor): ResultEvent | null {
  return event.type === "result" ? event : null;
}
