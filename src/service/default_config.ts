import { posix } from "node:path";
import type { ServiceDefinition } from "./service_definition.ts";
import type { ServiceStep } from "./service_plan.ts";

/**
 * What `install` writes when the config file does not exist: the same keys
 * and values the official runner saves for an empty config, so `register`
 * later finds a familiar file. Zero `check_interval` / `shutdown_timeout`
 * mean "use the default" (3 s and 30 s).
 */
export const DEFAULT_CONFIG_TOML = `concurrent = 1
check_interval = 0
connection_max_age = "15m0s"
shutdown_timeout = 0

[session_server]
  session_timeout = 1800
`;

/**
 * The config file is created, 0600 in a 0700 directory, only when missing (§0.8).
 * With --init-user the runner runs as that user, so what is created here is
 * theirs: root's 0600 file would stop `run` at "Permission denied".
 */
export function configSteps(service: ServiceDefinition, path = posix): ServiceStep[] {
  const owner = service.runAs !== "" ? { owner: service.runAs } : {};
  return [
    { kind: "mkdir", path: path.dirname(service.configFile), mode: 0o700, ...owner },
    {
      kind: "write",
      path: service.configFile,
      content: DEFAULT_CONFIG_TOML,
      mode: 0o600,
      isKeptIfPresent: true,
      ...owner,
    },
  ];
}
