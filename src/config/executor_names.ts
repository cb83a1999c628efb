/**
 * Which `[[runners]] executor` values this runner can run. An entry naming any
 * other executor (kubernetes, docker-autoscaler, instance, docker+machine,
 * virtualbox, parallels, docker-windows, ...) is reported when the config loads
 * and never asks GitLab for jobs: asking would take jobs we can only fail.
 */
export const SUPPORTED_EXECUTORS = ["shell", "docker", "ssh", "docker+ssh", "custom"] as const;

export type SupportedExecutor = typeof SUPPORTED_EXECUTORS[number];

/** Executors of the official runner 19.x that this runner does not implement. */
export const OFFICIAL_ONLY_EXECUTORS = [
  "docker-windows",
  "docker+machine",
  "docker-autoscaler",
  "instance",
  "kubernetes",
  "parallels",
  "virtualbox",
] as const;

export function isSupportedExecutor(name: string): name is SupportedExecutor {
  return (SUPPORTED_EXECUTORS as readonly string[]).includes(name);
}
