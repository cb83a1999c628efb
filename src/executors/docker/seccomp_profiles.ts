/**
 * Inlines the seccomp profile files `security_opt` and `services_security_opt`
 * name, as the official runner does (processSecurityOpt): given the path, the
 * daemon refused it at container start ("Decoding seccomp profile failed"), a
 * system failure naming no key.
 */
import { seccompProfilePath } from "../../config/seccomp_profile_path.ts";
import type { DockerConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";

async function inline(key: string, options: readonly string[]): Promise<string[]> {
  return await Promise.all(options.map(async (option) => {
    const path = seccompProfilePath(option);
    if (path === null) return option;
    const fail = (why: string) =>
      new JobFailedError(
        "runner_configuration_error",
        `Invalid [runners.docker] ${key} "${option}": ${why}`,
      );
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      throw fail(`cannot read the seccomp profile: ${err instanceof Error ? err.message : err}`);
    }
    try {
      JSON.parse(text);
    } catch {
      throw fail("the seccomp profile is not valid JSON");
    }
    return `seccomp=${text}`;
  }));
}

/** `config` with every seccomp profile file of its security options read in. */
export async function withSeccompProfiles(config: DockerConfig): Promise<DockerConfig> {
  const names = (opts: readonly string[]) => opts.some((o) => seccompProfilePath(o) !== null);
  if (!names(config.securityOpt) && !names(config.servicesSecurityOpt)) return config;
  return {
    ...config,
    securityOpt: await inline("security_opt", config.securityOpt),
    servicesSecurityOpt: await inline("services_security_opt", config.servicesSecurityOpt),
  };
}
