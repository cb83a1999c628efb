/**
 * Runs one job on an executor, stage by stage, as the official runner does
 * (spec/gitlab-runner-api.md §8), and says how it ended.
 *
 * ```ts
 * const result: BuildResult = await runBuild({
 *   job, runner, shortToken, systemId, concurrentId, concurrentProjectId,
 *   executor, output, cancel: { graceful, abort }, version,
 *   clock, hooks, onStage, log, retryDelays,
 * });
 * ```
 *
 * - `output` receives the raw job log: the runner's own lines (header,
 *   section markers, `Job succeeded` / `ERROR: Job failed: …`) and, through
 *   the executor (which must have been built with the same output), what the
 *   scripts print. Masking and size limits are applied downstream (trace/).
 * - `cancel.graceful` (GitLab says `canceling`): during the user's steps it
 *   stops them, then after_script (CI_JOB_STATUS=canceled), failure uploads
 *   and cleanup still run; before them it ends the job. `cancel.abort`
 *   (GitLab says `canceled`, or the runner stops) kills the running stage and
 *   runs nothing more. Both end as `failed` / `job_canceled`, except an abort
 *   whose reason is a RunnerInterrupt (the runner stops on a signal):
 *   `runner_interrupted`, "Job failed: aborted: terminated", as upstream.
 * - The job timeout (`job.timeout` seconds) covers every stage and ends the
 *   job as `job_execution_timeout`; RUNNER_SCRIPT_TIMEOUT covers the user's
 *   steps only (after_script still runs, CI_JOB_STATUS=timedout).
 * - `executor.cleanup()` always runs before runBuild resolves, unless
 *   `isCleanupDeferred` and the executor has `finishJob`: then that runs, and
 *   the caller cleans up after reporting. runBuild never rejects: every
 *   failure becomes a `BuildResult`.
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import type { Executor, ExecutorPaths, JobOutput } from "../executors/executor.ts";
import type { ExecutorStep } from "../executors/executor_stage.ts";
import { F } from "../log/fields.ts";
import type { Logger } from "../log/logger.ts";
import { type FailureReason, JobFailedError } from "../job/failure_reason.ts";
import { describeExit, reportedExitCode } from "../job/exit_status.ts";
import { RunnerInterrupt } from "../job/runner_interrupt.ts";
import { unknownWhenWarnings, unsupportedFeatureError } from "../job/unsupported_features.ts";
import { type JobSpec, type JobVariable, variableValue } from "../job/job_spec.ts";
import { joinPath } from "../shells/script_writer.ts";
import {
  isShellVariableName,
  unexportedVariables,
  unquotableField,
} from "../shells/shell_quote.ts";
import {
  afterScript,
  cleanupFiles,
  cleanupScript,
  clearWorktreeScript,
  commandScript,
  getSourcesScript,
  GIT_NONE_NOTICES,
  type GitSources,
  isCredentialRejectNeeded,
  isGetSourcesScriptNeeded,
  prepareScript,
  type ScriptInfo,
  stepScript,
  workspaceScript,
} from "../shells/stage_scripts.ts";
import { type BuildSettings, resolveBuildSettings } from "./build_settings.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import {
  describeNonDefaultFlags,
  featureFlagsForJob,
  ignoredFeatureFlags,
  removedFeatureFlagsSet,
  runnerOnlyFlagsSetByJob,
  unparsableFeatureFlags,
} from "./feature_flags.ts";
import { projectPathFromRepoUrl, resolveGitRemote } from "./git_remote.ts";
import { CLONE_URL_EXPECTED, parseCloneUrl } from "../config/clone_url.ts";
import { formatGoDuration } from "../time/go_duration.ts";
import {
  buildJobVariables,
  expandValue,
  type JobTls,
  lookupVariable,
  parseEnvironment,
  type RunnerVersion,
  TLS_CA_FILE_KEY,
  TLS_CERT_FILE_KEY,
  TLS_KEY_FILE_KEY,
} from "./job_variables.ts";
import { JobLog, stageDescription } from "./job_log.ts";
import type { BuildStageHooks, HookStage, StageContext } from "./stage_hooks.ts";

export interface BuildResult {
  state: "success" | "failed";
  failureReason?: FailureReason;
  /** The failing script's exit code (script_failure). */
  exitCode?: number;
  /** Why it failed, as printed after `Job failed: `. */
  message?: string;
}

export interface BuildCancel {
  /** Stop the user's script; after_script and failure uploads still run. */
  graceful: AbortSignal;
  /**
   * Kill the running stage now; nothing more runs. Aborted with a
   * RunnerInterrupt when the runner is stopping on a signal.
   */
  abort: AbortSignal;
}

export interface RunBuildOptions {
  job: JobSpec;
  /** The runner entry; its `token` is "" in the executor process and is not used. */
  runner: RunnerConfig;
  shortToken: string;
  /** Shown in the header as `system ID: …` when set. */
  systemId?: string;
  concurrentId: number;
  concurrentProjectId: number;
  executor: Executor;
  output: JobOutput;
  cancel: BuildCancel;
  version: RunnerVersion;
  /** Defaults to the wall clock. */
  clock?: Clock;
  hooks?: BuildStageHooks;
  /**
   * `runner exec` on another host (ssh, custom): a tar of the working tree
   * that get_sources extracts into the emptied project directory
   * (workspaceScript), the job's GIT_STRATEGY being none.
   */
  workspaceArchive?: Uint8Array;
  /** Called as each stage starts (for the poller's stage events and metrics). */
  onStage?: (stage: string) => void;
  /**
   * Called as the build enters a step with its executor: `prepare`, `run`
   * (each time a stage's script starts), `finish` (the stages are over),
   * `cleanup` (when runBuild cleans up itself). For the executor stage metrics.
   */
  onExecutorStep?: (step: ExecutorStep) => void;
  /** Operator log for things that do not belong in the job log. */
  log?: Logger;
  /** Waits between retries; tests pass 0. Defaults: 3000 ms and 5000 ms. */
  retryDelays?: { prepareMs?: number; stageRetryMs?: number };
  /** The runner's TLS files' contents, given to the job and git as the official runner does. */
  tls?: JobTls;
  /** The job's web terminal, when GitLab got a terminal session for it. */
  terminal?: BuildTerminal;
  /**
   * The caller calls `executor.cleanup()` itself once it reported the result
   * (the executor process does): runBuild then ends the job with
   * `executor.finishJob()` where the executor has one, so the result does not
   * wait for the removal of containers. Default false: runBuild cleans up.
   */
  isCleanupDeferred?: boolean;
}

/**
 * The web terminal as the build sees it: a terminal still connected when the
 * scripts end keeps the job open until it disconnects or the session timeout
 * (capped by the job timeout) passes, as the official runner does.
 */
export interface BuildTerminal {
  /** `[session_server] session_timeout`. */
  readonly sessionTimeoutSeconds: number;
  readonly isConnected: boolean;
  /** Resolves once no terminal is connected. */
  disconnected(): Promise<void>;
  /** Disconnects the terminal (its shell is killed). May run twice. */
  close(): Promise<void>;
}

const PREPARE_ATTEMPTS = 3;
const STAGE_RETRY_MAX_MS = 5 * 60_000;
/** How long cleanup_file_variables may take after a job timeout or graceful cancel. */
const LATE_CLEANUP_TIMEOUT_MS = 60_000;
const TIMEOUT_HELP = "For more control over job and script timeouts see: " +
  "https://docs.gitlab.com/ci/runners/configure_runners/#set-script-and-after_script-timeouts";

type StopCause = "abort" | "graceful" | "timeout";

/** Thrown inside the build when the job-wide signal ended it; turned into a result at the top. */
class JobStopped extends Error {
  constructor(readonly stopCause: StopCause) {
    super(`job stopped: ${stopCause}`);
  }
}

/** `scheme://host[:port]` of an http(s) URL; null for anything else. */
function httpOrigin(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : null;
  } catch {
    return null;
  }
}

export async function runBuild(options: RunBuildOptions): Promise<BuildResult> {
  const build = new Build(options);
  return await build.run();
}

class Build {
  readonly #o: RunBuildOptions;
  readonly #clock: Clock;
  readonly #log: JobLog;
  /** Aborted with a StopCause when the whole job must stop. */
  readonly #job = new AbortController();
  /** Aborted at the end to cancel pending timers. */
  readonly #done = new AbortController();
  #onGraceful: () => void;
  readonly #unlink: Array<() => void> = [];

  #settings!: BuildSettings;
  #flags: Record<string, boolean> = {};
  #projectDir = "";
  #projectPath = "";
  #variables: JobVariable[] = [];
  #git!: GitSources;

  constructor(options: RunBuildOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock();
    this.#log = new JobLog(options.output, {
      now: () => this.#clock.now(),
      sections: options.job.features.traceSections,
    });
    this.#onGraceful = () => this.#stop("graceful");
  }

  get #jobTimeoutMs(): number {
    return this.#o.job.timeout * 1000;
  }

  #stop(cause: StopCause): void {
    if (!this.#job.signal.aborted) this.#job.abort(cause);
  }

  #link(signal: AbortSignal, fn: () => void): void {
    if (signal.aborted) {
      fn();
      return;
    }
    signal.addEventListener("abort", fn, { once: true });
    this.#unlink.push(() => signal.removeEventListener("abort", fn));
  }

  /** An AbortSignal that fires after `ms` unless the build is over. */
  #timer(ms: number): AbortSignal {
    const controller = new AbortController();
    this.#clock.sleep(ms, this.#done.signal).then(
      () => controller.abort("timeout"),
      () => {},
    );
    return controller.signal;
  }

  async run(): Promise<BuildResult> {
    this.#link(this.#o.cancel.abort, () => this.#stop("abort"));
    this.#link(this.#o.cancel.graceful, () => this.#onGraceful());
    this.#link(this.#timer(this.#jobTimeoutMs), () => this.#stop("timeout"));

    let error: unknown = null;
    let preparedScript = false;
    const startedAt = this.#clock.now();
    try {
      this.#header();
      this.#checkPayload();
      preparedScript = await this.#prepare();
      await this.#runStages();
    } catch (e) {
      error = e;
    }
    await this.#waitForTerminal(startedAt);

    if (error instanceof JobStopped) {
      if (error.stopCause === "timeout") {
        this.#log.warning(
          `${this.#currentStage} could not run to completion because the timeout was exceeded. ${TIMEOUT_HELP}`,
        );
      }
      // The official runner leaves file variables behind when a job is stopped;
      // we still remove them (secrets on a shared host). Told to kill now, only
      // where that needs no stage process.
      if (preparedScript && error.stopCause !== "abort") await this.#lateCleanup();
      else if (preparedScript) await this.#removeFilesAtOnce();
      const interrupt = this.#o.cancel.abort.reason;
      error = error.stopCause === "timeout"
        ? new JobFailedError(
          "job_execution_timeout",
          `execution took longer than ${formatGoDuration(this.#jobTimeoutMs)} seconds`,
        )
        : error.stopCause === "abort" && interrupt instanceof RunnerInterrupt
        ? new JobFailedError("runner_interrupted", interrupt.message)
        : new JobFailedError("job_canceled", "canceled");
    }

    this.#done.abort();
    for (const unlink of this.#unlink) unlink();
    const { executor } = this.#o;
    this.#o.onExecutorStep?.("finish");
    try {
      if (this.#o.isCleanupDeferred && executor.finishJob) await executor.finishJob();
      else {
        this.#o.onExecutorStep?.("cleanup");
        await executor.cleanup();
      }
    } catch (e) {
      this.#o.log?.warn("Executor cleanup failed", { [F.ERROR]: String(e) });
    }
    return this.#finish(error);
  }

  /**
   * Keeps the job open while a web terminal is connected, with the official
   * runner's messages. A stopped job (cancel, abort, timeout) closes the
   * terminal at once.
   */
  async #waitForTerminal(startedAt: number): Promise<void> {
    const terminal = this.#o.terminal;
    if (!terminal?.isConnected) return;
    if (this.#job.signal.aborted) {
      await terminal.close();
      return;
    }
    const left = startedAt + this.#jobTimeoutMs - this.#clock.now();
    const ms = Math.max(0, Math.min(terminal.sessionTimeoutSeconds * 1000, left));
    const shown = formatGoDuration(Math.round(ms / 1000) * 1000);
    this.#log.info(`Terminal is connected, will time out in ${shown}...`);
    const stop = new AbortController();
    const outcome = await Promise.race([
      terminal.disconnected().then(() => "disconnected" as const),
      this.#clock.sleep(ms, stop.signal).then(() => "timeout" as const, () => "stopped" as const),
      new Promise<"stopped">((resolve) => this.#link(this.#job.signal, () => resolve("stopped"))),
    ]);
    stop.abort();
    if (outcome === "disconnected") this.#log.info("Terminal disconnected");
    else if (outcome === "timeout") {
      this.#log.info(`terminal session timed out (maximum time allowed - ${shown})`);
    }
    if (outcome !== "disconnected") await terminal.close();
  }

  #finish(error: unknown): BuildResult {
    if (error === null) {
      this.#log.info("Job succeeded");
      return { state: "success" };
    }
    if (error instanceof JobFailedError) {
      if (error.reason === "runner_system_failure") {
        this.#log.error(`Job failed (system failure): ${error.message}`);
      } else {
        this.#log.error(`Job failed: ${error.message}`);
      }
      const result: BuildResult = {
        state: "failed",
        failureReason: error.reason,
        message: error.message,
      };
      if (error.exitCode !== 0) result.exitCode = error.exitCode;
      return result;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.#log.error(`Job failed (system failure): ${message}`);
    return { state: "failed", failureReason: "runner_system_failure", message };
  }

  /**
   * Before any stage: fails the job on what it asks for that this runner
   * does not do or no shell can hold; warns, naming the field, about what
   * it takes but does not act on.
   */
  #checkPayload(): void {
    const job = this.#o.job;
    const unsupported = unsupportedFeatureError(job);
    if (unsupported !== null) throw unsupported;
    const unquotable = unquotableField(job) ?? unquotableRunnerSetting(this.#o.runner);
    if (unquotable !== null) {
      throw new JobFailedError(
        "runner_configuration_error",
        `The job cannot run: ${unquotable} contains a NUL byte, which a shell cannot hold`,
      );
    }
    for (const warning of unknownWhenWarnings(job)) this.#log.warning(warning);
    for (const key of unexportedVariables(job)) {
      this.#log.warning(
        `Variable ${JSON.stringify(key)} is not a shell variable name (letters, digits and _, ` +
          "not starting with a digit): the job's scripts do not export it",
      );
    }
  }

  #header(): void {
    const { version, runner, shortToken, systemId, job } = this.#o;
    this.#log.println(`Running with ${version.name} ${version.version} (${version.revision})`);
    if (shortToken !== "") {
      this.#log.println(
        `  on ${runner.name} ${shortToken}${systemId ? `, system ID: ${systemId}` : ""}`,
      );
    }
    // Flags are resolved from config, the runner's environment and the job's
    // variables; paths do not matter for them.
    this.#flags = featureFlagsForJob(runner, job.variables);
    const described = describeNonDefaultFlags(this.#flags);
    if (described !== "") this.#log.println(`  feature flags: ${described}`);
    for (const { name, value, fallback } of unparsableFeatureFlags(runner, job.variables)) {
      this.#log.warning(
        `Feature flag ${name}=${
          JSON.stringify(value)
        } is not true or false: it keeps its default, ${fallback}`,
      );
    }
    for (const name of removedFeatureFlagsSet(runner, job.variables)) {
      this.#log.warning(
        `Feature flag ${name} was removed from GitLab Runner and has no effect`,
      );
    }
    for (const name of runnerOnlyFlagsSetByJob(runner.featureFlags, this.#flags)) {
      this.#log.warning(
        `Feature flag ${name}=${this.#flags[name]} has no effect as a job variable or ` +
          "environment entry: this runner reads it only from [runners.feature_flags]",
      );
    }
    for (const name of ignoredFeatureFlags(this.#flags)) {
      this.#log.warning(
        `Feature flag ${name}=${
          this.#flags[name]
        } is not supported by this runner and has no effect`,
      );
    }
  }

  #currentStage = "prepare_executor";

  #enter(stage: string): void {
    this.#currentStage = stage;
    this.#o.onStage?.(stage);
  }

  /**
   * `prepare_timeout` or `get_sources_timeout` (seconds; 0 = unset) in ms,
   * within the job timeout. A value below 0 or above the job timeout gives
   * way to the job timeout with the official runner's job-log warning.
   */
  #stageTimeoutMs(key: string, seconds: number): number {
    const jobMs = this.#jobTimeoutMs;
    const ms = seconds * 1000;
    if (ms < 0) {
      this.#log.warning(
        `${key} (${formatGoDuration(ms)}) must be greater than 0; ` +
          `using job timeout (${formatGoDuration(jobMs)})`,
      );
      return jobMs;
    }
    if (ms > jobMs) {
      this.#log.warning(
        `${key} (${formatGoDuration(ms)}) exceeds job timeout (${formatGoDuration(jobMs)}); ` +
          "using job timeout",
      );
      return jobMs;
    }
    return ms === 0 ? jobMs : ms;
  }

  /** prepare_executor and prepare_script; resolves true once prepare_script passed. */
  async #prepare(): Promise<boolean> {
    const { executor, runner } = this.#o;
    const prepareMs = this.#stageTimeoutMs("prepare_timeout", runner.prepareTimeout);
    const prepareTimer = this.#timer(prepareMs);
    const prepareSignal = AbortSignal.any([this.#job.signal, prepareTimer]);
    const prepareTimeout = () =>
      new JobFailedError(
        "job_execution_timeout",
        `prepare timeout: exceeded timeout of ${formatGoDuration(prepareMs)}`,
      );

    this.#enter("prepare_executor");
    this.#o.onExecutorStep?.("prepare");
    await this.#log.section("prepare_executor", async () => {
      this.#log.stageHeader(`Preparing the "${runner.executor}" executor`);
      for (let attempt = 1;; attempt++) {
        try {
          await executor.prepare(prepareSignal, {
            variables: (paths) => this.#variablesFor(paths),
          });
          return;
        } catch (e) {
          this.#throwIfStopped();
          if (prepareTimer.aborted) throw prepareTimeout();
          if (e instanceof JobFailedError) throw e;
          const message = e instanceof Error ? e.message : String(e);
          if (attempt >= PREPARE_ATTEMPTS) {
            throw new JobFailedError("runner_system_failure", message, { cause: e });
          }
          const waitMs = this.#o.retryDelays?.prepareMs ?? 3000;
          this.#log.error(`Preparation failed: ${message}`);
          this.#log.info(`Will be retried in ${formatGoDuration(waitMs)} ...`);
          await this.#sleep(waitMs, prepareSignal);
          if (prepareTimer.aborted) throw prepareTimeout();
        }
      }
    });

    this.#computeVariables("running");
    for (const warning of this.#settings.warnings) this.#log.warning(warning);

    const code = await this.#stage(
      "prepare_script",
      prepareScript(this.#scriptInfo(), {
        ...(this.#o.executor.hostname ? { hostname: this.#o.executor.hostname } : {}),
        ...(this.#o.executor.localHostname ? { runningOn: this.#o.executor.localHostname } : {}),
        ...(this.#isGetSourcesScriptSkipped() ? { createProjectDir: true } : {}),
      }),
      prepareSignal,
    );
    if (prepareTimer.aborted && !this.#job.signal.aborted) throw prepareTimeout();
    if (code !== 0) {
      throw new JobFailedError(
        "script_failure",
        `prepare environment: ${describeExit(code)}. ` +
          "Check https://docs.gitlab.com/runner/shells/#shell-profile-loading for more information",
        { exitCode: reportedExitCode(code) },
      );
    }
    return true;
  }

  #throwIfStopped(): void {
    if (this.#job.signal.aborted) throw new JobStopped(this.#job.signal.reason as StopCause);
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0) return;
    try {
      await this.#clock.sleep(ms, signal);
    } catch {
      this.#throwIfStopped();
    }
  }

  /** Runs one stage script in its section; resolves with the exit code. */
  async #stage(stage: string, script: string, signal: AbortSignal): Promise<number> {
    this.#throwIfStopped();
    this.#enter(stage);
    const code = await this.#log.section(stage, async () => {
      this.#log.stageHeader(stageDescription(stage));
      return await this.#exec(stage, script, signal);
    });
    this.#throwIfStopped();
    return code;
  }

  async #exec(stage: string, script: string, signal: AbortSignal): Promise<number> {
    try {
      this.#o.onExecutorStep?.("run");
      return await this.#o.executor.run({ stage, script, variables: this.#variables }, signal);
    } catch (e) {
      this.#throwIfStopped();
      if (e instanceof JobFailedError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      throw new JobFailedError("runner_system_failure", `stage "${stage}": ${message}`, {
        cause: e,
      });
    }
  }

  #computeVariables(jobStatus: string): void {
    const { executor } = this.#o;
    const paths = executor.paths;
    if (paths.buildsDir === "") {
      throw new JobFailedError("runner_configuration_error", "the builds_dir is not configured");
    }
    if (paths.cacheDir === "") {
      throw new JobFailedError("runner_configuration_error", "the cache_dir is not configured");
    }
    const base = this.#variableInputs(paths.buildsDir, jobStatus);
    if (this.#projectDir === "") {
      // Settings first (from a list without paths), since GIT_STRATEGY and
      // GIT_CLONE_PATH decide the project dir.
      this.#settings = this.#settingsFrom(buildJobVariables({ ...base, projectDir: "" }));
      this.#projectPath = this.#projectPathOf();
      this.#projectDir = this.#resolveProjectDir(paths.buildsDir, paths.isBuildsDirShared, {
        settings: this.#settings,
        projectPath: this.#projectPath,
      });
    }
    this.#variables = buildJobVariables({ ...base, projectDir: this.#projectDir });
    if (this.#git === undefined) this.#git = this.#gitSources();
  }

  /** What buildJobVariables needs, but the project dir. */
  #variableInputs(buildsDir: string, jobStatus: string) {
    const { job, runner, executor } = this.#o;
    return {
      jobVariables: job.variables,
      imageName: job.image.name,
      shortToken: this.#o.shortToken,
      environment: runner.environment,
      featureFlags: this.#flags,
      buildsDir,
      concurrentId: this.#o.concurrentId,
      concurrentProjectId: this.#o.concurrentProjectId,
      jobStatus,
      timeoutSeconds: job.timeout,
      isSharedEnvironment: executor.isSharedEnvironment ?? false,
      version: this.#o.version,
      ...(this.#o.tls ? { tls: this.#o.tls } : {}),
    };
  }

  #settingsFrom(draft: JobVariable[]): BuildSettings {
    const { job, runner } = this.#o;
    // A file variable's value, not its path, as the official Variables.Value.
    return resolveBuildSettings((k) => variableValue({ variables: draft }, k), {
      allowGitFetch: job.allowGitFetch,
      jobTimeoutMs: this.#jobTimeoutMs,
      debugTraceDisabled: runner.debugTraceDisabled,
    });
  }

  /**
   * The job's variables while the executor prepares, for an executor whose
   * own programs see them then (custom: config_exec and prepare_exec get them
   * as CUSTOM_ENV_*, as the official runner's GetAllVariables gives them),
   * for `paths`: CI_BUILDS_DIR and CI_PROJECT_DIR are "" while unknown (no
   * builds_dir yet, or a GIT_CLONE_PATH prepare will refuse). Changes nothing.
   */
  #variablesFor(paths: ExecutorPaths): JobVariable[] {
    const base = this.#variableInputs(paths.buildsDir, "running");
    let projectDir = "";
    if (paths.buildsDir !== "") {
      try {
        projectDir = this.#resolveProjectDir(paths.buildsDir, paths.isBuildsDirShared, {
          settings: this.#settingsFrom(buildJobVariables({ ...base, projectDir: "" })),
          projectPath: this.#projectPathOf(),
        });
      } catch {
        // Refused with its reason once prepare resolved (#computeVariables).
      }
    }
    return buildJobVariables({ ...base, projectDir });
  }

  #projectPathOf(): string {
    const { job } = this.#o;
    return projectPathFromRepoUrl(job.gitInfo.repoUrl) ?? `project-${job.jobInfo.projectId}`;
  }

  #resolveProjectDir(
    buildsDir: string,
    shared: boolean,
    { settings, projectPath }: { settings: BuildSettings; projectPath: string },
  ): string {
    const clonePath = settings.gitClonePath;
    if (clonePath !== "") {
      if (!this.#o.runner.customBuildDirEnabled) {
        throw new JobFailedError(
          "runner_configuration_error",
          "setting GIT_CLONE_PATH is not allowed, enable `custom_build_dir` feature",
        );
      }
      const dir = joinPath(clonePath);
      const root = joinPath(buildsDir);
      if (dir !== root && !dir.startsWith(root.endsWith("/") ? root : `${root}/`)) {
        throw new JobFailedError(
          "runner_configuration_error",
          `the GIT_CLONE_PATH="${clonePath}" has to be within "${buildsDir}"`,
        );
      }
      // runner exec's get_sources empties the project directory before it
      // extracts the working tree (workspaceScript): in the builds directory
      // itself that would remove every other project and job directory there
      // (and all of a builds_dir that is $HOME or /). exec's local copy keeps
      // out of it the same way (executor_job_runner.ts).
      if (dir === root && this.#o.workspaceArchive !== undefined) {
        throw new JobFailedError(
          "runner_configuration_error",
          `the GIT_CLONE_PATH="${clonePath}" is the builds directory "${buildsDir}": ` +
            "runner exec empties the project directory before extracting the working tree " +
            "into it, so it has to be a directory within the builds directory",
        );
      }
      return dir;
    }
    let dir = shared
      ? joinPath(
        buildsDir,
        this.#o.shortToken,
        String(this.#o.concurrentProjectId),
        projectPath,
      )
      : joinPath(buildsDir, projectPath);
    if (settings.gitStrategy === "empty") dir += "-empty";
    return dir;
  }

  #lookup(key: string): string | undefined {
    return lookupVariable(this.#variables, key);
  }

  #gitSources(): GitSources {
    const { job, runner } = this.#o;
    const s = this.#settings;
    if (runner.cloneUrl !== "" && parseCloneUrl(runner.cloneUrl) === null) {
      // Ignored, every job would clone from where GitLab says, the setting unheard.
      throw new JobFailedError(
        "runner_configuration_error",
        `[[runners]] clone_url "${runner.cloneUrl}" is not ${CLONE_URL_EXPECTED}`,
      );
    }
    const remote = resolveGitRemote({
      repoUrl: job.gitInfo.repoUrl,
      cloneUrl: runner.cloneUrl,
      serverUrl: runner.url,
      projectPath: this.#lookup("CI_PROJECT_PATH") ?? job.jobInfo.projectFullPath,
      jobToken: job.token,
    });
    const hookCommands = (name: string) =>
      job.hooks.filter((h) => h.name === name).flatMap((h) => h.script);
    const v = this.#o.version;
    return {
      strategy: s.gitStrategy,
      checkout: s.gitCheckout,
      cleanFlags: s.gitCleanFlags,
      fetchFlags: s.gitFetchFlags,
      depth: job.gitInfo.depth,
      refspecs: job.gitInfo.refspecs,
      sha: job.gitInfo.sha,
      ref: job.gitInfo.ref,
      objectFormat: job.gitInfo.repoObjectFormat,
      remoteUrl: remote.remoteUrl,
      insteadOfs: remote.insteadOfs,
      userAgent: `${v.name} ${v.version} ${v.os}/${v.arch}`,
      lfsSmudgeDisabled: s.lfsSmudgeDisabled,
      submoduleStrategy: s.gitSubmoduleStrategy,
      submoduleDepth: s.gitSubmoduleDepth ?? job.gitInfo.depth,
      submoduleUpdateFlags: s.gitSubmoduleUpdateFlags,
      bundleUris: this.#flags["FF_USE_GIT_BUNDLE_URIS"] ?? true,
      gitalyCorrelationId: this.#flags["FF_USE_GITALY_CORRELATION_ID"] === false
        ? ""
        : job.requestCorrelationId,
      cleanGitConfig: runner.cleanGitConfig,
      preCommands: [
        ...(runner.preGetSourcesScript ? [runner.preGetSourcesScript] : []),
        ...hookCommands("pre_get_sources_script"),
      ],
      postCommands: [
        ...hookCommands("post_get_sources_script"),
        ...(runner.postGetSourcesScript ? [runner.postGetSourcesScript] : []),
      ],
      credentialHost: remote.credentialHost,
      sslFiles: ([
        ["sslCAInfo", TLS_CA_FILE_KEY],
        ["sslCert", TLS_CERT_FILE_KEY],
        ["sslKey", TLS_KEY_FILE_KEY],
      ] as const).flatMap(([setting, key]) => {
        const v = this.#variables.findLast((x) => x.key === key);
        return v?.file ? [[setting, this.#lookup(key) as string] as const] : [];
      }),
      remoteHost: httpOrigin(remote.remoteUrl),
    };
  }

  #scriptInfo(): ScriptInfo {
    return {
      shell: this.#o.executor.shell,
      variables: this.#variables.map((v) => ({ key: v.key, value: v.value, file: v.file })),
      projectDir: this.#projectDir,
      tmpDir: `${this.#projectDir}.tmp`,
      exitCodeCheck: this.#flags["FF_ENABLE_BASH_EXIT_CODE_CHECK"] ?? false,
      scriptSections: (this.#flags["FF_SCRIPT_SECTIONS"] ?? false) &&
        this.#o.job.features.traceSections,
      debugTrace: this.#settings.debugTrace,
      legacyEval: this.#flags["FF_USE_LEGACY_BASH_EVAL"] ?? false,
    };
  }

  async #runStages(): Promise<void> {
    let error: JobFailedError | null = null;
    try {
      await this.#getSources();
      await this.#hookStage("restore_cache", this.#settings.restoreCacheAttempts);
      await this.#hookStage("download_artifacts", this.#settings.downloadArtifactsAttempts);
    } catch (e) {
      if (e instanceof GetSourcesTimeout) {
        // A get_sources timeout ends the job at once; only the secrets are removed.
        await this.#cleanupFileVariables(this.#o.cancel.abort);
        throw e.error;
      }
      if (!(e instanceof JobFailedError)) throw e;
      error = e;
    }
    if (error === null) error = await this.#userScripts();

    const success = error === null;
    const archiveError = await this.#hookStageCaught(
      success ? "archive_cache" : "archive_cache_on_failure",
    );
    const uploadError = await this.#hookStageCaught(
      success ? "upload_artifacts_on_success" : "upload_artifacts_on_failure",
    );
    await this.#cleanupFileVariables(this.#job.signal);
    const final = error ?? archiveError ?? uploadError;
    if (final !== null) throw final;
  }

  /**
   * Whether get_sources is printed by the build instead of run as a script
   * (GIT_STRATEGY=none; prepare_script then creates the project dir). Not for
   * the custom executor: its driver is told about every stage, as upstream.
   */
  #isGetSourcesScriptSkipped(): boolean {
    return this.#o.runner.executor !== "custom" &&
      !isGetSourcesScriptNeeded(this.#scriptInfo(), this.#git);
  }

  async #getSources(): Promise<void> {
    const archive = this.#o.workspaceArchive;
    if (archive !== undefined) {
      this.#throwIfStopped();
      if (archive.length > MAX_WORKSPACE_ARCHIVE_BYTES) {
        const mib = (bytes: number) => Math.floor(bytes / (1 << 20));
        throw new JobFailedError(
          "runner_system_failure",
          `The working tree from runner exec is ${
            mib(archive.length)
          } MiB as an archive (with .git), more than the ${
            mib(MAX_WORKSPACE_ARCHIVE_BYTES)
          } MiB a get_sources script can carry to where the job runs`,
        );
      }
      const timeoutMs = this.#stageTimeoutMs(
        "get_sources_timeout",
        this.#o.runner.getSourcesTimeout,
      );
      const signal = AbortSignal.any([this.#job.signal, this.#timer(timeoutMs)]);
      const script = workspaceScript(this.#scriptInfo(), base64Of(archive));
      this.#enter("get_sources");
      const code = await this.#log.section("get_sources", async () => {
        this.#log.stageHeader(stageDescription("get_sources"));
        this.#log.info(
          `Extracting the working tree from runner exec (${Math.ceil(archive.length / 1024)} KiB)`,
        );
        return await this.#exec("get_sources", script, signal);
      });
      this.#throwIfStopped();
      if (code !== 0) {
        throw new JobFailedError(
          "runner_system_failure",
          `Cannot extract the working tree into the project directory: ${describeExit(code)}`,
        );
      }
      return;
    }
    if (this.#isGetSourcesScriptSkipped()) {
      this.#throwIfStopped();
      this.#enter("get_sources");
      await this.#log.section("get_sources", () => {
        this.#log.stageHeader(stageDescription("get_sources"));
        for (const notice of GIT_NONE_NOTICES) this.#log.info(notice);
        return Promise.resolve();
      });
      return;
    }
    const runner = this.#o.runner;
    const timeoutMs = this.#stageTimeoutMs("get_sources_timeout", runner.getSourcesTimeout);
    const timer = this.#timer(timeoutMs);
    const signal = AbortSignal.any([this.#job.signal, timer]);
    const attempts = this.#settings.getSourcesAttempts;
    const timedOut = () => {
      const e = new JobFailedError(
        "job_execution_timeout",
        `get sources timeout: exceeded timeout of ${formatGoDuration(timeoutMs)}`,
      );
      this.#log.warning(
        `get_sources could not run to completion because the timeout was exceeded. ${TIMEOUT_HELP}`,
      );
      return new GetSourcesTimeout(e);
    };
    for (let attempt = 1;; attempt++) {
      if (attempt > 1) {
        // Broken submodules can survive `git clean`; start from a clean tree.
        await this.#stage("clear_worktree", clearWorktreeScript(this.#scriptInfo()), signal);
        if (timer.aborted) throw timedOut();
      }
      const code = await this.#stage(
        "get_sources",
        getSourcesScript(this.#scriptInfo(), this.#git),
        signal,
      );
      if (timer.aborted) throw timedOut();
      if (code === 0) return;
      if (attempt >= attempts) {
        throw new JobFailedError("script_failure", describeExit(code), {
          exitCode: reportedExitCode(code),
        });
      }
      this.#log.warning("Retrying...");
      await this.#sleep(this.#retryBackoff(attempt), signal);
      if (timer.aborted) throw timedOut();
    }
  }

  #retryBackoff(attempt: number): number {
    if (!(this.#flags["FF_USE_EXPONENTIAL_BACKOFF_STAGE_RETRY"] ?? true)) return 0;
    const min = this.#o.retryDelays?.stageRetryMs ?? 5000;
    return Math.min(min * 2 ** (attempt - 1), STAGE_RETRY_MAX_MS);
  }

  #hookContext(stage: HookStage, signal: AbortSignal): StageContext | null {
    const hook = this.#o.hooks?.[stage];
    if (hook === undefined) return null;
    const context: StageContext = {
      stage,
      job: this.#o.job,
      variables: this.#variables,
      buildsDir: this.#o.executor.paths.buildsDir,
      projectDir: this.#projectDir,
      cacheDir: this.#o.executor.paths.cacheDir,
      projectPath: this.#projectPath,
      tmpDir: `${this.#projectDir}.tmp`,
      executor: this.#o.executor,
      log: this.#log,
      signal,
      runScript: (lines) => this.#exec(stage, commandScript(this.#scriptInfo(), lines), signal),
    };
    return hook.isNeeded(context) ? context : null;
  }

  async #hookStage(stage: HookStage, attempts = 1): Promise<void> {
    this.#throwIfStopped();
    const context = this.#hookContext(stage, this.#job.signal);
    const hook = this.#o.hooks?.[stage];
    if (context === null || hook === undefined) return;
    for (let attempt = 1;; attempt++) {
      this.#enter(stage);
      try {
        await this.#log.section(stage, async () => {
          this.#log.stageHeader(stageDescription(stage));
          await hook.run(context);
        });
        this.#throwIfStopped();
        return;
      } catch (e) {
        this.#throwIfStopped();
        const error = e instanceof JobFailedError ? e : new JobFailedError(
          "runner_system_failure",
          e instanceof Error ? e.message : String(e),
          { cause: e },
        );
        if (attempt >= attempts) throw error;
        this.#log.warning("Retrying...");
        await this.#sleep(this.#retryBackoff(attempt), this.#job.signal);
      }
    }
  }

  async #hookStageCaught(stage: HookStage): Promise<JobFailedError | null> {
    try {
      await this.#hookStage(stage);
      return null;
    } catch (e) {
      if (e instanceof JobFailedError) return e;
      throw e;
    }
  }

  /** step_* stages then after_script; resolves with the job's error so far. */
  async #userScripts(): Promise<JobFailedError | null> {
    const { job, runner } = this.#o;
    const script = new AbortController();
    let scriptCause: "graceful" | "timeout" | null = null;
    this.#onGraceful = () => {
      scriptCause ??= "graceful";
      script.abort("graceful");
    };
    if (this.#o.cancel.graceful.aborted) this.#onGraceful();
    const signals = [this.#job.signal, script.signal];
    if (this.#settings.scriptTimeoutMs > 0) {
      const timer = this.#timer(this.#settings.scriptTimeoutMs);
      this.#link(timer, () => {
        scriptCause ??= "timeout";
        script.abort("timeout");
      });
      signals.push(timer);
    }
    const scriptSignal = AbortSignal.any(signals);

    let error: JobFailedError | null = null;
    let lastStage = "step_script";
    for (const step of job.steps) {
      if (step.name === "after_script") continue;
      if (scriptSignal.aborted) break;
      lastStage = `step_${step.name.toLowerCase()}`;
      // `release` commands come from the YAML with variables the runner expands.
      const commands = step.name === "release"
        ? step.script.map((c) => expandValue(c, (k) => this.#lookup(k)))
        : step.script;
      const code = await this.#stage(
        lastStage,
        stepScript(this.#scriptInfo(), commands, {
          preBuildScript: runner.preBuildScript,
          postBuildScript: runner.postBuildScript,
        }),
        scriptSignal,
      );
      if (code !== 0 && scriptCause === null) {
        error = new JobFailedError("script_failure", describeExit(code), {
          exitCode: reportedExitCode(code),
        });
        break;
      }
      if (scriptCause !== null) break;
    }
    // Graceful cancels after this point no longer stop anything (as upstream).
    this.#onGraceful = () => {};

    let status = error === null ? "success" : "failed";
    if (scriptCause === "graceful") {
      error = new JobFailedError("job_canceled", "canceled");
      this.#log.warning("script canceled externally (UI, API)");
      status = "canceled";
    } else if (scriptCause === "timeout") {
      this.#log.warning(
        `${lastStage} could not run to completion because the timeout was exceeded. ${TIMEOUT_HELP}`,
      );
      error = new JobFailedError(
        "job_execution_timeout",
        "script timeout: context deadline exceeded",
      );
      status = "timedout";
    }

    const afterError = await this.#afterScript(status);
    if (afterError !== null) {
      if (this.#settings.afterScriptIgnoreErrors) {
        this.#log.warning(
          `after_script failed, but job will continue unaffected: ${afterError.message}`,
        );
      } else if (error === null) {
        error = afterError;
      }
    }
    return error;
  }

  async #afterScript(status: string): Promise<JobFailedError | null> {
    const step = this.#o.job.steps.find((s) => s.name === "after_script");
    if (step === undefined || step.script.length === 0) return null;
    this.#computeVariables(status);
    const timeoutMs = this.#settings.afterScriptTimeoutMs;
    const timer = this.#timer(timeoutMs);
    const code = await this.#stage(
      "after_script",
      afterScript(this.#scriptInfo(), step.script),
      AbortSignal.any([this.#job.signal, timer]),
    );
    if (timer.aborted) {
      this.#log.warning(
        `after_script could not run to completion because the timeout was exceeded. ${TIMEOUT_HELP}`,
      );
      return new JobFailedError(
        "job_execution_timeout",
        `after_script timeout: exceeded timeout of ${formatGoDuration(timeoutMs)}`,
      );
    }
    if (code !== 0) {
      return new JobFailedError("script_failure", describeExit(code), {
        exitCode: reportedExitCode(code),
      });
    }
    return null;
  }

  async #cleanupFileVariables(signal: AbortSignal): Promise<void> {
    if (signal.aborted) this.#throwIfStopped();
    this.#enter("cleanup_file_variables");
    const info = this.#scriptInfo();
    const files = cleanupFiles(info);
    const { removeFiles } = this.#o.executor;
    // Only files to remove, and an executor that can do it with the job's own
    // rights: no stage process for that (one login shell less per job).
    const inProcess = removeFiles !== undefined && !isCredentialRejectNeeded(this.#git) &&
      files.every((file) => file.startsWith(`${info.tmpDir}/`));
    let code: number;
    try {
      code = await this.#log.section("cleanup_file_variables", async () => {
        this.#log.stageHeader(stageDescription("cleanup_file_variables"));
        if (inProcess) {
          await removeFiles(files);
          return 0;
        }
        this.#o.onExecutorStep?.("run");
        return await this.#o.executor.run(
          {
            stage: "cleanup_file_variables",
            script: cleanupScript(info, this.#git),
            variables: this.#variables,
          },
          signal,
        );
      });
    } catch (e) {
      this.#o.log?.warn("Error while executing file based variables removal script", {
        [F.ERROR]: String(e),
      });
      return;
    }
    if (code !== 0) {
      this.#o.log?.warn("File based variables removal script failed", {
        [F.ERROR]: describeExit(code),
      });
    }
  }

  /**
   * After an abort: the files cleanup_file_variables would remove (file
   * variables, GITLAB_ENV), removed in this process where the executor can
   * (shell executor as the runner's user), with no section in the log.
   */
  async #removeFilesAtOnce(): Promise<void> {
    const { removeFiles } = this.#o.executor;
    if (removeFiles === undefined) return;
    const info = this.#scriptInfo();
    const files = cleanupFiles(info).filter((file) => file.startsWith(`${info.tmpDir}/`));
    try {
      await removeFiles(files);
    } catch (e) {
      this.#o.log?.warn("Error while removing file based variables", { [F.ERROR]: String(e) });
    }
  }

  async #lateCleanup(): Promise<void> {
    const timer = this.#timer(LATE_CLEANUP_TIMEOUT_MS);
    await this.#cleanupFileVariables(AbortSignal.any([this.#o.cancel.abort, timer]));
  }
}

/**
 * The first `[[runners]]` setting the scripts carry that no shell can hold (a
 * NUL byte), named as in config.toml; null when there is none. An
 * `environment` entry counts when the scripts export it.
 */
function unquotableRunnerSetting(runner: RunnerConfig): string | null {
  const scripts = [
    ["pre_get_sources_script", runner.preGetSourcesScript],
    ["post_get_sources_script", runner.postGetSourcesScript],
    ["pre_build_script", runner.preBuildScript],
    ["post_build_script", runner.postBuildScript],
  ] as const;
  for (const [key, script] of scripts) {
    if (script.includes("\0")) return `the runner's ${key}`;
  }
  const variable = parseEnvironment(runner.environment)
    .find((v) => isShellVariableName(v.key) && v.value.includes("\0"));
  return variable ? `the value of variable "${variable.key}" (the runner's environment)` : null;
}

/**
 * The largest workspace archive a get_sources script carries: as base64
 * wrapped at 76 columns (4/3 and 77/76 of its bytes) the script must stay a
 * JavaScript string, at most 2^29 - 24 UTF-16 units in V8, with room for the
 * rest of the script. Beyond it btoa and the script writer failed with
 * "Cannot encode string: string contains characters outside of the Latin1
 * range" or "Invalid string length", naming nothing.
 */
const MAX_WORKSPACE_ARCHIVE_BYTES = Math.floor(((2 ** 29 - 24 - (1 << 20)) * 3 / 4) * 76 / 77);

/** `bytes` as base64, built in slices: one spread of megabytes overflows the call stack. */
function base64Of(bytes: Uint8Array): string {
  let text = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(text);
}

/** Carries a get_sources timeout past the stage-error handling: it ends the job at once. */
class GetSourcesTimeout extends Error {
  constructor(readonly error: JobFailedError) {
    super(error.message);
  }
}
