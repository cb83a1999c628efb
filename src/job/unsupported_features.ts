/**
 * What a job asks for that this runner does not do. Such a job fails before
 * its first stage with an error naming the payload field, instead of running
 * without it (a job whose secrets or CI steps were dropped would "succeed").
 *
 * `executor_opts` keys GitLab's runner does not know fail as it fails them
 * (spec §2.5): runner_system_failure, exit code 3, its wording. The features
 * we do not declare to GitLab (`vault_secrets`, `native_steps_integration`,
 * `job_inputs`) are not sent to us by a GitLab that honours the declaration;
 * one that sends them anyway gets a configuration error.
 */
import { JobFailedError } from "./failure_reason.ts";
import { EXECUTOR_OPTIONS, isKnownWhen, type JobImage, type JobSpec } from "./job_spec.ts";

/** The first unsupported request of `job`, as the error that fails it; null when none. */
export function unsupportedFeatureError(job: JobSpec): JobFailedError | null {
  const options = [
    executorOptionsMessage("image", job.image),
    ...job.services.map((s, i) => executorOptionsMessage(`services[${i}]`, s)),
  ].filter((m) => m !== "");
  if (options.length > 0) {
    return new JobFailedError("runner_system_failure", options.join("; "), { exitCode: 3 });
  }
  if (job.secrets.length > 0) {
    return configurationError(
      `The job's secrets (${
        job.secrets.join(", ")
      }) cannot be resolved: this runner does not fetch external secrets (payload field "secrets")`,
    );
  }
  if (job.run !== "") {
    return configurationError(
      `The job's "run" steps cannot run: this runner does not run CI steps (payload field "run")`,
    );
  }
  if (job.inputs.length > 0) {
    return configurationError(
      `The job's inputs (${
        job.inputs.join(", ")
      }) cannot be used: this runner does not interpolate job inputs (payload field "inputs")`,
    );
  }
  return null;
}

/**
 * Job-log warnings for `artifacts` and `cache` entries whose `when` this
 * runner does not know: as in GitLab's runner, they match no stage, so they
 * are never uploaded or saved. (A step's `when` is not acted on at all.)
 */
export function unknownWhenWarnings(job: JobSpec): string[] {
  const warn = (field: string, entries: readonly { when: string }[], what: string) =>
    entries.flatMap(({ when }, i) =>
      isKnownWhen(when)
        ? []
        : [`${field}[${i}].when "${when}" is not on_success, on_failure or always: ${what}`]
    );
  return [
    ...warn("artifacts", job.artifacts, "these artifacts are never uploaded"),
    ...warn("cache", job.cache, "this cache is never saved"),
  ];
}

function configurationError(message: string): JobFailedError {
  return new JobFailedError("runner_configuration_error", message);
}

/** GitLab's runner's wording (UnsuportedExecutorOptionsError), one clause per section. */
function executorOptionsMessage(what: string, image: JobImage): string {
  // section ("" for executor_opts itself) -> its unsupported options
  const bySection = new Map<string, string[]>();
  for (const path of image.unsupportedOptions) {
    const dot = path.indexOf(".");
    const section = dot === -1 ? "" : path.slice(0, dot);
    bySection.set(section, [...(bySection.get(section) ?? []), path.slice(dot + 1)]);
  }
  return [...bySection].map(([section, options]) => {
    const where = section === "" ? "executor_opts" : `${section} executor`;
    const supported = section === "" ? Object.keys(EXECUTOR_OPTIONS) : EXECUTOR_OPTIONS[section]!;
    return `Unsupported "${what}" options [${options.join(" ")}] for "${where}"; ` +
      `supported options are [${supported.join(" ")}]`;
  }).join("; ");
}
