/**
 * Defaults: an empty config.toml, a fresh [[runners]] entry, and the defaults
 * that depend on other keys (the executor, pull_policy, listen_address).
 */
import type { DockerServiceConfig, GlobalConfig, RunnerConfig } from "./runner_config.ts";
import { typedDefault } from "./_convert_value.ts";
import {
  arrayFieldPath,
  keyFieldPath,
  type Obj,
  setField,
  supportedArraysOfRoot,
  supportedKeysOfRoot,
} from "./_field_path.ts";

/** Executors that run jobs in containers: safe.directory and custom build dirs are on. */
const CONTAINER_EXECUTORS = new Set([
  "docker",
  "docker-windows",
  "docker+machine",
  "docker-autoscaler",
  "kubernetes",
]);

/** Executors sharing [runners.docker]. */
const DOCKER_EXECUTORS = new Set([
  "docker",
  "docker-windows",
  "docker+machine",
  "docker-autoscaler",
]);

export function isDockerExecutor(executor: string): boolean {
  return DOCKER_EXECUTORS.has(executor);
}

/** Defaults of `safe_directory_checkout` and `custom_build_dir.enabled`. */
export function isContainerExecutor(executor: string): boolean {
  return CONTAINER_EXECUTORS.has(executor);
}

/** Default of `clean_git_config`: off for the shell executor only. */
export function defaultCleanGitConfig(executor: string): boolean {
  return executor !== "shell";
}

/** The defaults of objects rooted at schema array section `root` ("" = document). */
export function defaultsForRoot(root: string): Obj {
  const out: Obj = { unsupported: {} };
  for (const key of supportedKeysOfRoot(root)) setField(out, keyFieldPath(key), typedDefault(key));
  for (const array of supportedArraysOfRoot(root)) setField(out, arrayFieldPath(array.path), []);
  if (root === "runners") {
    out["envExpansion"] = { url: null, token: null };
    out["combinedLabels"] = {};
  }
  return out;
}

/** Which dynamic-default keys a runner entry set explicitly. */
export interface ExplicitKeys {
  safeDirectoryCheckout: boolean;
  cleanGitConfig: boolean;
  customBuildDirEnabled: boolean;
}

/** Fills the defaults of `runner` that depend on its executor and pull policy. */
export function applyRunnerDynamicDefaults(runner: RunnerConfig, explicit: ExplicitKeys): void {
  if (!explicit.safeDirectoryCheckout) {
    runner.safeDirectoryCheckout = isContainerExecutor(runner.executor);
  }
  if (!explicit.cleanGitConfig) runner.cleanGitConfig = defaultCleanGitConfig(runner.executor);
  if (!explicit.customBuildDirEnabled) {
    runner.customBuildDirEnabled = isContainerExecutor(runner.executor);
  }
  if (runner.docker.pullPolicy.length === 0) runner.docker.pullPolicy = ["always"];
  // Upstream: an empty allow-list means "whatever pull_policy says".
  if (runner.docker.allowedPullPolicies.length === 0) {
    runner.docker.allowedPullPolicies = [...runner.docker.pullPolicy];
  }
}

/** Fills the global defaults that depend on other keys; each runner's combined labels. */
export function applyGlobalDynamicDefaults(config: GlobalConfig): void {
  for (const runner of config.runners) {
    runner.combinedLabels = { ...config.labels, ...runner.labels };
  }
}

/** The config of an empty or missing config.toml. */
export function defaultConfig(): GlobalConfig {
  const config = defaultsForRoot("") as unknown as GlobalConfig;
  applyGlobalDynamicDefaults(config);
  return config;
}

/** A [[runners]] entry with every default filled for `executor` (register uses it). */
export function defaultRunnerConfig(executor = ""): RunnerConfig {
  const runner = defaultsForRoot("runners") as unknown as RunnerConfig;
  runner.executor = executor;
  applyRunnerDynamicDefaults(runner, {
    safeDirectoryCheckout: false,
    cleanGitConfig: false,
    customBuildDirEnabled: false,
  });
  return runner;
}

/** A [[runners.docker.services]] entry with every default filled. */
export function defaultDockerServiceConfig(name = ""): DockerServiceConfig {
  const service = defaultsForRoot("runners.docker.services") as unknown as DockerServiceConfig;
  service.name = name;
  return service;
}
