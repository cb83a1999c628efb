/**
 * Who we are, as sent in `info` of register/verify/request/update bodies and
 * in the User-Agent header (spec §0.2, §2.1). `cli/main.ts` builds one and
 * injects it; nothing here reads the environment.
 */
export interface RunnerInfo {
  /** Always "gitlab-runner" for compatibility with GitLab's runner views. */
  name: string;
  version: string;
  revision: string;
  /** Source branch shown in the User-Agent, e.g. "main". */
  branch: string;
  /** Runtime shown in the User-Agent where Go puts its version, e.g. "deno 2.1.0". */
  runtime: string;
  /** Go-style OS name: linux, darwin, windows. */
  platform: string;
  /** Go-style arch: amd64, arm64. */
  architecture: string;
  /** "" at registration time. */
  executor: string;
  shell: string;
  /** Features the shell and executor add; client features are always forced on. */
  features: Readonly<Record<string, boolean>>;
  /** Docker `gpus` setting or "". */
  gpus: string;
  labels: Readonly<Record<string, string>>;
}

/** Every feature key GitLab knows; all are always sent as booleans (spec §2.1). */
export const FEATURE_NAMES = [
  "variables",
  "image",
  "services",
  "artifacts",
  "cache",
  "fallback_cache_keys",
  "shared",
  "upload_multiple_artifacts",
  "upload_raw_artifacts",
  "session",
  "terminal",
  "refspecs",
  "masking",
  "proxy",
  "raw_variables",
  "artifacts_exclude",
  "multi_build_steps",
  "trace_reset",
  "trace_checksum",
  "trace_size",
  "vault_secrets",
  "cancelable",
  "return_exit_code",
  "service_variables",
  "service_multiple_aliases",
  "image_executor_opts",
  "service_executor_opts",
  "cancel_gracefully",
  "native_steps_integration",
  "two_phase_job_commit",
  "job_inputs",
] as const;

/**
 * Features the network client itself implements, always declared true.
 * `job_inputs` is not among them: the official runner evaluates
 * `${{ job.inputs.* }}` templates (the moa expression language of step-runner)
 * in script, image, services, artifacts and cache before running; we do not,
 * so we declare it false and GitLab does not send us jobs that use inputs.
 */
export const CLIENT_FEATURES: readonly string[] = [
  "trace_reset",
  "trace_checksum",
  "trace_size",
  "cancelable",
  "cancel_gracefully",
  "two_phase_job_commit",
];

const GO_ARCH: Record<string, string> = { "x86_64": "amd64", "aarch64": "arm64" };

/** A RunnerInfo for this process; `Deno.build` needs no permission. */
export function createRunnerInfo(
  options: Partial<RunnerInfo> & Pick<RunnerInfo, "version" | "revision">,
): RunnerInfo {
  return {
    name: "gitlab-runner",
    branch: "main",
    runtime: `deno ${Deno.version.deno}`,
    platform: Deno.build.os,
    architecture: GO_ARCH[Deno.build.arch] ?? Deno.build.arch,
    executor: "",
    shell: "",
    features: {},
    gpus: "",
    labels: {},
    ...options,
  };
}

/** `gitlab-runner <version> (<branch>; <runtime>; <os>/<arch>)`, the official shape. */
export function userAgent(info: RunnerInfo): string {
  return `gitlab-runner ${info.version} (${info.branch}; ${info.runtime}; ${info.platform}/${info.architecture})`;
}

/** The `info` object in wire form: every feature key present, client features on. */
export function runnerInfoBody(info: RunnerInfo): Record<string, unknown> {
  const features: Record<string, boolean> = {};
  for (const name of FEATURE_NAMES) features[name] = info.features[name] === true;
  for (const [name, on] of Object.entries(info.features)) features[name] = on;
  for (const name of CLIENT_FEATURES) features[name] = true;
  const body: Record<string, unknown> = {};
  const put = (key: string, value: string) => {
    if (value !== "") body[key] = value;
  };
  put("name", info.name);
  put("version", info.version);
  put("revision", info.revision);
  put("platform", info.platform);
  put("architecture", info.architecture);
  put("executor", info.executor);
  put("shell", info.shell);
  body["features"] = features;
  body["config"] = { gpus: info.gpus };
  if (Object.keys(info.labels).length > 0) body["labels"] = { ...info.labels };
  return body;
}
