/**
 * The docker+ssh executor (`executor = "docker+ssh"`; upstream's removed
 * `docker-ssh`): the job container starts from the job image with its own
 * command, which must run sshd, and every stage then runs over SSH inside it
 * with the `[runners.ssh]` credentials, exactly as the ssh executor runs
 * stages on a host. Artifacts and cache use SFTP into the container.
 *
 * Container handling reuses the docker executor's parts (image pull and pull
 * policies, allowed images, host config, resource labels, the orphan sweep
 * keyed by OwnerLease), so the cleanup guarantees are the docker executor's:
 * `cleanup` removes the container (may run twice), and a container left by a
 * killed executor process is removed by the next executor's sweep. The
 * DockerExecutor class itself is not used: it replaces the image command with
 * an idle shell, and the image's command is what starts sshd here.
 *
 * Not supported (yet): services, per-job networks, cache/build volumes (the
 * container's file system is the builds dir, gone with the container).
 */
import type Docker from "dockerode";
import type { DockerApi } from "../docker/docker_client.ts";
import type { DockerConfig, SshConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { type JobSpec, variableValue } from "../../job/job_spec.ts";
import { F } from "../../log/fields.ts";
import type { Logger } from "../../log/logger.ts";
import type { Executor, ExecutorPaths, JobOutput, ShellName, StageScript } from "../executor.ts";
import { type LabelContext, resourceLabels } from "../docker/docker_labels.ts";
import { sweepOrphans } from "../docker/docker_resources.ts";
import { buildHostConfig } from "../docker/host_config.ts";
import { checkImageAllowed, resolvePullPolicies } from "../docker/image_policy.ts";
import { ensureImage } from "../docker/image_puller.ts";
import { withSeccompProfiles } from "../docker/seccomp_profiles.ts";
import { ABORT_GRACE_MS, settleAfterAbort } from "../docker/abort_grace.ts";
import type { OwnerLease } from "../docker/owner_lease.ts";
import type { SftpFiles } from "./sftp_files.ts";
import type { SshConnectOptions } from "./ssh_connection.ts";
import { SshExecutor } from "./ssh_executor.ts";

export const DOCKER_SSH_BUILDS_DIR = "/builds";
export const DOCKER_SSH_CACHE_DIR = "/cache";

/** How long cleanup waits for the daemon to remove the job container. */
const REMOVE_WAIT_MS = 30_000;

export interface DockerSshExecutorOptions {
  docker: DockerApi;
  /** `[runners.docker]`: image, pull policies, allowed images, resources, network_mode. */
  dockerConfig: DockerConfig;
  /** `[runners.ssh]`: user, password, identity_file, port and host key settings; host is ignored. */
  ssh: SshConfig;
  job: JobSpec;
  shortToken: string;
  concurrentProjectId: number;
  lease: OwnerLease;
  output: JobOutput;
  log: Logger;
  /** Runner `shell`: "" (= bash), `bash` or `sh`. */
  shell: string;
  /** Runner `builds_dir`; "" = /builds in the container. */
  buildsDir: string;
  /** Runner `cache_dir`; "" = /cache in the container. */
  cacheDir: string;
  /** The runner user's home (for `~/.ssh/known_hosts`). */
  homeDir: string;
  /** FF_USE_INIT_WITH_DOCKER_EXECUTOR: the container runs with docker's `--init`, as the docker executor's. */
  isInit?: boolean;
  /** sshd needs a moment after the container starts: default 30 attempts 500 ms apart. */
  connect?: Omit<SshConnectOptions, "signal" | "onRetry">;
  killGraceMs?: number;
  sweepOrphans?: boolean;
}

export class DockerSshExecutor implements Executor {
  readonly isSharedEnvironment = false;
  readonly #o: DockerSshExecutorOptions;
  readonly #log: Logger;
  readonly #labels: LabelContext;
  #containerId: string | null = null;
  #ssh: SshExecutor | null = null;
  #isCleanedUp = false;
  #paths: ExecutorPaths;

  constructor(options: DockerSshExecutorOptions) {
    const shell = options.shell === "" ? "bash" : options.shell;
    if (shell !== "bash" && shell !== "sh") {
      throw new TypeError(
        `Shell "${options.shell}" is not supported by the docker+ssh executor: use "bash" or "sh"`,
      );
    }
    this.#o = options;
    this.#log = options.log.child({ [F.JOB_ID]: options.job.id, [F.EXECUTOR]: "docker+ssh" });
    this.#labels = {
      ownerId: options.lease.ownerId,
      hostId: options.lease.hostId,
      jobId: options.job.id,
      projectId: options.job.jobInfo.projectId,
      shortToken: options.shortToken,
      concurrentProjectId: options.concurrentProjectId,
    };
    this.#paths = {
      buildsDir: options.buildsDir || DOCKER_SSH_BUILDS_DIR,
      cacheDir: options.cacheDir || DOCKER_SSH_CACHE_DIR,
      isBuildsDirShared: false,
    };
  }

  get shell(): ShellName {
    return this.#ssh?.shell ?? (this.#o.shell === "sh" ? "sh" : "bash");
  }

  get paths(): ExecutorPaths {
    return this.#ssh ? { ...this.#ssh.paths, isBuildsDirShared: false } : this.#paths;
  }

  /** Id of the job container; null before prepare and after cleanup. */
  get containerId(): string | null {
    return this.#containerId;
  }

  /** SFTP access into the job container; valid after `prepare`. */
  files(): SftpFiles {
    if (!this.#ssh) throw new Error("The docker+ssh executor is not prepared: call prepare first");
    return this.#ssh.files();
  }

  #say(line: string): void {
    this.#o.output.write(new TextEncoder().encode(`${line}\n`), "runner");
  }

  prepare(signal: AbortSignal): Promise<void> {
    return settleAfterAbort(this.#prepare(signal), signal, () => {
      this.#say(
        `WARNING: The Docker daemon did not answer within ${ABORT_GRACE_MS / 1000}s after ` +
          "the preparation was stopped; the job container is left to the cleanup",
      );
      throw signal.reason;
    });
  }

  async #prepare(signal: AbortSignal): Promise<void> {
    const { docker, dockerConfig: config, job } = this.#o;
    if (this.#o.sweepOrphans !== false) {
      await sweepOrphans(docker, this.#o.lease).catch((err: unknown) =>
        this.#log.warn("Orphan sweep failed", { [F.ERROR]: String(err) })
      );
    }
    const jobImage = job.image.name.replace(
      /\$\{?(\w+)\}?/g,
      (_, name: string) => variableValue(job, name) ?? "",
    );
    const image = jobImage || config.image;
    if (image === "") {
      throw new JobFailedError(
        "runner_configuration_error",
        "No image for the job: the job names none and [runners.docker] image is empty",
      );
    }
    if (jobImage !== "") {
      const ownImage = config.image.replace(
        /\$\{?(\w+)\}?/g,
        (_, name: string) => variableValue(job, name) ?? "",
      );
      checkImageAllowed(jobImage, config.allowedImages, "image", { internal: [ownImage] });
    }
    this.#say(`Using Docker executor with image ${image} over SSH ...`);
    // Services are not supported here (see above): said, rather than a job that waits
    // for a database nobody started.
    const services = [...config.services, ...job.services].map((s) => JSON.stringify(s.name));
    if (services.length > 0) {
      this.#say(
        `WARNING: The docker+ssh executor starts no services: ${services.join(", ")} not started`,
      );
    }
    const pulled = await ensureImage(docker, image, {
      policies: resolvePullPolicies(
        config.pullPolicy,
        config.allowedPullPolicies,
        job.image.pullPolicy,
      ),
      say: (line) => this.#say(line),
      signal,
    });

    // seccomp=<file> is read in here: the daemon takes only the profile itself.
    const hostConfig = buildHostConfig(await withSeccompProfiles(config), { isBuild: true, image });
    if (config.networkMode !== "") hostConfig["NetworkMode"] = config.networkMode;
    if (this.#o.isInit) hostConfig["Init"] = true;
    const create: Docker.ContainerCreateOptions = {
      name: `runner-${this.#o.shortToken}-job-${job.id}-ssh-${crypto.randomUUID().slice(0, 8)}`,
      Image: pulled.id,
      Labels: resourceLabels(this.#labels, "build"),
      HostConfig: hostConfig as Docker.HostConfig,
    };
    if (job.image.entrypoint.length > 0) {
      // The docker executor's words (and the official runner's) for a refused override.
      if (config.disableEntrypointOverwrite) this.#say("WARNING: Entrypoint override disabled");
      else create.Entrypoint = job.image.entrypoint;
    }
    if (job.image.command.length > 0) create.Cmd = job.image.command;
    if (config.hostname) create.Hostname = config.hostname;
    const container = await docker.createContainer(create);
    this.#containerId = container.id;
    if (this.#isCleanedUp) return await this.#removeContainer();
    await container.start();
    const info = await container.inspect();
    const networks = Object.values(info.NetworkSettings?.Networks ?? {});
    // Newer Engine APIs dropped the top-level IPAddress: take the first network's.
    const ip = networks.find((n) => n.IPAddress)?.IPAddress ?? "";
    if (ip === "" && !info.State?.Running) throw this.#stoppedError(image);
    if (ip === "") {
      throw new JobFailedError(
        "runner_system_failure",
        `The job container of image "${image}" has no IP address to reach its sshd (network_mode "${
          config.networkMode || "default"
        }")`,
      );
    }
    this.#say(`Connecting over SSH to the job container at ${ip}...`);
    this.#ssh = new SshExecutor({
      config: { ...this.#o.ssh, host: ip },
      shell: this.#o.shell,
      buildsDir: this.#paths.buildsDir,
      cacheDir: this.#paths.cacheDir,
      output: { write: (chunk, stream) => this.#o.output.write(chunk, stream) },
      log: this.#log,
      homeDir: this.#o.homeDir,
      jobId: job.id,
      connect: { attempts: 30, retryDelayMs: 500, ...this.#o.connect },
      ...(this.#o.killGraceMs !== undefined ? { killGraceMs: this.#o.killGraceMs } : {}),
    });
    // A container that exits (its command is not sshd, or sshd failed) ends
    // the connection attempts at once instead of after every retry.
    const stopWatching = new AbortController();
    const connecting = new AbortController();
    const onAbort = () => connecting.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    let exited = false;
    const watch =
      (container.wait({ abortSignal: stopWatching.signal } as Record<string, unknown>) as Promise<
        unknown
      >)
        .then(() => {
          exited = true;
          connecting.abort(new Error("the job container exited"));
        }, () => {});
    try {
      await this.#ssh.prepare(connecting.signal);
    } catch (err) {
      throw exited ? this.#stoppedError(image, err) : err;
    } finally {
      signal.removeEventListener("abort", onAbort);
      stopWatching.abort();
      await watch;
    }
  }

  #stoppedError(image: string, cause?: unknown): JobFailedError {
    return new JobFailedError(
      "runner_system_failure",
      `The job container of image "${image}" stopped before its sshd answered: the image's command must run sshd`,
      cause === undefined ? {} : { cause },
    );
  }

  run(stage: StageScript, signal: AbortSignal): Promise<number> {
    if (!this.#ssh) throw new Error("The docker+ssh executor is not prepared: call prepare first");
    return this.#ssh.run(stage, signal);
  }

  async #removeContainer(): Promise<void> {
    const id = this.#containerId;
    if (id === null) return;
    // The job's result waits for this (cleanup runs in the build): a daemon that no
    // longer answers held the job running for ever. The orphan sweep removes it later.
    const removal = this.#o.docker.getContainer(id).remove({ force: true, v: true });
    removal.catch(() => {}); // a late failure, after the wait was given up
    let timer: ReturnType<typeof setTimeout> | undefined;
    const givenUp = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), REMOVE_WAIT_MS);
    });
    try {
      if (!(await Promise.race([removal.then(() => true), givenUp]))) {
        this.#log.warn("The Docker daemon did not remove the job container in time", {
          [F.ERROR]: `no answer within ${REMOVE_WAIT_MS / 1000}s`,
        });
        return;
      }
      this.#containerId = null;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404) this.#containerId = null;
      else this.#log.warn("Cannot remove the job container", { [F.ERROR]: String(err) });
    } finally {
      clearTimeout(timer);
    }
  }

  async cleanup(): Promise<void> {
    this.#isCleanedUp = true;
    await this.#ssh?.cleanup();
    await this.#removeContainer();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }
}
