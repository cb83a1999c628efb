/**
 * What this runner tells GitLab about itself (spec §2.1): identity plus the
 * features its shell layer and executor really have. GitLab drops jobs that
 * need an undeclared feature, so we declare honestly.
 */
import type { RunnerConfig } from "../config/runner_config.ts";
import { createRunnerInfo, type RunnerInfo } from "../gitlab/mod.ts";
import type { VersionInfo } from "./version.ts";

/** Added by our shell layer (scripts, artifacts, cache) for every executor. */
const SHELL_FEATURES = [
  "artifacts",
  "upload_multiple_artifacts",
  "upload_raw_artifacts",
  "cache",
  "fallback_cache_keys",
  "refspecs",
  "masking",
  "raw_variables",
  "artifacts_exclude",
  "multi_build_steps",
  "return_exit_code",
];

/**
 * Executors that open the web terminal (`[session_server]`), as upstream:
 * shell (not on Windows) and docker. Others get no session.
 */
export function hasTerminal(executor: string, os: string = Deno.build.os): boolean {
  return executor === "docker" || (executor === "shell" && os !== "windows");
}

const EXECUTOR_FEATURES: Record<string, string[]> = {
  shell: ["variables", "shared"],
  ssh: ["variables", "shared"],
  custom: ["variables", "shared"],
  docker: [
    "variables",
    "image",
    "services",
    "service_variables",
    "service_multiple_aliases",
    "image_executor_opts",
  ],
  "docker+ssh": ["variables", "image", "services"],
};

export function defaultShell(executor: string): string {
  return executor === "docker" || executor === "docker+ssh" ? "bash" : "bash";
}

export function runnerInfoFor(version: VersionInfo, runner: RunnerConfig): RunnerInfo {
  const features: Record<string, boolean> = {};
  for (const f of [...SHELL_FEATURES, ...(EXECUTOR_FEATURES[runner.executor] ?? [])]) {
    features[f] = true;
  }
  if (hasTerminal(runner.executor)) features["session"] = features["terminal"] = true;
  return createRunnerInfo({
    version: version.version,
    revision: version.revision,
    branch: version.branch,
    executor: runner.executor,
    shell: runner.shell || (runner.executor ? defaultShell(runner.executor) : ""),
    features,
    gpus: runner.docker.gpus ?? "",
    labels: runner.combinedLabels ?? runner.labels ?? {},
  });
}

/** The TLS files of a runner entry, as the GitLab clients take them (unset ones left out). */
export function tlsFilesOf(
  runner: Pick<RunnerConfig, "tlsCaFile" | "tlsCertFile" | "tlsKeyFile">,
): { tlsCaFile?: string; tlsCertFile?: string; tlsKeyFile?: string } {
  return {
    ...(runner.tlsCaFile ? { tlsCaFile: runner.tlsCaFile } : {}),
    ...(runner.tlsCertFile ? { tlsCertFile: runner.tlsCertFile } : {}),
    ...(runner.tlsKeyFile ? { tlsKeyFile: runner.tlsKeyFile } : {}),
  };
}
