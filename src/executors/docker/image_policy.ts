/**
 * Which images a job may use and how they are pulled: `allowed_images` /
 * `allowed_services` globs and `pull_policy` / `allowed_pull_policies`. Pure.
 */
import picomatch from "picomatch";
import { JobFailedError } from "../../job/failure_reason.ts";
import { isPullPolicy } from "../../config/docker_values.ts";

export type PullPolicy = "always" | "if-not-present" | "never";

/**
 * Glob match as the official runner does it: `*` stays inside one path
 * segment, `**` crosses `/`. An empty allow-list allows everything.
 */
export function isImageAllowed(image: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  return allowed.some((pattern) => picomatch.isMatch(image, pattern, { dot: true }));
}

/**
 * Throws runner_configuration_error when a job-chosen image or service is not
 * on the allow-list. `kind` is "image" or "service".
 */
export function checkImageAllowed(
  image: string,
  allowed: readonly string[],
  kind: "image" | "service",
  options: { internal?: readonly string[] } = {},
): void {
  if (isImageAllowed(image, allowed)) return;
  // As upstream (VerifyAllowedImage): the runner's own choices pass, the
  // default image for a job's image, a [[runners.docker.services]] image for
  // a job's service.
  if (options.internal?.includes(image)) return;
  const list = allowed.map((p) => `- ${p}`).join("\n");
  throw new JobFailedError(
    "runner_configuration_error",
    `The "${image}" ${kind} is not present on the list of allowed ${kind}s:\n${list}\n` +
      `Please check the runner's allowed_${kind}s configuration`,
  );
}

function parsePolicies(values: readonly string[], where: string): PullPolicy[] {
  return values.map((v) => {
    const policy = v.trim().toLowerCase();
    if (!isPullPolicy(policy)) {
      throw new JobFailedError(
        "runner_configuration_error",
        `Unsupported pull_policy "${v}" in ${where}: expected always, if-not-present or never`,
      );
    }
    return policy as PullPolicy;
  });
}

/**
 * The policies to try, in order. The job's list wins when it gives one, but
 * every entry must be allowed: by `allowed_pull_policies` when set, else by
 * the runner's `pull_policy`. The runner default is ["always"]. `jobSource`
 * names where the job's list comes from in errors (a service's, not the image's).
 */
export function resolvePullPolicies(
  runnerPolicies: readonly string[],
  allowedPolicies: readonly string[],
  jobPolicies: readonly string[],
  options: { jobSource?: string } = {},
): PullPolicy[] {
  const runner = parsePolicies(runnerPolicies, "the runner configuration");
  const effectiveRunner: PullPolicy[] = runner.length > 0 ? runner : ["always"];
  const allowed = allowedPolicies.length > 0
    ? parsePolicies(allowedPolicies, "allowed_pull_policies")
    : effectiveRunner;
  const jobSource = options.jobSource ?? "the job's image";
  const job = parsePolicies(jobPolicies, jobSource);
  const chosen = job.length > 0 ? job : effectiveRunner;
  const rejected = chosen.filter((p) => !allowed.includes(p));
  if (rejected.length > 0) {
    // Which of the job's image and services asked for it: a job may have several.
    const source = job.length > 0
      ? `the GitLab pipeline config for ${jobSource}`
      : "the runner configuration";
    throw new JobFailedError(
      "runner_configuration_error",
      `pull_policy ([${
        chosen.join(" ")
      }]) defined in ${source} is not one of the allowed_pull_policies ([${allowed.join(" ")}])`,
    );
  }
  return chosen;
}

/** Splits `name[:tag|@digest]` into repository and reference; adds `latest` when none. */
export function normalizeImageName(image: string): string {
  if (image.includes("@")) return image;
  const lastSlash = image.lastIndexOf("/");
  const lastColon = image.lastIndexOf(":");
  return lastColon > lastSlash ? image : `${image}:latest`;
}
