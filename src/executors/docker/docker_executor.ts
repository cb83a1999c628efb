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
import type { DockerConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { type JobImage, type JobSpec, variableValue } from "../../job/job_spec.ts";
import { F } from "../../log/fields.ts";
import type { Logger } from "../../log/logger.ts";
import type { Executor, ExecutorPaths, JobOutput, ShellName, StageScript } from "../executor.ts";
import { daemonMessage, isConflict, isNotFound, isNotModified } from "./_docker_errors.ts";
import { expandImageName } from "./_expand.ts";
import { type ContainerFileAccess, ContainerFiles, statPath } from "./container_files.ts";
import { type LabelContext, resourceLabels, type ResourceType } from "./docker_labels.ts";
import { sweepOrphans } from "./docker_resources.ts";
import { ExecFrameDecoder } from "./exec_frames.ts";
import {
  buildHostConfig,
  isPathWithin,
  parseVolume,
  resolveUser,
  type VolumeSpec,
} from "./host_config.ts";
import { checkImageAllowed, type PullPolicy, resolvePullPolicies } from "./image_policy.ts";
import { ensureImage, type PulledImage } from "./image_puller.ts";
import { containerLogs, probeService, serviceAliases, servicePorts } from "./job_services.ts";
import type { OwnerLease } from "./owner_lease.ts";
import { resolveRegistryAuth } from "./registry_auth.ts";
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
/** Stages that run in the helper container, where git is. */
export const HELPER_STAGES: ReadonlySet<string> = new Set(["get_sources", "clear_worktree"]);

/** Where the official shell detection looks, in order. */
const SHELL_CANDIDATES: readonly { path: string; shell: ShellName }[] = [
  { path: "/usr/local/bin/bash", shell: "bash" },
  { path: "/usr/bin/bash", shell: "bash" },
  { path: "/bin/bash", shell: "bash" },
  { path: "/usr/local/bin/sh", shell: "sh" },
  { path: "/usr/bin/sh", shell: "sh" },
  { path: "/bin/sh", shell: "sh" },
  { path: "/busybox/sh", shell: "sh" },
];

/** Scripts up to this size go on the command line (Linux caps one argument at 128 KiB). */
const MAX_INLINE_SCRIPT_BYTES = 100 * 1024;
/** Exit code a stage resolves with when aborted: the shell's code for SIGKILL. */
export const KILLED_EXIT_CODE = 137;

export interface DockerExecutorOptions {
  docker: Docker;
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
  /** Sweep orphans of dead executors during prepare (default true). */
  sweepOrphans?: boolean;
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
}

export class DockerExecutor implements Executor {
  shell: ShellName = "sh";
  paths: ExecutorPaths;

  readonly #o: DockerExecutorOptions;
  readonly #log: Logger;
  readonly #labelContext: LabelContext;
  readonly #scope: VolumeScope;
  readonly #namePrefix: string;
  #build: JobContainer | null = null;
  #helperPromise: Promise<JobContainer> | null = null;
  /** Every container created for the job, removed at cleanup. */
  readonly #containerIds = new Set<string>();
  #networkId: string | null = null;
  #networkName = "";
  readonly #temporaryVolumes = new Set<string>();
  #binds: string[] = [];
  #mounts: Record<string, unknown>[] = [];
  #hostBinds: string[] = [];
  #user = "";
  #sweep: Promise<void> | null = null;
  #isCleanedUp = false;

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
    // A random part keeps names unique across prepare retries of one job.
    this.#namePrefix = `${jobResourcePrefix(this.#scope, options.job.id)}-${
      crypto.randomUUID().slice(0, 8)
    }`;
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
    this.#o.output.write(new TextEncoder().encode(`${line}\n`));
  }

  #labels(type: ResourceType): Record<string, string> {
    return resourceLabels(this.#labelContext, type);
  }

  #expand(text: string): string {
    return expandImageName(text, (name) => variableValue(this.#o.job, name));
  }

  #auth(image: string) {
    const problems: { source: string; message: string }[] = [];
    const auth = resolveRegistryAuth(image, {
      jobDockerAuthConfig: variableValue(this.#o.job, "DOCKER_AUTH_CONFIG") ?? "",
      runnerDockerAuthConfig: this.#o.runnerDockerAuthConfig ?? "",
      credentials: this.#o.job.credentials,
    }, problems);
    for (const p of problems) this.#say(`WARNING: ${p.source} ${p.message}`);
    return auth;
  }

  async #pull(image: string, policies: readonly PullPolicy[], signal: AbortSignal) {
    return await ensureImage(this.#o.docker, image, {
      policies,
      auth: this.#auth(image),
      say: (line) => this.#say(line),
      signal,
    });
  }

  async prepare(signal: AbortSignal): Promise<void> {
    const { config, job, docker } = this.#o;
    if (this.#o.sweepOrphans !== false) {
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
    // The runner's own default image is trusted; only job choices are checked.
    if (jobImage !== "") checkImageAllowed(jobImage, config.allowedImages, "image");
    const services = job.services.map((s) => ({ ...s, name: this.#expand(s.name) }));
    for (const s of services) checkImageAllowed(s.name, config.allowedServices, "service");
    this.#user = resolveUser(config, job.image.dockerUser);
    this.#say(`Using Docker executor with image ${image} ...`);

    const policies = resolvePullPolicies(
      config.pullPolicy,
      config.allowedPullPolicies,
      job.image.pullPolicy,
    );
    const pulled = await this.#pull(image, policies, signal);
    this.#prepareVolumes();

    if (services.length > 0) {
      await this.#startServices(services, signal);
    }
    if (this.#needsGit()) {
      // Start the helper beside the build container; get_sources awaits it.
      this.#helperContainer(signal).catch(() => {});
    }
    this.#build = await this.#createJobContainer("build", pulled, {
      entrypoint: !config.disableEntrypointOverwrite && job.image.entrypoint.length > 0
        ? job.image.entrypoint
        : undefined,
      signal,
    });
    this.shell = this.#build.shell;
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
    const specs: VolumeSpec[] = config.volumes.map(parseVolume);
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
        this.#hostBinds.push(v.bind);
      } else if (config.disableCache) {
        const name = temporaryVolumeName(this.#scope, this.#o.job.id, v.containerPath);
        this.#temporaryVolumes.add(name);
        this.#mounts.push({
          Type: "volume",
          Source: name,
          Target: v.containerPath,
          VolumeOptions: { Labels: this.#labels("temporary-volume") },
        });
      } else if (config.cacheDir !== "") {
        // `[runners.docker] cache_dir`: cache volumes are host directories.
        const hostDir = `${config.cacheDir.replace(/\/$/, "")}/${
          cacheVolumeName(this.#scope, v.containerPath)
        }`;
        this.#binds.push(`${hostDir}:${v.containerPath}`);
      } else {
        this.#mounts.push({
          Type: "volume",
          Source: cacheVolumeName(this.#scope, v.containerPath),
          Target: v.containerPath,
          VolumeOptions: { Labels: this.#labels("cache") },
        });
      }
    }
  }

  #jobEnv(): string[] {
    return this.#o.job.variables.filter((v) => !v.file).map((v) => `${v.key}=${v.value}`);
  }

  async #ensureNetwork(): Promise<string> {
    if (this.#o.config.networkMode !== "") return this.#o.config.networkMode;
    if (this.#networkName !== "") return this.#networkName;
    const name = `${this.#namePrefix}-network`;
    const network = await this.#o.docker.createNetwork({
      Name: name,
      CheckDuplicate: true,
      Labels: this.#labels("network"),
    });
    this.#networkId = network.id;
    this.#networkName = name;
    return name;
  }

  async #startServices(services: JobImage[], signal: AbortSignal): Promise<void> {
    const { config, docker } = this.#o;
    const network = await this.#ensureNetwork();
    const started: {
      image: string;
      aliases: string[];
      ports: number[];
      container: Docker.Container;
      name: string;
    }[] = [];
    for (const [i, service] of services.entries()) {
      const policies = resolvePullPolicies(
        config.pullPolicy,
        config.allowedPullPolicies,
        service.pullPolicy,
      );
      this.#say(`Starting service ${service.name} ...`);
      const pulled = await this.#pull(service.name, policies, signal);
      const aliases = serviceAliases(service);
      const name = `${this.#namePrefix}-service-${i}`;
      const env = [
        ...this.#jobEnv(),
        ...service.variables.filter((v) => !v.file).map((v) => `${v.key}=${v.value}`),
      ];
      const create: Docker.ContainerCreateOptions = {
        name,
        Image: pulled.id,
        Env: env,
        Labels: { ...this.#labels("service"), [`com.gitlab.gitlab-runner.service`]: service.name },
        HostConfig: {
          Privileged: config.privileged,
          Binds: this.#hostBinds,
          Tmpfs: config.servicesTmpfs,
          Dns: config.dns,
          DnsSearch: config.dnsSearch,
          ExtraHosts: config.extraHosts,
          NetworkMode: network,
        },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: aliases } } },
      };
      if (service.entrypoint.length > 0) create.Entrypoint = service.entrypoint;
      if (service.command.length > 0) create.Cmd = service.command;
      if (service.dockerUser !== "") create.User = service.dockerUser;
      const container = await docker.createContainer(create);
      this.#containerIds.add(container.id);
      await container.start();
      started.push({
        image: service.name,
        aliases,
        ports: servicePorts(service, pulled.exposedPorts),
        container,
        name,
      });
    }
    const timeout = config.waitForServicesTimeout;
    if (timeout < 0) return;
    const toWait = started.filter((s) => s.ports.length > 0);
    if (toWait.length === 0) return;
    this.#say(
      "Waiting for services to be up and running (timeout " + `${timeout || 30} seconds)...`,
    );
    const helper = await this.#helperImage(signal);
    const problems = await Promise.all(toWait.map(async (s, i) => {
      const problem = await probeService({
        docker,
        helperImageId: helper.id,
        network,
        name: `${this.#namePrefix}-health-${i}`,
        labels: this.#labels("health-check"),
        host: s.aliases[0] ?? s.name,
        ports: s.ports,
        timeoutSeconds: timeout || 30,
        signal,
      }).catch((err) => `the health check could not run: ${daemonMessage(err)}`);
      return { service: s, problem };
    }));
    for (const { service, problem } of problems) {
      if (problem === null) continue;
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
  }

  #pulledHelper: Promise<PulledImage> | null = null;

  #helperImage(signal: AbortSignal): Promise<PulledImage> {
    this.#pulledHelper ??= this.#pull(
      this.#o.config.helperImage || DEFAULT_HELPER_IMAGE,
      ["if-not-present"],
      signal,
    );
    return this.#pulledHelper;
  }

  async #createJobContainer(
    type: "build" | "helper",
    image: PulledImage,
    options: { entrypoint: string[] | undefined; signal: AbortSignal },
  ): Promise<JobContainer> {
    const { config, docker } = this.#o;
    const name = `${this.#namePrefix}-${type}`;
    const hostConfig: Record<string, unknown> = type === "build"
      ? buildHostConfig(config)
      : { Dns: config.dns, DnsSearch: config.dnsSearch, ExtraHosts: config.extraHosts };
    hostConfig["Binds"] = this.#binds;
    hostConfig["Mounts"] = this.#mounts;
    const network = this.#networkName !== "" ? this.#networkName : config.networkMode;
    if (network !== "") hostConfig["NetworkMode"] = network;
    const create: Docker.ContainerCreateOptions = {
      name,
      Image: image.id,
      // The idle main process: stdin stays open and nobody writes to it.
      Cmd: ["sh"],
      OpenStdin: true,
      Env: this.#jobEnv(),
      Labels: this.#labels(type),
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
    const container = await docker.createContainer(create);
    this.#containerIds.add(container.id);
    const [detected] = await Promise.all([
      this.#detectShell(container, image),
      container.start(),
    ]);
    if (options.signal.aborted) throw options.signal.reason;
    return { container, name, ...detected, isStopped: false, killing: null };
  }

  /** bash if present, else sh, looked up like the official detection script. */
  async #detectShell(
    container: Docker.Container,
    image: PulledImage,
  ): Promise<{ shell: ShellName; shellPath: string }> {
    const found = await Promise.all(
      SHELL_CANDIDATES.map(async (c) => ((await statPath(container, c.path)) ? c : null)),
    );
    const first = found.find((c) => c !== null);
    if (!first) {
      throw new JobFailedError(
        "runner_system_failure",
        `Image "${image.name}" has no shell: looked for ${
          SHELL_CANDIDATES.map((c) => c.path).join(", ")
        }`,
      );
    }
    return { shell: first.shell, shellPath: first.path };
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

  async run(stage: StageScript, signal: AbortSignal): Promise<number> {
    if (!this.#build) throw new Error("The docker executor is not prepared: call prepare first");
    if (signal.aborted) return KILLED_EXIT_CODE;
    const target = HELPER_STAGES.has(stage.stage) && this.#needsGit()
      ? await this.#helperContainer(signal)
      : this.#build;
    if (target !== this.#build && this.shell === "bash" && target.shell !== "bash") {
      throw new JobFailedError(
        "runner_system_failure",
        `Helper image "${this.#o.config.helperImage || DEFAULT_HELPER_IMAGE}" has no bash, ` +
          "but the job's scripts are written for bash",
      );
    }
    if (target.isStopped) await this.#restart(target);
    const cmd = await this.#command(target, target.shellPath, stage);
    const exec = await target.container.exec({
      Cmd: cmd,
      AttachStdout: true,
      AttachStderr: true,
      ...(target === this.#build && this.#user ? { User: this.#user } : {}),
    });
    const stream = await exec.start({ hijack: true, stdin: false }) as unknown as
      & NodeJS.ReadableStream
      & {
        destroy(): void;
      };
    let wasKilled = false;
    const onAbort = () => {
      wasKilled = true;
      target.isStopped = true;
      // Killing the container ends every process of the stage, also ones the
      // script left in the background; an exec cannot be signalled by the API.
      target.killing = target.container.kill().catch((err: unknown) => {
        if (!isConflict(err) && !isNotFound(err)) {
          this.#log.warn("Cannot kill the job container", { [F.ERROR]: daemonMessage(err) });
        }
      }).finally(() => stream.destroy());
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#pump(stream);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    if (wasKilled) return KILLED_EXIT_CODE;
    const info = await exec.inspect();
    if (info.ExitCode === null || info.ExitCode === undefined) return KILLED_EXIT_CODE;
    return info.ExitCode;
  }

  /** Starts a container an abort killed, once it has really stopped. */
  async #restart(target: JobContainer): Promise<void> {
    await target.killing;
    target.killing = null;
    // The kill call returns when the signal was sent, not when the container stopped.
    await target.container.wait({ condition: "not-running" });
    await target.container.start().catch((err: unknown) => {
      if (!isNotModified(err)) throw err;
    });
    target.isStopped = false;
  }

  /** Small scripts go inline; big ones are copied into the container first. */
  async #command(target: JobContainer, shellPath: string, stage: StageScript): Promise<string[]> {
    const bytes = new TextEncoder().encode(stage.script);
    if (bytes.length <= MAX_INLINE_SCRIPT_BYTES) return [shellPath, "-c", stage.script];
    const fileName = `.runner-${this.#o.job.id}-${stage.stage.replace(/[^A-Za-z0-9_-]/g, "_")}.sh`;
    await new ContainerFiles(target.container).putTar("/", singleFileTar(fileName, bytes));
    return [shellPath, `/${fileName}`];
  }

  async #pump(stream: NodeJS.ReadableStream): Promise<void> {
    const decoder = new ExecFrameDecoder();
    await new Promise<void>((resolve) => {
      stream.on("data", (chunk: Uint8Array) => {
        for (const payload of decoder.push(chunk)) this.#o.output.write(payload);
      });
      stream.on("end", () => resolve());
      stream.on("close", () => resolve());
      stream.on("error", () => resolve());
    });
  }

  async cleanup(): Promise<void> {
    if (this.#isCleanedUp) return;
    this.#isCleanedUp = true;
    const { docker } = this.#o;
    // A helper still being created would otherwise escape the removal below.
    await this.#helperPromise?.catch(() => {});
    const failures: string[] = [];
    const removeContainer = async (id: string) => {
      try {
        await docker.getContainer(id).remove({ force: true, v: true });
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

/** A ustar archive holding one regular file, mode 0755. */
export function singleFileTar(name: string, content: Uint8Array): Uint8Array {
  const header = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (text: string, at: number) => header.set(enc.encode(text), at);
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0";
  put(name, 0);
  put(octal(0o755, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(content.length, 12), 124);
  put(octal(Math.floor(Date.now() / 1000), 12), 136);
  put("        ", 148);
  put("0", 156);
  put("ustar\u000000", 257);
  let sum = 0;
  for (const b of header) sum += b;
  put(octal(sum, 7) + " ", 148);
  const padded = Math.ceil(content.length / 512) * 512;
  const tar = new Uint8Array(512 + padded + 1024);
  tar.set(header, 0);
  tar.set(content, 512);
  return tar;
}
