/**
 * The proxy variables of the runner's environment, as Deno's fetch reads them
 * for the poller and the executor processes. Deno ignores a value it cannot
 * read as a proxy address and sends the requests directly, where the official
 * runner's requests fail on it: such a value is named in a warning at start,
 * not ignored without a word.
 */
const PROXY_VARIABLES = [
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "ALL_PROXY",
  "all_proxy",
] as const;

const PROXY_SCHEMES = ["http:", "https:", "socks5:", "socks5h:"];

/** One warning per proxy variable whose value is no proxy address. */
export function proxyEnvironmentWarnings(env: (name: string) => string | undefined): string[] {
  const warnings: string[] = [];
  for (const name of PROXY_VARIABLES) {
    const value = env(name) ?? "";
    if (value === "" || isProxyAddress(value)) continue;
    warnings.push(
      `${name} ${
        JSON.stringify(withoutCredentials(value))
      } is not a proxy address (http://host:port): the runner's requests do not use it and go directly`,
    );
  }
  return warnings;
}

function isProxyAddress(value: string): boolean {
  try {
    const url = new URL(value.includes("://") ? value : `http://${value}`);
    return PROXY_SCHEMES.includes(url.protocol) && url.hostname !== "";
  } catch {
    return false;
  }
}

/** The value without what looks like `user:password@`. */
function withoutCredentials(value: string): string {
  return value.replace(/^([a-z0-9+.-]*:\/\/)?[^@/\s]*@/i, "$1");
}
