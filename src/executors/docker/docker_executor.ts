/**
 * The docker executor: a job runs in a container of its image, with service
 * containers on a per-job network, build and cache directories on volumes
 * that persist per project and concurrency slot.
 *
 * Layout (see docs/executors/docker.md):
 * - `prepare` pulls images, starts services and waits for them, then creates
 *   and starts the build container. Its main process is the image entrypoint
 *   followed by `sh` with stdin held open: it idles, doing nothing, until
 *   cleanup removes the container.
 * - `run` execs each stage script in that container with the detected shell
 *   (bash, else sh). `get_sources` runs in a helper container (helper_image,
 *   created on first use) that mounts the same volumes, so the job image
 *   needs no git.
 * - Aborting a stage kills its container (every process of the stage, also
 *   ones it put in the background); the next stage starts the container again.
 * - `cleanup` removes containers, the network and temporary volumes. Everything
 *   is labelled with the owning executor process, so after a `kill -9` the
 *   next executor's `sweepOrphans` removes what was left.
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import type { DockerApi } from "./docker_client.ts";
import type { DockerConfig } from "../../config/runner_config.ts";
import { type FailureReason, JobFailedError } from "../../job/failure_reason.ts";
import {
  type JobImage,
  type JobSpec,
  type JobVariable,
  variableValue,
} from "../../job/job_spec.ts";
import { expandValue, expandVariables, parseEnvironment } from "../../build/job_variables.ts";
import { F } from "../../log/fields.ts";
import type { Logger } from "../../log/logger.ts";
import type {
  Executor,
  ExecutorPaths,
  JobOutput,
  JobTerminalProcess,
  PrepareOptions,
  ShellName,
  StageScript,
} from "../executor.ts";
import { TerminalInput } from "../terminal_input.ts";
import {
  daemonMessage,
  isBadParameter,
  isConflict,
  isDaemonUnreachable,
  isNotFound,
  isNotModified,
  isProcessNotStarted,
  isRefusedExtraHost,
  isRefusedSecurityOpt,
  refusedHostConfigKey,
  type StartRefusal,
  startRefusal,
} from "./_docker_errors.ts";
import { expandImageName } from "./_expand.ts";
import { type ContainerFileAccess, ContainerFiles, statPath } from "./container_files.ts";
import {
  containerLabels,
  type LabelContext,
  resourceLabels,
  type ResourceType,
} from "./docker_labels.ts";
import { sweepOrphans } from "./docker_resources.ts";
import { ExecFrameDecoder } from "./exec_frames.ts";
import {
  buildHostConfig,
  isPathWithin,
  parseVolumes,
  resolveUser,
  serviceHostConfig,
  type VolumeSpec,
} from "./host_config.ts";
import { withSeccompProfiles } from "./seccomp_profiles.ts";
import { checkImageAllowed, type PullPolicy, resolvePullPolicies } from "./image_policy.ts";
import { ensureImage, type PulledImage } from "./image_puller.ts";
import {
  containerLogs,
  followServiceLogs,
  probeService,
  serviceAliases,
  type ServiceLogFollower,
  servicePorts,
} from "./job_services.ts";
import { MainShell } from "./main_shell.ts";
import { detectShell, SHELL_CANDIDATES } from "./shell_detection.ts";
import { ABORT_GRACE_MS, settleAfterAbort } from "./abort_grace.ts";
import type { OwnerLease } from "./owner_lease.ts";
import { resolveRegistryAuth } from "./registry_auth.ts";
import type { CredentialHelper } from "./credential_helper.ts";
import {
  cacheVolumeName,
  jobResourcePrefix,
  temporaryVolumeName,
  type VolumeScope,
} from "./volume_names.ts";

export const DEFAULT_BUILDS_DIR = "/builds";
export const DEFAULT_CACHE_DIR = "/cache";
/** The official helper image; jobs need it (or `helper_image`) for get_sources. */
export const DEFAULT_HELPER_IMAGE =
  "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-latest";

/**
 * The default helper image for `helper_image_flavor`, tagged as the official
 * runner tags it: `<flavor>-x86_64-…`, except alpine (the default), which
 * has no prefix.
 */
export function defaultHelperImage(flavor: string): string {
  const f = flavor.trim();
  if (f === "" || f === "alpine") return DEFAULT_HELPER_IMAGE;
  return DEFAULT_HELPER_IMAGE.replace(/:x86_64-/, `:${f}-x86_64-`);
}
/** Stages that run in the helper container, where git is. */
export const HELPER_STAGES: ReadonlySet<string> = new Set(["get_sources", "clear_worktree"]);
/**
 * Stages the runner writes entirely (no user command, nothing left running):
 * in the build container they run as a child of its main shell, saving an
 * exec each (see main_shell.ts).
 */
export const MAIN_SHELL_STAGES: ReadonlySet<string> = new Set([
  "prepare_script",
  "cleanup_file_variables",
]);

/** Exit code a stage resolves with when aborted: the shell's code for SIGKILL. */
export const KILLED_EXIT_CODE = 137;

export interface DockerExecutorOptions {
  docker: DockerApi;
  config: DockerConfig;
  job: JobSpec;
  /** CI_RUNNER_SHORT_TOKEN; names volumes. Never the token itself. */
  shortToken: string;
  /** CI_CONCURRENT_PROJECT_ID: the slot whose volumes this job uses. */
  concurrentProjectId: number;
  output: JobOutput;
  log: Logger;
  /** Held by this executor process for its lifetime; labels resources for the orphan sweep. */
  lease: OwnerLease;
  /** `[[runners]] builds_dir`; "" means /builds. */
  buildsDir?: string;
  /** `[[runners]] cache_dir`; "" means /cache. */
  cacheDir?: string;
  /** The runner process's DOCKER_AUTH_CONFIG (env or ~/.docker/config.json content). */
  runnerDockerAuthConfig?: string;
  /** Runs `credsStore` / `credHelpers` programs; absent = they are reported and skipped. */
  credentialHelper?: CredentialHelper;
  /** Sweep orphans of dead executors during prepare (default true). */
  sweepOrphans?: boolean;
  /** `[[runners]] environment` (KEY=value): service containers get these too. */
  runnerEnvironment?: readonly string[];
  /**
   * CI_DEBUG_SERVICES: the services' output goes to the job log, line by line,
   * from their start until the job's output ends.
   */
  isServiceLogFollowed?: boolean;
  /**
   * FF_USE_INIT_WITH_DOCKER_EXECUTOR: the build and service containers run
   * with docker's `--init` (HostConfig.Init: docker-init, tini, as PID 1),
   * as the official runner starts them; the helper does not.
   */
  isInit?: boolean;
  /**
   * FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR: helper stages run without
   * `umask 0000`, so files they create are not world-writable.
   */
  isUmaskDisabled?: boolean;
}

interface JobContainer {
  container: Docker.Container;
  name: string;
  /** Absolute path of the shell that runs stage scripts. */
  shellPath: string;
  shell: ShellName;
  /** Set after an abort killed it; `run` starts it again first. */
  isStopped: boolean;
  /** The kill an abort sent, until it completed. */
  killing: Promise<void> | null;
  /** Whether the main process is the `sh` of `Cmd` (no entrypoint), so it can run stages. */
  isMainShellPlain: boolean;
  /** The entrypoint the main process starts with and where it comes from, for errors. */
  entrypointNote: string;
  /** The attach to that main shell, opened by the first stage that uses it. */
  mainShell: MainShell | null;
}

/** Linux's limit for one environment entry or argument (MAX_ARG_STRLEN, 32 pages). */
const MAX_ENV_ENTRY_BYTES = 131072;

/**
 * A connection error with no daemon answer (dockerd stopped or restarting, its socket
 * gone) said as such: it read 'connect ECONNREFUSED /var/run/docker.sock', naming no
 * daemon. Other errors pass unchanged.
 */
function daemonLost(err: unknown): unknown {
  if (!isDaemonUnreachable(err)) return err;
  return new Error(`Lost the connection to the Docker daemon: ${daemonMessage(err)}`, {
    cause: err,
  });
}

/** Lines of an ended build container's output shown with the error. */
const ENTRYPOINT_LOG_LINES = 20;

/** How long a web terminal waits for the build container to run. */
const TERMINAL_WAIT_MS = 60_000;

export class DockerExecutor implements Executor {
  shell: ShellName = "sh";
  paths: ExecutorPaths;

  readonly #o: DockerExecutorOptions;
  readonly #log: Logger;
  readonly #labelContext: LabelContext;
  readonly #scope: VolumeScope;
  /** Per prepare attempt: a retry never meets the names of a failed attempt. */
  #namePrefix = "";
  #prepareAttempts = 0;
  /** The job's image name (expanded), or `[runners.docker] image`. */
  #image = "";
  #build: JobContainer | null = null;
  #helperPromise: Promise<JobContainer> | null = null;
  /** Every container created for the job, removed at cleanup. */
  readonly #containerIds = new Set<string>();
  #networkId: string | null = null;
  #networkName = "";
  /**
   * `Links` of the build and helper containers on Docker's default bridge
   * (`network_mode = "bridge"`), where aliases are refused: "<service id>:<alias>".
   */
  #serviceLinks: string[] = [];
  /** Started services no health check watched: looked at once the build container exists. */
  #unprobedServices: { image: string; container: Docker.Container; name: string }[] = [];
  /** The build's variables (predefined ones included) while prepare runs; null without a build. */
  #buildVariables: ((paths: ExecutorPaths) => readonly JobVariable[]) | null = null;
  /** The services' output followed into the job log (CI_DEBUG_SERVICES). */
  #serviceLogs: ServiceLogFollower[] = [];
  readonly #temporaryVolumes = new Set<string>();
  #binds: string[] = [];
  #mounts: Record<string, unknown>[] = [];
  #user = "";
  /** `config` with its seccomp profile files read in (prepare). */
  #hostSettings: DockerConfig | null = null;
  #sweep: Promise<void> | null = null;
  #isFinished = false;
  #isCleanedUp = false;
  readonly #terminals = new Set<JobTerminalProcess>();

  constructor(options: DockerExecutorOptions) {
    this.#o = options;
    this.#log = options.log.child({ [F.JOB_ID]: options.job.id, [F.EXECUTOR]: "docker" });
    this.#scope = {
      shortToken: options.shortToken,
      projectId: options.job.jobInfo.projectId,
      concurrentProjectId: options.concurrentProjectId,
    };
    this.#labelContext = {
      ownerId: options.lease.ownerId,
      hostId: options.lease.hostId,
      jobId: options.job.id,
      projectId: options.job.jobInfo.projectId,
      shortToken: options.shortToken,
      concurrentProjectId: options.concurrentProjectId,
    };
    this.#newNamePrefix();
    this.paths = {
      buildsDir: options.buildsDir || DEFAULT_BUILDS_DIR,
      cacheDir: options.cacheDir || DEFAULT_CACHE_DIR,
      isBuildsDirShared: false,
    };
  }

  /** Tar-stream access to the build container's files; valid after `prepare`. */
  files(): ContainerFileAccess {
    if (!this.#build) throw new Error("The docker executor is not prepared: no build container");
    return new ContainerFiles(this.#build.container);
  }

  /** Name of the per-job network ("" when the job has no services). */
  get networkName(): string {
    return this.#networkName;
  }

  #say(line: string): void {
    this.#o.output.write(new TextEncoder().encode(`${line}\n`), "runner");
  }

  /** A random part keeps names unique across executors and prepare attempts of one job. */
  #newNamePrefix(): void {
    this.#namePrefix = `${jobResourcePrefix(this.#scope, this.#o.job.id)}-${
      crypto.randomUUID().slice(0, 8)
    }`;
  }

  #labels(type: ResourceType): Record<string, string> {
    return resourceLabels(this.#labelContext, type);
  }

  /** Labels of a container: ours plus `container_labels`, values expanded from job variables. */
  #containerLabels(type: ResourceType): Record<string, string> {
    const user = Object.fromEntries(
      Object.entries(this.#o.config.containerLabels).map(([k, v]) => [k, this.#expand(v)]),
    );
    return containerLabels(this.#labels(type), user, type === "service");
  }

  /**
   * Creates a container. The Engine's 400 means the request itself is wrong:
   * a configuration error (unknown runtime, bad option), not worth a retry.
   */
  async #createContainer(
    what: string,
    create: Docker.ContainerCreateOptions,
    platform = "",
  ): Promise<Docker.Container> {
    const { name, ...body } = create;
    const query: Record<string, string> = { name: name ?? "" };
    if (platform !== "") query["platform"] = platform;
    try {
      return await this.#o.docker.createContainer(
        { _query: query, _body: body } as unknown as Docker.ContainerCreateOptions,
      );
    } catch (err) {
      // A 404 is a setting's only when one names the missing container (not an image
      // removed since its pull, which a retry pulls again).
      const hostConfigKey = refusedHostConfigKey(err, what.startsWith("service"));
      const key = isRefusedExtraHost(err)
        ? "[runners.docker] extra_hosts: "
        : hostConfigKey !== null
        ? `[runners.docker] ${hostConfigKey}: `
        : this.#containerNamingKey(daemonMessage(err));
      if (isBadParameter(err) || hostConfigKey !== null || (isNotFound(err) && key !== "")) {
        throw new JobFailedError(
          "runner_configuration_error",
          `Cannot create the ${what} container: ${key}${daemonMessage(err)}`,
          { cause: err },
        );
      }
      if (isRefusedSecurityOpt(err)) {
        const key = what.startsWith("service") ? "services_security_opt" : "security_opt";
        throw new JobFailedError(
          "runner_configuration_error",
          `Cannot create the ${what} container: [runners.docker] ${key}: ${daemonMessage(err)}`,
          { cause: err },
        );
      }
      throw new Error(`Cannot create the ${what} container: ${daemonMessage(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * `main` names the container's first process and whose choice it is: when
   * the runtime cannot exec it (no such file), every retry would fail alike.
   */
  async #startContainer(
    what: string,
    container: Docker.Container,
    main?: { note: string; reason: FailureReason },
  ): Promise<void> {
    try {
      await container.start();
    } catch (err) {
      if (isNotModified(err)) return;
      if (main && isProcessNotStarted(err)) {
        throw new JobFailedError(
          main.reason,
          `Cannot start the ${what} container: ${main.note} cannot be run: ${daemonMessage(err)}`,
          { cause: err },
        );
      }
      // Settings the daemon checks only at start (devices, users, groups, sysctls,
      // tmpfs options): a retry fails alike, so the job ends naming the setting.
      const refusal = startRefusal(err);
      if (refusal !== null) {
        const { setting, reason } = this.#refusedSetting(refusal, what.startsWith("service"));
        throw new JobFailedError(
          reason,
          `Cannot start the ${what} container: ${setting}: ${daemonMessage(err)}`,
          { cause: err },
        );
      }
      const { networkMode } = this.#o.config;
      // The daemon looks network_mode up only at start, and answers 404 naming no key.
      if (isNotFound(err) && networkMode !== "" && daemonMessage(err).includes(networkMode)) {
        throw new JobFailedError(
          "runner_configuration_error",
          `Cannot start the ${what} container: [runners.docker] network_mode "${networkMode}" ` +
            `names no network: ${daemonMessage(err)}`,
          { cause: err },
        );
      }
      throw new Error(`Cannot start the ${what} container: ${daemonMessage(err)}`, { cause: err });
    }
  }

  /**
   * "[runners.docker] <key>: " for the key naming the container the daemon did not find
   * ('No such container: db', 'could not get container for db'), else "".
   */
  #containerNamingKey(message: string): string {
    const name = /(?:No such container|could not get container for):? ([^\s:]+)/.exec(message)?.[1];
    if (name === undefined) return "";
    const { config } = this.#o;
    const keys: [string, string[]][] = [
      ["links", config.links.map((l) => l.split(":")[0] ?? "")],
      ["volumes_from", config.volumesFrom.map((v) => v.split(":")[0] ?? "")],
      ["ipcmode", [config.ipcmode.replace(/^container:/, "")]],
      ["pid_mode", [config.pidMode.replace(/^container:/, "")]],
    ];
    const key = keys.find(([, names]) => names.includes(name))?.[0];
    return key ? `[runners.docker] ${key}: ` : "";
  }

  /** The setting behind a start refusal, and whose it is: config.toml's, or the job's. */
  #refusedSetting(
    refusal: StartRefusal,
    isService: boolean,
  ): { setting: string; reason: FailureReason } {
    const config = (key: string) => ({
      setting: `[runners.docker] ${key}`,
      reason: "runner_configuration_error" as const,
    });
    switch (refusal) {
      case "device":
        return config(isService ? "services_devices" : "devices");
      case "tmpfs":
        return config(isService ? "services_tmpfs" : "tmpfs");
      case "group":
        return config("group_add");
      case "sysctl":
        return config("sysctls");
      case "cpu_shares":
        return config(isService ? "service_cpu_shares" : "cpu_shares");
      case "device_cgroup_rule":
        return config("device_cgroup_rules");
      case "user":
        // A service's user comes from the job (services:docker:user); the build's from
        // image:docker:user, else [runners.docker] user.
        if (isService) return { setting: "the service's user", reason: "script_failure" };
        return this.#expand(this.#o.job.image.dockerUser) !== ""
          ? { setting: "the job's image user", reason: "script_failure" }
          : config("user");
    }
  }

  #expand(text: string): string {
    return expandImageName(text, (name) => variableValue(this.#o.job, name));
  }

  async #auth(image: string) {
    const problems: { source: string; message: string }[] = [];
    const auth = await resolveRegistryAuth(
      image,
      {
        jobDockerAuthConfig: variableValue(this.#o.job, "DOCKER_AUTH_CONFIG") ?? "",
        runnerDockerAuthConfig: this.#o.runnerDockerAuthConfig ?? "",
        credentials: this.#o.job.credentials,
      },
      problems,
      this.#o.credentialHelper,
    );
    for (const p of problems) this.#say(`WARNING: ${p.source} ${p.message}`);
    return auth;
  }

  async #pull(
    image: string,
    policies: readonly PullPolicy[],
    signal: AbortSignal,
    platform = "",
  ) {
    return await ensureImage(this.#o.docker, image, {
      policies,
      auth: () => this.#auth(image),
      say: (line) => this.#say(line),
      signal,
      platform,
    });
  }

  /**
   * May be called again after it failed (the build retries prepare): each
   * attempt starts from no containers and new names, so a retry reports its
   * own error, never a name conflict with the attempt before.
   */
  prepare(signal: AbortSignal, options: PrepareOptions = {}): Promise<void> {
    if (this.#prepareAttempts++ > 0) this.#newNamePrefix();
    this.#buildVariables = options.variables ?? null;
    const attempt = (async () => {
      try {
        await this.#prepareOnce(signal);
      } catch (err) {
        await this.#discardAttempt();
        throw daemonLost(err);
      }
    })();
    return settleAfterAbort(attempt, signal, () => {
      this.#warnUnanswered("the preparation");
      throw signal.reason;
    });
  }

  /** The daemon did not answer once `what` was stopped: said in the job log and the runner's. */
  #warnUnanswered(what: string): void {
    this.#say(
      `WARNING: The Docker daemon did not answer within ${ABORT_GRACE_MS / 1000}s after ${what} ` +
        "was stopped; the job's containers are left to the cleanup",
    );
    this.#log.warn("The Docker daemon did not answer after a stop", { [F.STAGE]: what });
  }

  #stopServiceLogs(): void {
    for (const follower of this.#serviceLogs) follower.close();
    this.#serviceLogs = [];
  }

  /** Removes the containers of a failed prepare attempt; volumes and network stay for the retry. */
  async #discardAttempt(): Promise<void> {
    this.#stopServiceLogs();
    await this.#helperPromise?.catch(() => {});
    await Promise.all([...this.#containerIds].map(async (id) => {
      try {
        await this.#o.docker.getContainer(id).remove({
          force: true,
          v: !this.#o.config.volumeKeep,
        });
        this.#containerIds.delete(id);
      } catch (err) {
        if (isNotFound(err)) this.#containerIds.delete(id);
        else {this.#log.warn("Cannot remove a container of a failed prepare", {
            [F.ERROR]: daemonMessage(err),
          });}
      }
    }));
    this.#build?.mainShell?.close();
    this.#build = null;
    this.#helperPromise = null;
    this.#pulledHelper = null;
    this.#binds = [];
    this.#mounts = [];
    this.#serviceLinks = [];
  }

  async #prepareOnce(signal: AbortSignal): Promise<void> {
    const { config, job, docker } = this.#o;
    if (this.#o.sweepOrphans !== false && this.#sweep === null) {
      // Runs beside the pull; a failed sweep is the operator's concern, not the job's.
      this.#sweep = sweepOrphans(docker, this.#o.lease).then((r) => {
        if (r.containers.length + r.networks.length + r.volumes.length > 0) {
          this.#log.info("Removed resources of dead docker executors", {
            "containers": r.containers.join(","),
            "networks": r.networks.join(","),
            "volumes": r.volumes.join(","),
          });
        }
        for (const f of r.failures) {
          this.#log.warn("Cannot remove an orphaned docker resource", {
            [F.KEY]: f.name,
            [F.ERROR]: f.reason,
          });
        }
      }, (err) => this.#log.warn("Orphan sweep failed", { [F.ERROR]: daemonMessage(err) }));
    }

    const jobImage = this.#expand(job.image.name);
    const image = jobImage || config.image;
    if (image === "") {
      throw new JobFailedError(
        "runner_configuration_error",
        "No image for the job: the job names none and [runners.docker] image is empty",
      );
    }
    this.#image = image;
    this.#checkEnvSize();
    // The runner's own default image is trusted; only job choices are checked.
    if (jobImage !== "") {
      checkImageAllowed(jobImage, config.allowedImages, "image", {
        internal: [this.#expand(config.image)],
      });
    }
    const services = this.#services();
    // As the official runner (ImageDockerOptions.Expand): user and platform take $VAR.
    this.#user = resolveUser(config, this.#expand(job.image.dockerUser));
    this.#hostSettings = await withSeccompProfiles(config);
    this.#say(`Using Docker executor with image ${image} ...`);
    if (config.volumeKeep) {
      this.#say(
        "WARNING: volume_keep is enabled: Docker volumes will not be removed after job " +
          "completion and may accumulate on disk",
      );
    }

    const policies = resolvePullPolicies(
      config.pullPolicy,
      config.allowedPullPolicies,
      job.image.pullPolicy,
    );
    const pulled = await this.#pull(
      image,
      policies,
      signal,
      this.#expand(job.image.dockerPlatform),
    );
    this.#prepareVolumes();

    this.#unprobedServices = [];
    if (services.length > 0) {
      await this.#startServices(services, signal);
    }
    if (this.#needsGit()) {
      // Start the helper beside the build container; get_sources awaits it.
      this.#helperContainer(signal).catch(() => {});
    }
    if (config.disableEntrypointOverwrite && job.image.entrypoint.length > 0) {
      // The official runner's words (executors/docker overwriteEntrypoint).
      this.#say("WARNING: Entrypoint override disabled");
    }
    this.#build = await this.#createJobContainer("build", pulled, {
      entrypoint: !config.disableEntrypointOverwrite && job.image.entrypoint.length > 0
        ? job.image.entrypoint
        : undefined,
      signal,
    });
    this.shell = this.#build.shell;
    await this.#warnEndedServices();
  }

  /**
   * A service without ports to wait for that has already ended (a crash at start,
   * an image whose command exits) gets the health check's warning with its exit
   * code and output: the job only saw its alias vanish ("bad address 'db'").
   */
  async #warnEndedServices(): Promise<void> {
    for (const service of this.#unprobedServices) {
      const info = await service.container.inspect().catch(() => null);
      const state = info?.State;
      if (!state || state.Running || state.Status === "created") continue;
      await this.#warnService(service, `the service container exited with code ${state.ExitCode}`);
    }
  }

  /**
   * `[[runners.docker.services]]` first (trusted: not checked against
   * allowed_services), then the job's, within `services_limit`.
   */
  #services(): JobImage[] {
    const { config, job } = this.#o;
    const internal: JobImage[] = config.services.map((s) => ({
      name: this.#expand(s.name),
      alias: this.#expand(s.alias),
      command: s.command,
      entrypoint: s.entrypoint,
      ports: [],
      variables: s.environment.flatMap((entry) => {
        const eq = entry.indexOf("=");
        // As the official runner: an entry without "=" is skipped.
        return eq <= 0 ? [] : [{
          key: entry.slice(0, eq),
          value: entry.slice(eq + 1),
          public: false,
          masked: false,
          file: false,
          raw: false,
        }];
      }),
      pullPolicy: [],
      dockerPlatform: "",
      dockerUser: "",
      unsupportedOptions: [],
    }));
    // As the official runner (createService): a name that expands to "" is a configuration
    // error; pulled, it failed as image_pull_failure 'Cannot get image ":latest"'.
    config.services.forEach((s, i) => {
      if (internal[i]!.name === "") {
        throw new JobFailedError(
          "runner_configuration_error",
          `invalid service image name: [[runners.docker.services]] name "${s.name}" is empty`,
        );
      }
    });
    // As the official runner (expandContainerOptions): name and alias, from the job's variables.
    const fromJob = job.services.map((s) => ({
      ...s,
      name: this.#expand(s.name),
      alias: this.#expand(s.alias),
      dockerUser: this.#expand(s.dockerUser),
      dockerPlatform: this.#expand(s.dockerPlatform),
    }));
    job.services.forEach((s, i) => {
      if (fromJob[i]!.name === "") {
        throw new JobFailedError(
          "runner_configuration_error",
          `invalid service image name: the job's service name "${s.name}" is empty`,
        );
      }
    });
    const internalNames = internal.map((s) => s.name);
    for (const s of fromJob) {
      checkImageAllowed(s.name, config.allowedServices, "service", { internal: internalNames });
    }
    const all = [...internal, ...fromJob];
    if (config.servicesLimit >= 0 && all.length > config.servicesLimit) {
      throw new JobFailedError(
        "runner_configuration_error",
        `too many services requested: ${all.length}, only ${config.servicesLimit} allowed ` +
          "(services_limit)",
      );
    }
    return all;
  }

  /**
   * Whether get_sources runs git. With GIT_STRATEGY none or empty it only
   * makes a directory, so it runs in the build container and the job needs no
   * helper container at all.
   */
  #needsGit(): boolean {
    const strategy = variableValue(this.#o.job, "GIT_STRATEGY") ?? "";
    return strategy !== "none" && strategy !== "empty";
  }

  /** Volumes for builds_dir, cache_dir and `volumes`, per project and slot. */
  #prepareVolumes(): void {
    const { config } = this.#o;
    // Both are mount points in the container: Docker refuses a relative one naming
    // neither key ("invalid mount path: 'builds' mount path must be absolute").
    const mountPoints: [string, string][] = [
      ["builds_dir", this.paths.buildsDir],
      ["cache_dir", this.paths.cacheDir],
    ];
    for (const [key, dir] of mountPoints) {
      if (!dir.startsWith("/")) {
        throw new JobFailedError(
          "runner_configuration_error",
          `Invalid [[runners]] ${key} "${dir}": the docker executor needs an absolute path in the container`,
        );
      }
    }
    const specs: VolumeSpec[] = parseVolumes(config.volumes);
    for (const dir of [this.paths.buildsDir, this.paths.cacheDir]) {
      if (!specs.some((v) => isPathWithin(dir, v.containerPath))) {
        specs.push({ kind: "managed", containerPath: dir });
      }
    }
    this.paths = {
      ...this.paths,
      isBuildsDirShared: specs.some((v) =>
        v.kind === "bind" && isPathWithin(this.paths.buildsDir, v.containerPath)
      ),
    };
    for (const v of specs) {
      if (v.kind === "bind") {
        this.#binds.push(v.bind);
      } else if (config.disableCache) {
        const name = temporaryVolumeName(this.#scope, this.#o.job.id, v.containerPath);
        this.#temporaryVolumes.add(name);
        this.#mounts.push({
          Type: "volume",
          Source: name,
          Target: v.containerPath,
          VolumeOptions: this.#volumeOptions("temporary-volume"),
        });
      } else if (config.cacheDir !== "") {
        // `[runners.docker] cache_dir`: cache volumes are host directories. Docker reads a
        // relative source as a volume name, which it refuses naming the joined path only.
        if (!config.cacheDir.startsWith("/")) {
          throw new JobFailedError(
            "runner_configuration_error",
            `Invalid [runners.docker] cache_dir "${config.cacheDir}": expected an absolute ` +
              "path on the Docker host",
          );
        }
        const hostDir = `${config.cacheDir.replace(/\/$/, "")}/${
          cacheVolumeName(this.#scope, v.containerPath)
        }`;
        this.#binds.push(`${hostDir}:${v.containerPath}`);
      } else {
        this.#mounts.push({
          Type: "volume",
          Source: cacheVolumeName(this.#scope, v.containerPath),
          Target: v.containerPath,
          VolumeOptions: this.#volumeOptions("cache"),
        });
      }
    }
  }

  /** Labels, and `volume_driver` / `volume_driver_ops` for volumes Docker creates on mount. */
  #volumeOptions(type: ResourceType): Record<string, unknown> {
    const { config } = this.#o;
    const options: Record<string, unknown> = { Labels: this.#labels(type) };
    if (config.volumeDriver !== "" || Object.keys(config.volumeDriverOps).length > 0) {
      options["DriverConfig"] = {
        Name: config.volumeDriver || "local",
        Options: { ...config.volumeDriverOps },
      };
    }
    return options;
  }

  /**
   * Managed volumes are created root-owned 0755; like the official runner's
   * cache-init, their roots become 0777 so a non-root job user can write the
   * builds and cache directories. Done through the archive API: no process
   * runs, any image works. Skipped for root users, who need no permission
   * (saves a request on the common path).
   */
  async #openVolumeRoots(container: Docker.Container): Promise<void> {
    // A ustar name holds 100 bytes; a deeper mount point keeps Docker's 0755.
    const roots = this.#mounts.map((m) => String(m["Target"]).replace(/^\/+/, ""))
      .filter((p) => p !== "" && new TextEncoder().encode(p).length < 99);
    if (roots.length === 0) return;
    await new ContainerFiles(container).putTar("/", directoryTar(roots, 0o777));
  }

  #jobEnv(): string[] {
    return this.#o.job.variables.filter((v) => !v.file).map((v) => `${v.key}=${v.value}`);
  }

  /**
   * Job variables are the containers' environment; Linux refuses to start a
   * process with an entry longer than 128 KiB, so the build container's
   * main process would exit at once ("exec /bin/sh: argument list too long").
   */
  #checkEnvSize(): void {
    const encoder = new TextEncoder();
    for (const v of this.#o.job.variables) {
      if (v.file) continue;
      const size = encoder.encode(`${v.key}=${v.value}`).length + 1;
      if (size > MAX_ENV_ENTRY_BYTES) {
        throw new JobFailedError(
          "runner_configuration_error",
          `Variable ${JSON.stringify(v.key)} cannot be given to the job's containers: its ` +
            `environment entry is ${size} bytes, more than the ${MAX_ENV_ENTRY_BYTES} Linux ` +
            "allows for one (Argument list too long); a file variable has no such limit",
        );
      }
    }
  }

  async #ensureNetwork(): Promise<string> {
    if (this.#o.config.networkMode !== "") return this.#o.config.networkMode;
    if (this.#networkName !== "") return this.#networkName;
    const { config } = this.#o;
    const name = `${this.#namePrefix}-network`;
    const create: Record<string, unknown> = {
      Name: name,
      CheckDuplicate: true,
      Labels: this.#labels("network"),
      EnableIPv6: config.enableIpv6,
    };
    if (config.networkMtu > 0) {
      create["Options"] = { "com.docker.network.driver.mtu": String(config.networkMtu) };
    }
    let network: Docker.Network;
    try {
      network = await this.#o.docker.createNetwork(
        create as unknown as Docker.NetworkCreateOptions,
      );
    } catch (err) {
      const why = daemonMessage(err);
      throw new JobFailedError(
        isBadParameter(err) || config.enableIpv6
          ? "runner_configuration_error"
          : "runner_system_failure",
        `Cannot create the job network "${name}"${
          config.enableIpv6 ? " with enable_ipv6" : ""
        }: ${why}`,
        { cause: err },
      );
    }
    this.#networkId = network.id;
    this.#networkName = name;
    return name;
  }

  async #startServices(services: JobImage[], signal: AbortSignal): Promise<void> {
    const { config } = this.#o;
    const network = await this.#ensureNetwork();
    const started: {
      image: string;
      /** The names no earlier service claimed: the ones it answers to. */
      aliases: string[];
      ports: number[];
      container: Docker.Container;
      name: string;
    }[] = [];
    // As the official runner (createFromServiceDefinition): a service whose every name
    // another one already answers to is not started again, and a name already taken
    // stays the first one's; two containers under one name split the job's connections
    // between two databases.
    const claimed = new Set<string>();
    // As the official runner (GetServiceVariables): a service is someone else's image;
    // it gets the public and the runner's own variables (the predefined CI_PROJECT_DIR,
    // CI_JOB_TIMEOUT…, and `environment`: a proxy, DOCKER_TLS_CERTDIR for docker:dind),
    // not the job token nor the secrets, and its own variables expanded against all of
    // them (POSTGRES_PASSWORD: $DB_PASSWORD). The build's list marks `environment`
    // entries non-public: they are added on their own, first, so the job's win.
    const jobVariables = this.#buildVariables?.(this.paths) ??
      expandVariables(this.#o.job.variables);
    const runnerEnvironment = parseEnvironment(this.#o.runnerEnvironment ?? []).map((v) =>
      v.raw ? v : {
        ...v,
        value: expandValue(v.value, (k) => variableValue({ variables: jobVariables }, k)),
      }
    );
    const shared = [...runnerEnvironment, ...jobVariables.filter((v) => v.public && !v.file)];
    for (const [i, service] of services.entries()) {
      const policies = resolvePullPolicies(
        config.pullPolicy,
        config.allowedPullPolicies,
        service.pullPolicy,
        { jobSource: `the job's service "${service.name}"` },
      );
      const names = serviceAliases(service);
      if (names.every((alias) => claimed.has(alias))) {
        this.#say(`WARNING: Service ${service.name} is already created. Ignoring.`);
        continue;
      }
      for (const alias of names.filter((alias) => claimed.has(alias))) {
        this.#say(
          `WARNING: Skipping alias "${alias}" for service "${service.name}" (services[${i}]): ` +
            "alias is already in use by another service.",
        );
      }
      const aliases = names.filter((alias) => !claimed.has(alias));
      for (const alias of aliases) claimed.add(alias);
      this.#say(`Starting service ${service.name} ...`);
      const pulled = await this.#pull(service.name, policies, signal, service.dockerPlatform);
      const name = `${this.#namePrefix}-service-${i}`;
      const source = [...jobVariables, ...service.variables];
      const lookup = (key: string) => variableValue({ variables: source }, key);
      const env = [
        ...shared,
        ...service.variables.filter((v) => !v.file).map((v) =>
          v.raw ? v : { ...v, value: expandValue(v.value, lookup) }
        ),
      ].map((v) => `${v.key}=${v.value}`);
      // [[runners.docker.services]] come first: the operator's, not the job's.
      const reason = i < config.services.length ? "runner_configuration_error" : "script_failure";
      let ports: number[];
      try {
        ports = servicePorts(service, pulled, env);
      } catch (err) {
        throw new JobFailedError(
          reason,
          `Cannot wait for service "${service.name}": ${(err as Error).message}`,
          { cause: err },
        );
      }
      const hostConfig = serviceHostConfig(this.#hostSettings ?? config, service.name);
      if (this.#o.isInit) hostConfig["Init"] = true;
      if ((config.servicesPrivileged ?? config.privileged) && !hostConfig["Privileged"]) {
        this.#say(
          `WARNING: Service "${service.name}" runs unprivileged: it is not on ` +
            "allowed_privileged_services",
        );
      }
      const create: Docker.ContainerCreateOptions = {
        name,
        Image: pulled.id,
        Env: env,
        Labels: {
          ...this.#containerLabels("service"),
          [`com.gitlab.gitlab-runner.service`]: service.name,
        },
        HostConfig: {
          ...hostConfig,
          // As the official runner (volumesManager.Binds()): the builds and cache
          // directories and every `volumes` entry, so a service can read the checkout.
          Binds: this.#binds,
          Mounts: this.#mounts,
          NetworkMode: network,
        } as unknown as Docker.HostConfig,
      };
      // Docker refuses aliases on its own networks (bridge, host, none, container:…):
      // "network-scoped alias is supported only for containers in user defined networks".
      if (isUserDefinedNetwork(network)) {
        create.NetworkingConfig = { EndpointsConfig: { [network]: { Aliases: aliases } } };
      }
      if (service.entrypoint.length > 0) {
        if (config.disableEntrypointOverwrite) this.#say("WARNING: Entrypoint override disabled");
        else create.Entrypoint = service.entrypoint;
      }
      if (service.command.length > 0) create.Cmd = service.command;
      if (service.dockerUser !== "") create.User = service.dockerUser;
      const container = await this.#createContainer(
        `service "${service.name}"`,
        create,
        service.dockerPlatform,
      );
      this.#containerIds.add(container.id);
      const isOverridden = service.entrypoint.length > 0 && !config.disableEntrypointOverwrite;
      await this.#startContainer(`service "${service.name}"`, container, {
        note: isOverridden
          ? `its entrypoint ${JSON.stringify(service.entrypoint)}`
          : service.command.length > 0
          ? `its command ${JSON.stringify(service.command)}`
          : `the entrypoint and command of image "${service.name}"`,
        reason,
      });
      started.push({
        image: service.name,
        aliases,
        ports,
        container,
        name,
      });
    }
    if (this.#o.isServiceLogFollowed) {
      // As upstream (captureContainersLogs): once all are started, before the wait.
      for (const s of started) {
        try {
          this.#serviceLogs.push(
            await followServiceLogs(s.container, {
              name: s.aliases.join("-"),
              write: (bytes) => this.#o.output.write(bytes, "service"),
            }),
          );
        } catch (err) {
          this.#say(
            `WARNING: Cannot follow the output of service ${s.image} (CI_DEBUG_SERVICES): ${
              daemonMessage(err)
            }`,
          );
        }
      }
    }
    const timeout = config.waitForServicesTimeout;
    // On network_mode "none" nothing can reach a service's ports.
    const toWait = timeout < 0 || network === "none"
      ? []
      : started.filter((s) => s.ports.length > 0);
    // Looked at later; not when the health check is turned off (-1).
    if (timeout >= 0) this.#unprobedServices = started.filter((s) => !toWait.includes(s));
    if (toWait.length > 0) await this.#waitForServices(toWait, network, signal);
    if (isDefaultBridge(network)) await this.#linkServices(started);
  }

  /**
   * On Docker's default bridge a container reaches another by a link, as the
   * official runner links the build container to each running service under
   * each of its aliases (the first service to claim an alias keeps it).
   */
  async #linkServices(started: { aliases: string[]; container: Docker.Container }[]) {
    const claimed = new Set<string>();
    for (const { aliases, container } of started) {
      const info = await container.inspect().catch(() => null);
      if (info?.State?.Running !== true) continue;
      for (const alias of aliases) {
        if (claimed.has(alias)) continue;
        claimed.add(alias);
        this.#serviceLinks.push(`${container.id}:${alias}`);
      }
    }
  }

  async #waitForServices(
    toWait: {
      image: string;
      aliases: string[];
      ports: number[];
      container: Docker.Container;
      name: string;
    }[],
    network: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { config, docker } = this.#o;
    const timeout = config.waitForServicesTimeout;
    this.#say(
      "Waiting for services to be up and running (timeout " + `${timeout || 30} seconds)...`,
    );
    const helper = await this.#helperImage(signal);
    const problems = await Promise.all(toWait.map(async (s, i) => {
      // A service that ends is not waited for until the timeout: its ports never open.
      const stop = new AbortController();
      const probing = probeService({
        docker,
        helperImageId: helper.id,
        network,
        name: `${this.#namePrefix}-health-${i}`,
        labels: this.#labels("health-check"),
        host: await this.#probeHost(s, network),
        ports: s.ports,
        timeoutSeconds: timeout || 30,
        signal: AbortSignal.any([signal, stop.signal]),
      }).catch((err) => `the health check could not run: ${daemonMessage(err)}`);
      const exited = (s.container.wait(
        { condition: "not-running", abortSignal: stop.signal } as Record<string, unknown>,
      ) as Promise<{ StatusCode: number }>).then(
        (r) => `the service container exited with code ${r.StatusCode}`,
        () => null,
      );
      const problem = await Promise.race([
        probing,
        exited.then((message) => message ?? probing),
      ]);
      stop.abort();
      await probing;
      return { service: s, problem };
    }));
    // The job is being stopped (cancel, or its timeout): no service failed, and the
    // build says why the job ends. The warning said "the job was canceled" after a timeout.
    if (signal.aborted) return;
    for (const { service, problem } of problems) {
      if (problem !== null) await this.#warnService(service, problem);
    }
  }

  async #warnService(
    service: { image: string; container: Docker.Container; name: string },
    problem: string,
  ): Promise<void> {
    const logs = await containerLogs(service.container);
    this.#say(
      [
        "",
        `*** WARNING: Service ${service.image} (${service.name}) probably didn't start properly.`,
        "",
        `Health check error:`,
        problem,
        "",
        "Service container logs:",
        logs || "(no output)",
        "",
        "*********",
        "",
      ].join("\n"),
    );
    this.#log.warn("Service did not come up", { [F.KEY]: service.image, [F.ERROR]: problem });
  }

  /**
   * Where the health check reaches a service: by alias on a user-defined
   * network, by address on the default bridge (no names there), on the
   * loopback when it shares the service's network namespace (host, container:…).
   */
  async #probeHost(
    service: { aliases: string[]; container: Docker.Container; name: string },
    network: string,
  ): Promise<string> {
    if (isUserDefinedNetwork(network)) return service.aliases[0] ?? service.name;
    if (!isDefaultBridge(network)) return "127.0.0.1";
    const info = await service.container.inspect();
    return info.NetworkSettings?.Networks?.["bridge"]?.IPAddress || service.name;
  }

  #pulledHelper: Promise<PulledImage> | null = null;

  /** `helper_image`, else the official image of `helper_image_flavor`. */
  #helperImageName(): string {
    const { config } = this.#o;
    return config.helperImage || defaultHelperImage(this.#expand(config.helperImageFlavor));
  }

  #helperImage(signal: AbortSignal): Promise<PulledImage> {
    this.#pulledHelper ??= this.#pull(this.#helperImageName(), ["if-not-present"], signal)
      .catch((err: unknown) => {
        if (!(err instanceof JobFailedError)) throw err;
        // Not the job's image: say which setting names it, or that none does.
        const flavor = this.#expand(this.#o.config.helperImageFlavor).trim();
        const source = this.#o.config.helperImage
          ? "[runners.docker] helper_image"
          : flavor !== ""
          ? `The default helper image of [runners.docker] helper_image_flavor "${flavor}"`
          : "The default helper image ([runners.docker] helper_image is not set)";
        throw new JobFailedError(err.reason, `${source}: ${err.message}`, { cause: err });
      });
    return this.#pulledHelper;
  }

  async #createJobContainer(
    type: "build" | "helper",
    image: PulledImage,
    options: { entrypoint: string[] | undefined; signal: AbortSignal },
  ): Promise<JobContainer> {
    const { config } = this.#o;
    const name = `${this.#namePrefix}-${type}`;
    // As the official runner, the helper gets the build container's settings but pid_mode.
    // The allow-list sees the name as the job wrote it (expanded), as in the official runner.
    const imageName = type === "build" ? this.#image : image.name;
    const hostConfig = buildHostConfig(this.#hostSettings ?? config, {
      isBuild: type === "build",
      image: imageName,
    });
    if (type === "build" && this.#o.isInit) hostConfig["Init"] = true;
    if (type === "build" && config.privileged && !hostConfig["Privileged"]) {
      this.#say(
        `WARNING: Image "${imageName}" runs unprivileged: it is not on allowed_privileged_images`,
      );
    }
    hostConfig["Binds"] = this.#binds;
    hostConfig["Mounts"] = this.#mounts;
    const network = this.#networkName !== "" ? this.#networkName : config.networkMode;
    if (network !== "") hostConfig["NetworkMode"] = network;
    if (this.#serviceLinks.length > 0) hostConfig["Links"] = this.#serviceLinks;
    const create: Docker.ContainerCreateOptions = {
      name,
      Image: image.id,
      // The idle main process: stdin stays open and nobody writes to it.
      Cmd: ["sh"],
      OpenStdin: true,
      Env: this.#jobEnv(),
      Labels: this.#containerLabels(type),
      HostConfig: hostConfig as Docker.HostConfig,
    };
    if (type === "helper") create.Entrypoint = [];
    else if (options.entrypoint) create.Entrypoint = options.entrypoint;
    if (type === "build") {
      if (config.hostname) create.Hostname = config.hostname;
      if (this.#user) create.User = this.#user;
    }
    if (this.#networkName !== "") {
      create.NetworkingConfig = {
        EndpointsConfig: { [this.#networkName]: { Aliases: [type] } },
      };
    }
    // The helper always runs on the native platform, as the official runner's.
    const platform = type === "build" ? this.#expand(this.#o.job.image.dockerPlatform) : "";
    const container = await this.#createContainer(type, create, platform);
    this.#containerIds.add(container.id);
    if (type === "build" && !isRootUser(this.#user || image.user)) {
      await this.#openVolumeRoots(container);
    }
    // Docker runs no entrypoint when the one given (or else the image's) is
    // empty or all empty strings (a job's `entrypoint: [""]`).
    const entrypoint = create.Entrypoint ?? image.entrypoint;
    const parts = typeof entrypoint === "string" ? [entrypoint] : entrypoint;
    const isMainShellPlain = parts.every((part) => part === "");
    const entrypointNote = create.Entrypoint
      ? `the job's image entrypoint ${JSON.stringify(parts)}`
      : `the entrypoint ${JSON.stringify(parts)} of image "${image.name}"`;
    // Both settle before either error counts: an image without a shell fails the
    // start too ('exec: "sh": executable file not found'), and the detection's
    // error, naming the image, must not depend on which answer came first.
    const [detected, started] = await Promise.allSettled([
      this.#detectShell(container, image),
      this.#startContainer(type, container, {
        note: isMainShellPlain ? `its shell "sh"` : entrypointNote,
        reason: type === "build" && options.entrypoint ? "script_failure" : "runner_system_failure",
      }),
    ]);
    // The detection's own error ("has no shell") names the image; a daemon error of
    // its stats (a 500 with no message when the mounts failed) says less than the start's.
    if (detected.status === "rejected" && detected.reason instanceof JobFailedError) {
      throw detected.reason;
    }
    if (started.status === "rejected") throw started.reason;
    if (detected.status === "rejected") throw detected.reason;
    if (options.signal.aborted) throw options.signal.reason;
    return {
      container,
      name,
      ...detected.value,
      isStopped: false,
      killing: null,
      isMainShellPlain,
      entrypointNote,
      mainShell: null,
    };
  }

  /** bash if present, else sh, looked up like the official detection script. */
  async #detectShell(
    container: Docker.Container,
    image: PulledImage,
  ): Promise<{ shell: ShellName; shellPath: string }> {
    const found = await detectShell(async (path) => (await statPath(container, path)) !== null);
    if (!found) {
      throw new JobFailedError(
        "runner_system_failure",
        `Image "${image.name}" has no shell: looked for ${
          SHELL_CANDIDATES.map((c) => c.path).join(", ")
        }`,
      );
    }
    return found;
  }

  async #helperContainer(signal: AbortSignal): Promise<JobContainer> {
    this.#helperPromise ??= (async () => {
      const image = await this.#helperImage(signal);
      return await this.#createJobContainer("helper", image, { entrypoint: undefined, signal });
    })();
    try {
      return await this.#helperPromise;
    } catch (err) {
      this.#helperPromise = null;
      throw err;
    }
  }

  run(stage: StageScript, signal: AbortSignal): Promise<number> {
    const running = this.#runStage(stage, signal).catch((err: unknown) => {
      throw daemonLost(err);
    });
    return settleAfterAbort(running, signal, () => {
      this.#warnUnanswered(`the ${stage.stage} stage`);
      return KILLED_EXIT_CODE;
    });
  }

  async #runStage(stage: StageScript, signal: AbortSignal): Promise<number> {
    if (!this.#build) throw new Error("The docker executor is not prepared: call prepare first");
    if (signal.aborted) return KILLED_EXIT_CODE;
    const target = HELPER_STAGES.has(stage.stage) && this.#needsGit()
      ? await this.#helperContainer(signal)
      : this.#build;
    if (target !== this.#build && this.shell === "bash" && target.shell !== "bash") {
      throw new JobFailedError(
        "runner_system_failure",
        `Helper image "${this.#helperImageName()}" has no bash, ` +
          "but the job's scripts are written for bash",
      );
    }
    if (target.isStopped) await this.#restart(target);
    if (target === this.#build && target.isMainShellPlain && MAIN_SHELL_STAGES.has(stage.stage)) {
      const shell = await this.#mainShell(target);
      if (shell !== null) return await this.#runInMainShell(target, shell, stage, signal);
    }
    // The official helper image's gitlab-runner-build wrapper runs `umask 0000`,
    // so what get_sources writes stays writable for a non-root job user.
    const script = target !== this.#build && !this.#o.isUmaskDisabled
      ? { ...stage, script: `umask 0000\n${stage.script}` }
      : stage;
    // The script goes over the exec's stdin, as the official runner sends it: on a
    // command line, its exported variables (masked ones, the job token) would show
    // in /proc/<pid>/cmdline to every local user of the host.
    let exec: Docker.Exec;
    let stream: NodeJS.ReadWriteStream & { destroy(): void };
    try {
      exec = await target.container.exec({
        Cmd: [target.shellPath],
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        ...(target === this.#build && this.#user ? { User: this.#user } : {}),
      });
      stream = await exec.start({ hijack: true, stdin: true }) as unknown as typeof stream;
    } catch (err) {
      // The container is not running (409, or 500 when it ended between the exec's
      // create and start); one of ours only stops on its own.
      if (target === this.#build && !target.isStopped && !(await this.#isRunning(target))) {
        throw await this.#buildExitedError(target, stage.stage, { cause: err });
      }
      throw err;
    }
    // end() half-closes the connection: the shell reads end of file after the script.
    stream.end(new TextEncoder().encode(script.script));
    let wasKilled = false;
    const onAbort = () => {
      wasKilled = true;
      this.#killForAbort(target, () => stream.destroy());
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#pump(stream);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    if (wasKilled) return KILLED_EXIT_CODE;
    const info = await exec.inspect();
    const code = info.ExitCode ?? KILLED_EXIT_CODE;
    if (code > 128 && target === this.#build && !target.isMainShellPlain) {
      // The stage was killed: by its own command, or because the entrypoint ended
      // the container under it (an exec made just before it ended).
      if (!(await this.#isRunning(target))) {
        throw await this.#buildExitedError(target, stage.stage, { isDuring: true });
      }
    }
    if (target !== this.#build && this.#o.isUmaskDisabled) await this.#chownBuilds(target);
    return code;
  }

  /** Whether the container runs; true when docker cannot tell (the caller's error stands). */
  async #isRunning(target: JobContainer): Promise<boolean> {
    const info = await target.container.inspect().catch(() => null);
    return info?.State?.Running !== false;
  }

  /**
   * The build container ended by itself before (or during) a stage. Its main process is
   * the entrypoint followed by `sh`: an entrypoint that does not run the
   * command it is given (`exec "$@"`), or that ends, ends the container,
   * as the official runner's build container ends with it ("exit code 1"):
   * a script failure with that code, naming the entrypoint.
   */
  async #buildExitedError(
    target: JobContainer,
    stage: string,
    options: { cause?: unknown; isDuring?: boolean },
  ): Promise<JobFailedError> {
    const { cause, isDuring = false } = options;
    const state = (await target.container.inspect().catch(() => null))?.State;
    const code = state?.ExitCode ?? 0;
    const how = state?.OOMKilled === true
      ? "was killed for lack of memory"
      : `exited with code ${code}`;
    const message = isDuring
      ? `The build container ${how} during the ${stage} stage`
      : `The build container ${how} before the ${stage} stage could run`;
    if (target.isMainShellPlain || state?.OOMKilled === true) {
      return new JobFailedError("runner_system_failure", message, { cause });
    }
    // What the entrypoint said is its own output (no stage ran in this process):
    // shown as the official runner shows it, attached to the container.
    const output = await containerLogs(target.container, ENTRYPOINT_LOG_LINES);
    if (output !== "") this.#say(`Build container output (last lines):\n${output}`);
    return new JobFailedError(
      "script_failure",
      `${message}: ${target.entrypointNote} must run the command it is given (exec "$@") and keep running`,
      { cause, exitCode: code },
    );
  }

  /**
   * The attach to the build container's main shell, opened on first use (and
   * after a restart). Null when the container is not running or the attach
   * was lost (its main process ended): the stage then takes an exec, which
   * fails at once on a stopped container, where an attach would wait for
   * the container to start again.
   */
  async #mainShell(target: JobContainer): Promise<MainShell | null> {
    if (target.mainShell !== null) return target.mainShell.isOpen ? target.mainShell : null;
    const shell = await MainShell.attach(target.container);
    // Checked after attaching: an attach made while the container runs ends when it stops.
    const info = await target.container.inspect().catch(() => null);
    if (info?.State?.Running !== true) {
      shell.close();
      return null;
    }
    target.mainShell = shell;
    return shell;
  }

  /**
   * An aborted stage: the container is killed, which ends every process of
   * the stage, also ones the script left in the background (an exec cannot be
   * signalled by the API); `detach` then drops the stage's connection. The
   * next stage starts the container again (`#restart`).
   */
  #killForAbort(target: JobContainer, detach: () => void): void {
    target.isStopped = true;
    target.killing = target.container.kill().catch((err: unknown) => {
      if (!isConflict(err) && !isNotFound(err)) {
        this.#log.warn("Cannot kill the job container", { [F.ERROR]: daemonMessage(err) });
      }
    }).finally(detach);
  }

  /** A stage as a child of the container's main shell; an abort kills the container, as for an exec. */
  async #runInMainShell(
    target: JobContainer,
    shell: MainShell,
    stage: StageScript,
    signal: AbortSignal,
  ): Promise<number> {
    let wasKilled = false;
    const onAbort = () => {
      wasKilled = true;
      this.#killForAbort(target, () => shell.close());
    };
    signal.addEventListener("abort", onAbort, { once: true });
    let code: number | null;
    try {
      code = await shell.run(target.shellPath, stage.script, this.#o.output);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    if (wasKilled) return KILLED_EXIT_CODE;
    if (code === null) {
      throw new Error(`The build container stopped during the ${stage.stage} stage`);
    }
    return code;
  }

  /**
   * FF_DISABLE_UMASK_FOR_DOCKER_EXECUTOR: helper stages leave files private
   * (umask 022), so, as the official runner does, they are handed to the
   * build container's user: `chown -RP uid:gid` in the helper. Only for a
   * Runner-managed builds volume (it holds this project only), never a host
   * bind; a root user needs nothing. Failures are a job-log warning.
   */
  async #chownBuilds(helper: JobContainer): Promise<void> {
    if (!this.#build || this.paths.isBuildsDirShared) return;
    const owner = await this.#buildOwner(this.#build).catch((err: unknown) => {
      this.#say(`WARNING: Cannot find the build user's uid and gid: ${(err as Error).message}`);
      return null;
    });
    if (owner === null || owner.uid === 0) return;
    const dir = this.paths.buildsDir;
    this.#say(`Changing ownership of files at "${dir}" to ${owner.uid}:${owner.gid}`);
    const code = await this.#execQuiet(helper, [
      "chown",
      "-RP",
      "--",
      `${owner.uid}:${owner.gid}`,
      dir,
    ]);
    if (code !== 0) {
      this.#say(`WARNING: Changing ownership of files at "${dir}" failed: exit code ${code}`);
    }
  }

  /** uid and gid of the build container's user: numeric `user` as is, else `id -u` / `id -g` in it. */
  async #buildOwner(build: JobContainer): Promise<{ uid: number; gid: number }> {
    const m = /^(\d+)(?::(\d+))?$/.exec(this.#user);
    if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
    const read = async (flag: string) => {
      const out: Uint8Array[] = [];
      const code = await this.#execQuiet(build, ["id", flag], (c) => out.push(c), this.#user);
      const text = new TextDecoder().decode(new Uint8Array(out.flatMap((c) => [...c]))).trim();
      if (code !== 0 || !/^\d+$/.test(text)) throw new Error(`"id ${flag}" answered "${text}"`);
      return Number(text);
    };
    return { uid: await read("-u"), gid: await read("-g") };
  }

  /** Runs a command in a container, output to `onOutput` (default: dropped); resolves its exit code. */
  async #execQuiet(
    target: JobContainer,
    cmd: string[],
    onOutput: (chunk: Uint8Array) => void = () => {},
    user = "",
  ): Promise<number> {
    const exec = await target.container.exec({
      Cmd: cmd,
      AttachStdout: true,
      AttachStderr: true,
      ...(user ? { User: user } : {}),
    });
    const stream = await exec.start({
      hijack: true,
      stdin: false,
    }) as unknown as NodeJS.ReadableStream;
    const decoder = new ExecFrameDecoder();
    await new Promise<void>((resolve) => {
      stream.on("data", (chunk: Uint8Array) => {
        for (const payload of decoder.push(chunk)) onOutput(payload);
      });
      stream.on("end", () => resolve());
      stream.on("close", () => resolve());
      stream.on("error", () => resolve());
    });
    return (await exec.inspect()).ExitCode ?? 1;
  }

  /** Starts a container an abort killed, once it has really stopped. */
  async #restart(target: JobContainer): Promise<void> {
    // A kill still unanswered after the stage was given up: the next stage (after_script,
    // cleanup_file_variables) waits no longer for it than that stage did.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const isAnswered = await Promise.race([
      target.killing?.then(() => true) ?? true,
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ABORT_GRACE_MS)),
    ]);
    clearTimeout(timer);
    if (!isAnswered) {
      throw new Error(
        `The Docker daemon has not answered the kill of the ${target.name} container ` +
          "since the last stage was stopped",
      );
    }
    target.killing = null;
    target.mainShell?.close();
    target.mainShell = null;
    // The kill call returns when the signal was sent, not when the container stopped.
    await target.container.wait({ condition: "not-running" });
    await target.container.start().catch((err: unknown) => {
      if (!isNotModified(err)) throw err;
    });
    target.isStopped = false;
  }

  async #pump(stream: NodeJS.ReadableStream): Promise<void> {
    const decoder = new ExecFrameDecoder();
    await new Promise<void>((resolve) => {
      stream.on("data", (chunk: Uint8Array) => {
        for (const frame of decoder.frames(chunk)) {
          this.#o.output.write(frame.payload, frame.stream);
        }
      });
      stream.on("end", () => resolve());
      stream.on("close", () => resolve());
      stream.on("error", () => resolve());
    });
  }

  /**
   * The web terminal: an exec with a tty in the build container running its
   * shell as a login shell, like the official runner's. A terminal asked for
   * before the container runs waits for it (up to a minute, as upstream).
   */
  async openTerminal(
    onOutput: (chunk: Uint8Array) => void | Promise<void>,
  ): Promise<JobTerminalProcess> {
    const deadline = Date.now() + TERMINAL_WAIT_MS;
    while (!this.#build || this.#build.isStopped) {
      if (this.#isFinished) throw new Error("The job's build container is gone");
      if (Date.now() > deadline) throw new Error("Timeout for waiting for build container");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (this.#isFinished) throw new Error("The job's build container is gone");
    const build = this.#build;
    const exec = await build.container.exec({
      Cmd: [build.shellPath, "-l"],
      Tty: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      ...(this.#user ? { User: this.#user } : {}),
    });
    // With a tty the stream is raw: no multiplexing headers.
    const stream = await exec.start({ hijack: true, stdin: true, Tty: true }) as unknown as
      & NodeJS.ReadWriteStream
      & { destroy(): void };
    // Taken once the attach connection sent it (a destroyed stream calls back with an error).
    const input = new TerminalInput((data) =>
      new Promise<void>((taken) => stream.write(data, () => taken()))
    );
    const closed = new Promise<void>((resolve) => {
      stream.on("data", (chunk: Uint8Array) => {
        const wait = onOutput(new Uint8Array(chunk));
        // Not reading while the client is behind blocks the shell on its tty.
        if (wait) {
          stream.pause();
          void wait.then(() => stream.resume());
        }
      });
      stream.on("end", () => resolve());
      stream.on("close", () => resolve());
      stream.on("error", () => resolve());
    }).then(() => {
      this.#terminals.delete(terminal);
    });
    const terminal: JobTerminalProcess = {
      write: (data) => input.write(data),
      close: async () => {
        // Closing the attach connection hangs up the exec's tty, as upstream's cancel does.
        stream.destroy();
        await closed;
      },
      closed,
    };
    this.#terminals.add(terminal);
    return terminal;
  }

  /**
   * Ends the job in its containers without removing them: terminals closed,
   * the main shell's attach dropped, a helper still being created awaited
   * (so that cleanup removes it). Nothing reaches the job's log after this;
   * the containers go on idling until `cleanup`, which the job's result
   * need not wait for: killing and removing a container takes the daemon
   * ~100 ms (its network and mounts are taken down), as long as the rest of
   * a trivial job.
   */
  async finishJob(): Promise<void> {
    if (this.#isFinished) return;
    this.#isFinished = true;
    this.#stopServiceLogs();
    await Promise.all([...this.#terminals].map((terminal) => terminal.close()));
    await this.#helperPromise?.catch(() => {});
    this.#build?.mainShell?.close();
  }

  async cleanup(): Promise<void> {
    if (this.#isCleanedUp) return;
    this.#isCleanedUp = true;
    await this.finishJob();
    const { docker } = this.#o;
    const failures: string[] = [];
    const removeContainer = async (id: string) => {
      try {
        await docker.getContainer(id).remove({ force: true, v: !this.#o.config.volumeKeep });
      } catch (err) {
        if (!isNotFound(err)) failures.push(`container ${id}: ${daemonMessage(err)}`);
      }
    };
    await Promise.all([...this.#containerIds].map(removeContainer));
    this.#containerIds.clear();
    if (this.#networkId) {
      try {
        await docker.getNetwork(this.#networkId).remove();
      } catch (err) {
        if (!isNotFound(err)) failures.push(`network ${this.#networkName}: ${daemonMessage(err)}`);
      }
      this.#networkId = null;
    }
    await Promise.all([...this.#temporaryVolumes].map(async (name) => {
      try {
        await docker.getVolume(name).remove();
      } catch (err) {
        if (!isNotFound(err)) failures.push(`volume ${name}: ${daemonMessage(err)}`);
      }
    }));
    this.#temporaryVolumes.clear();
    await this.#sweep;
    for (const f of failures) this.#log.warn("Cannot remove a docker resource", { [F.ERROR]: f });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }
}

/**
 * Whether `network_mode` names a network of the user's (or the per-job one), not
 * one of Docker's own modes, as the official runner's IsUserDefined: only there
 * does Docker take aliases.
 */
export function isUserDefinedNetwork(mode: string): boolean {
  return mode !== "" && !isDefaultBridge(mode) && mode !== "host" && mode !== "none" &&
    !mode.startsWith("container:");
}

/** Docker's default bridge, where containers find each other only by links. */
function isDefaultBridge(mode: string): boolean {
  return mode === "bridge" || mode === "default";
}

/** Whether a container `User` ("", "root", "0", "0:0", "root:group") runs as uid 0. */
export function isRootUser(user: string): boolean {
  const name = user.split(":")[0] ?? "";
  return name === "" || name === "root" || name === "0";
}

/** A ustar archive of directories (paths relative to "/", parents first) with `mode`. */
export function directoryTar(paths: readonly string[], mode: number): Uint8Array {
  const tar = new Uint8Array(paths.length * 512 + 1024);
  paths.forEach((path, i) => {
    tar.set(tarHeader(`${path.replace(/\/+$/, "")}/`, { mode, size: 0, type: "5" }), i * 512);
  });
  return tar;
}

function tarHeader(name: string, o: { mode: number; size: number; type: string }): Uint8Array {
  const header = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (text: string, at: number) => header.set(enc.encode(text), at);
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";
  if (enc.encode(name).length > 100) {
    throw new RangeError(`Path "${name}" is too long for a tar header`);
  }
  put(name, 0);
  put(octal(o.mode, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(o.size, 12), 124);
  put(octal(Math.floor(Date.now() / 1000), 12), 136);
  put("        ", 148);
  put(o.type, 156);
  put("ustar\u000000", 257);
  let sum = 0;
  for (const b of header) sum += b;
  put(octal(sum, 7) + " ", 148);
  return header;
}
