/**
 * The job as GitLab sends it in the 201 body of `POST jobs/request`
 * (spec/gitlab-runner-api.md §3), validated and with every default filled.
 * Field names are camelCase; `parseJobSpec` maps the wire names.
 */

export interface JobVariable {
  key: string;
  value: string;
  public: boolean;
  file: boolean;
  masked: boolean;
  raw: boolean;
}

export interface JobInfo {
  name: string;
  stage: string;
  pipelineId: number;
  projectId: number;
  projectName: string;
  projectFullPath: string;
  namespaceId: number;
  userId: number;
  timeInQueueSeconds: number;
  projectJobsRunningOnInstanceRunnersCount: string;
  queueSize: number;
  queueDepth: number;
}

export interface GitInfo {
  /** Clone URL that already contains `gitlab-ci-token:<job token>@`. */
  repoUrl: string;
  repoObjectFormat: string;
  ref: string;
  sha: string;
  beforeSha: string;
  refType: string;
  refspecs: string[];
  /** Shallow depth; 0 means full history. */
  depth: number;
  protected: boolean | null;
}

export type StepWhen = "on_success" | "on_failure" | "always";

/**
 * A `when` as GitLab sent it: a StepWhen, or a value this runner does not
 * know, which (as in GitLab's runner) matches no stage: the build warns.
 */
export type JobWhen = StepWhen | (string & Record<never, never>);

export interface JobStep {
  /** `script`, `after_script`, `release`, … */
  name: string;
  script: string[];
  timeout: number;
  /** Not acted on, as in GitLab's runner: stages run in order until one fails. */
  when: JobWhen;
  allowFailure: boolean;
}

export interface JobImagePort {
  number: number;
  protocol: string;
  name: string;
}

export interface JobImage {
  name: string;
  alias: string;
  command: string[];
  entrypoint: string[];
  ports: JobImagePort[];
  variables: JobVariable[];
  pullPolicy: string[];
  /** `executor_opts.docker`: platform and user. */
  dockerPlatform: string;
  dockerUser: string;
  /**
   * `executor_opts` keys no executor of GitLab's runner knows, as paths
   * (`bogus`, `docker.bogus`): the job is refused (unsupported_features.ts).
   */
  unsupportedOptions: string[];
}

export interface JobArtifact {
  name: string;
  untracked: boolean;
  paths: string[];
  exclude: string[];
  when: JobWhen;
  artifactType: string;
  artifactFormat: string;
  expireIn: string;
}

export interface JobCache {
  key: string;
  untracked: boolean;
  policy: string;
  paths: string[];
  when: JobWhen;
  fallbackKeys: string[];
}

export interface JobCredential {
  type: string;
  url: string;
  username: string;
  password: string;
}

export interface JobDependency {
  id: number;
  token: string;
  name: string;
  artifactsFile: { filename: string; size: number };
}

export interface JobFeatures {
  traceSections: boolean;
  tokenMaskPrefixes: string[];
  failureReasons: string[];
}

export interface JobHook {
  name: string;
  script: string[];
}

export interface JobSpec {
  id: number;
  token: string;
  allowGitFetch: boolean;
  jobInfo: JobInfo;
  gitInfo: GitInfo;
  /** Job timeout in seconds; a value of 0 or below becomes 7200. */
  timeout: number;
  variables: JobVariable[];
  steps: JobStep[];
  image: JobImage;
  services: JobImage[];
  artifacts: JobArtifact[];
  cache: JobCache[];
  credentials: JobCredential[];
  dependencies: JobDependency[];
  features: JobFeatures;
  hooks: JobHook[];
  /** Names of the `secrets` GitLab asks the runner to resolve. */
  secrets: string[];
  /** `run`: CI steps as a JSON string; "" when absent. */
  run: string;
  /** Keys of the job `inputs`. */
  inputs: string[];
  /**
   * Not in the payload: the `X-Request-Id` of the job request that brought the
   * job (GitLab's answer, else the one we sent), which git sends to Gitaly with
   * FF_USE_GITALY_CORRELATION_ID; "" when no request did (`runner exec`).
   */
  requestCorrelationId: string;
}

export const DEFAULT_JOB_TIMEOUT_SECONDS = 7200;

/** The payload does not have the shape of a job; `path` names the field. */
export class JobPayloadError extends Error {
  override readonly name = "JobPayloadError";
  constructor(readonly path: string, message: string) {
    super(`Invalid job payload at "${path}": ${message}`);
  }
}

type Obj = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

class Reader {
  constructor(readonly obj: Obj, readonly path: string) {}

  #at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  string(key: string, fallback = ""): string {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "string") {
      throw new JobPayloadError(this.#at(key), `expected a string, got ${describe(v)}`);
    }
    return v;
  }

  requiredString(key: string): string {
    if (this.obj[key] === undefined || this.obj[key] === null || this.obj[key] === "") {
      throw new JobPayloadError(this.#at(key), "is missing");
    }
    return this.string(key);
  }

  number(key: string, fallback = 0): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new JobPayloadError(this.#at(key), `expected a number, got ${describe(v)}`);
    }
    return v;
  }

  /** A number without a fraction, as GitLab's runner decodes an `int` field. */
  integer(key: string): number {
    const v = this.number(key);
    if (!Number.isInteger(v)) {
      throw new JobPayloadError(this.#at(key), `expected an integer, got ${v}`);
    }
    return v;
  }

  bool(key: string, fallback = false): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") {
      throw new JobPayloadError(this.#at(key), `expected a boolean, got ${describe(v)}`);
    }
    return v;
  }

  strings(key: string): string[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      throw new JobPayloadError(this.#at(key), `expected an array, got ${describe(v)}`);
    }
    return v.map((item, i) => {
      if (typeof item !== "string") {
        throw new JobPayloadError(
          `${this.#at(key)}[${i}]`,
          `expected a string, got ${describe(item)}`,
        );
      }
      return item;
    });
  }

  object(key: string): Reader {
    const v = this.obj[key];
    if (v === undefined || v === null) return new Reader({}, this.#at(key));
    if (typeof v !== "object" || Array.isArray(v)) {
      throw new JobPayloadError(this.#at(key), `expected an object, got ${describe(v)}`);
    }
    return new Reader(v as Obj, this.#at(key));
  }

  list<T>(key: string, read: (r: Reader) => T): T[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      throw new JobPayloadError(this.#at(key), `expected an array, got ${describe(v)}`);
    }
    return v.map((item, i) => {
      const at = `${this.#at(key)}[${i}]`;
      if (typeof item !== "object" || item === null || Array.isArray(item)) {
        throw new JobPayloadError(at, `expected an object, got ${describe(item)}`);
      }
      return read(new Reader(item as Obj, at));
    });
  }
}

/** "" is on_success; an unknown value is kept (see JobWhen). */
function readWhen(r: Reader, key: string): JobWhen {
  return r.string(key) || "on_success";
}

/** Whether `when` is one this runner acts on. */
export function isKnownWhen(when: string): when is StepWhen {
  return when === "on_success" || when === "on_failure" || when === "always";
}

function readVariable(r: Reader): JobVariable {
  return {
    key: r.requiredString("key"),
    value: r.string("value"),
    public: r.bool("public"),
    file: r.bool("file"),
    masked: r.bool("masked"),
    raw: r.bool("raw"),
  };
}

/** The options each `executor_opts` section may hold, as GitLab's runner has them. */
export const EXECUTOR_OPTIONS: Record<string, readonly string[]> = {
  docker: ["platform", "user"],
  kubernetes: ["user"],
};

function unsupportedExecutorOptions(opts: Reader): string[] {
  const unsupported: string[] = [];
  for (const section of Object.keys(opts.obj)) {
    const known = EXECUTOR_OPTIONS[section];
    if (known === undefined) {
      unsupported.push(section);
      continue;
    }
    const keys = Object.keys(opts.object(section).obj);
    unsupported.push(...keys.filter((k) => !known.includes(k)).map((k) => `${section}.${k}`));
  }
  return unsupported;
}

function readImage(r: Reader): JobImage {
  const opts = r.object("executor_opts");
  const docker = opts.object("docker");
  const user = docker.obj["user"];
  return {
    name: r.string("name"),
    alias: r.string("alias"),
    command: r.strings("command"),
    entrypoint: r.strings("entrypoint"),
    ports: r.list("ports", (p) => ({
      number: p.integer("number"),
      protocol: p.string("protocol", "tcp"),
      name: p.string("name"),
    })),
    variables: r.list("variables", readVariable),
    pullPolicy: r.strings("pull_policy"),
    dockerPlatform: docker.string("platform"),
    dockerUser: typeof user === "number" ? String(user) : docker.string("user"),
    unsupportedOptions: unsupportedExecutorOptions(opts),
  };
}

/**
 * Validates a decoded `jobs/request` body. Unknown fields are ignored and
 * missing ones take their zero value, as GitLab's own runner does; a field of
 * the wrong type is a `JobPayloadError` naming it.
 */
export function parseJobSpec(body: unknown): JobSpec {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new JobPayloadError("$", `expected a JSON object, got ${describe(body)}`);
  }
  const r = new Reader(body as Obj, "");
  const id = r.number("id");
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new JobPayloadError(
      "id",
      `expected a positive integer, got ${JSON.stringify(r.obj["id"])}`,
    );
  }
  const info = r.object("job_info");
  const git = r.object("git_info");
  const features = r.object("features");
  const timeout = r.object("runner_info").integer("timeout");
  const protectedRef = git.obj["protected"];
  return {
    id,
    token: r.requiredString("token"),
    allowGitFetch: r.bool("allow_git_fetch"),
    jobInfo: {
      name: info.string("name"),
      stage: info.string("stage"),
      pipelineId: info.integer("pipeline_id"),
      projectId: info.integer("project_id"),
      projectName: info.string("project_name"),
      projectFullPath: info.string("project_full_path"),
      namespaceId: info.integer("namespace_id"),
      userId: info.integer("user_id"),
      timeInQueueSeconds: info.number("time_in_queue_seconds"),
      projectJobsRunningOnInstanceRunnersCount: info.string(
        "project_jobs_running_on_instance_runners_count",
      ),
      queueSize: info.integer("queue_size"),
      queueDepth: info.integer("queue_depth"),
    },
    gitInfo: {
      repoUrl: git.string("repo_url"),
      repoObjectFormat: git.string("repo_object_format", "sha1") || "sha1",
      ref: git.string("ref"),
      sha: git.string("sha"),
      beforeSha: git.string("before_sha"),
      refType: git.string("ref_type"),
      refspecs: git.strings("refspecs"),
      depth: git.integer("depth"),
      protected: typeof protectedRef === "boolean" ? protectedRef : null,
    },
    timeout: timeout > 0 ? timeout : DEFAULT_JOB_TIMEOUT_SECONDS,
    variables: r.list("variables", readVariable),
    steps: r.list("steps", (s) => ({
      name: s.requiredString("name"),
      script: s.strings("script"),
      timeout: s.integer("timeout"),
      when: readWhen(s, "when"),
      allowFailure: s.bool("allow_failure"),
    })),
    image: readImage(r.object("image")),
    services: r.list("services", readImage),
    artifacts: r.list("artifacts", (a) => ({
      name: a.string("name"),
      untracked: a.bool("untracked"),
      paths: a.strings("paths"),
      exclude: a.strings("exclude"),
      when: readWhen(a, "when"),
      artifactType: a.string("artifact_type"),
      artifactFormat: a.string("artifact_format"),
      expireIn: a.string("expire_in"),
    })),
    cache: r.list("cache", (c) => ({
      key: c.string("key"),
      untracked: c.bool("untracked"),
      policy: c.string("policy"),
      paths: c.strings("paths"),
      when: readWhen(c, "when"),
      fallbackKeys: c.strings("fallback_keys"),
    })),
    credentials: r.list("credentials", (c) => ({
      type: c.string("type"),
      url: c.string("url"),
      username: c.string("username"),
      password: c.string("password"),
    })),
    dependencies: r.list("dependencies", (d) => {
      const file = d.object("artifacts_file");
      return {
        id: d.integer("id"),
        token: d.string("token"),
        name: d.string("name"),
        artifactsFile: { filename: file.string("filename"), size: file.integer("size") },
      };
    }),
    features: {
      traceSections: features.bool("trace_sections"),
      tokenMaskPrefixes: features.strings("token_mask_prefixes"),
      failureReasons: features.strings("failure_reasons"),
    },
    hooks: r.list("hooks", (h) => ({ name: h.string("name"), script: h.strings("script") })),
    secrets: Object.keys(r.object("secrets").obj),
    run: r.string("run"),
    inputs: r.list("inputs", (i) => i.string("key")),
    requestCorrelationId: "",
  };
}

/** Last occurrence wins, as in GitLab. */
export function variableValue(
  spec: { readonly variables: readonly JobVariable[] },
  key: string,
): string | undefined {
  for (let i = spec.variables.length - 1; i >= 0; i--) {
    const v = spec.variables[i];
    if (v && v.key === key) return v.value;
  }
  return undefined;
}
