/**
 * The proxy variables of the runner's environment, as Deno's fetch reads them
 * for the poller and the executor processes. Deno ignores a value it cannot
 * read as a proxy address and sends the requests directly, where the official
 * runner's requests fail on it: such a value is named in a warning at start,
 * not ignored without a word.
 *
 * A proxy variable in `[[runners]] environment` reaches the job's commands
 * (git, scripts, the custom executor's helper commands) but not the transfers
 * the executor process makes itself (artifacts, cache), which the official
 * runner's helper makes inside the job with that variable: one that differs
 * from the runner's own is named too.
 */
import { parseProxyAddress } from "../os/http_proxy.ts";

const PROXY_VARIABLES = [
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "ALL_PROXY",
  "all_proxy",
] as const;

/** One warning per proxy variable whose value is no proxy address. */
export function proxyEnvironmentWarnings(env: (name: string) => string | undefined): string[] {
  const warnings: string[] = [];
  for (const name of PROXY_VARIABLES) {
    const value = env(name) ?? "";
    if (value === "" || parseProxyAddress(value) !== null) continue;
    warnings.push(
      `${name} ${
        JSON.stringify(withoutCredentials(value))
      } is not a proxy address (http://host:port): the runner's requests do not use it and go directly`,
    );
  }
  return warnings;
}

/** One warning per proxy variable of an entry's `environment` its executor process does not use. */
export function environmentProxyWarnings(
  runners: readonly { name: string; executor: string; environment: readonly string[] }[],
  env: (name: string) => string | undefined,
): string[] {
  const warnings: string[] = [];
  for (const [index, runner] of runners.entries()) {
    // The custom executor's helper commands run in the job, with its variables.
    if (runner.executor === "custom") continue;
    for (const [position, entry] of runner.environment.entries()) {
      const at = entry.indexOf("=");
      const name = at > 0 ? entry.slice(0, at) : "";
      if (![...PROXY_VARIABLES, "NO_PROXY", "no_proxy"].includes(name)) continue;
      const value = entry.slice(at + 1);
      const own = env(name) ?? "";
      if (value === own) continue;
      const shown = (v: string) => JSON.stringify(withoutCredentials(v));
      warnings.push(
        `runners[${index}].environment[${position}] ${name}=${
          shown(value)
        } reaches the job's commands (git, scripts) but not the runner's artifact and cache transfers, which use the runner's own environment (${name} ${
          own === "" ? "unset" : `= ${shown(own)}`
        })`,
      );
    }
  }
  return warnings;
}

/** The value without what looks like `user:password@`. */
function withoutCredentials(value: string): string {
  return value.replace(/^([a-z0-9+.-]*:\/\/)?[^@/\s]*@/i, "$1");
}
