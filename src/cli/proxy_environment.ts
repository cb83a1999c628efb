/**
 * The proxy variables of the runner's environment, as Deno's fetch reads them
 * for the poller and the executor processes. Deno ignores a value it cannot
 * read as a proxy address and sends the requests directly, where the official
 * runner's requests fail on it: such a value is named in a warning at start,
 * not ignored without a word.
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

/** The value without what looks like `user:password@`. */
function withoutCredentials(value: string): string {
  return value.replace(/^([a-z0-9+.-]*:\/\/)?[^@/\s]*@/i, "$1");
}
