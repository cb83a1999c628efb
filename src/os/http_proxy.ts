/**
 * The proxy the environment gives a URL, as Deno's fetch picks it:
 * HTTPS_PROXY for https and HTTP_PROXY for http (upper case first), then
 * ALL_PROXY, unless NO_PROXY names the host ("*", the host, a domain it is
 * in, an IPv4 range). For requests made without fetch (node:http PUTs of
 * the distributed cache) and for naming the proxy in errors.
 */
export interface HttpProxy {
  /** The variable it came from, e.g. "HTTPS_PROXY". */
  name: string;
  /** The proxy's address, credentials included (see `withoutCredentials`). */
  url: URL;
}

const PROXY_SCHEMES = ["http:", "https:", "socks5:", "socks5h:"];

export function proxyFor(url: URL, env: (name: string) => string | undefined): HttpProxy | null {
  const name = proxyVariableFor(url, env);
  if (!name) return null;
  const proxy = parseProxyAddress(env(name)!);
  if (!proxy) return null;
  const noProxy = env("NO_PROXY") || env("no_proxy") || "";
  return bypassed(url.hostname, noProxy) ? null : { name, url: proxy };
}

/**
 * The proxy variable set for `url`'s scheme whose value Deno ignores (no
 * proxy address), so that the request went directly; null otherwise.
 */
export function ignoredProxyVariable(
  url: URL,
  env: (name: string) => string | undefined,
): string | null {
  const name = proxyVariableFor(url, env);
  return name && parseProxyAddress(env(name)!) === null ? name : null;
}

function proxyVariableFor(url: URL, env: (name: string) => string | undefined): string | null {
  const scheme = url.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY";
  return [scheme, scheme.toLowerCase(), "ALL_PROXY", "all_proxy"]
    .find((n) => (env(n) ?? "") !== "") ?? null;
}

/** A proxy variable's value as a URL ("host:port" is http), or null where Deno ignores it. */
export function parseProxyAddress(value: string): URL | null {
  try {
    const url = new URL(value.includes("://") ? value : `http://${value}`);
    return PROXY_SCHEMES.includes(url.protocol) && url.hostname !== "" ? url : null;
  } catch {
    return null;
  }
}

/** `scheme://host:port` of a proxy, for messages. */
export function withoutCredentials(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

/** `host:port` a connection to the proxy goes to (its permission). */
export function proxyHostPort(proxy: URL): string {
  const port = proxy.port || (proxy.protocol === "https:" ? "443" : "80");
  return `${proxy.hostname.replace(/^\[|\]$/g, "")}:${port}`;
}

/** Whether NO_PROXY names `host`. */
function bypassed(host: string, noProxy: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return noProxy.split(",").map((s) => s.trim().toLowerCase()).some((entry) => {
    if (entry === "*") return true;
    if (entry.includes("/")) return inRange(h, entry);
    const name = entry.replace(/^\*?\./, "").replace(/:\d+$/, "");
    return name !== "" && (h === name || h.endsWith(`.${name}`));
  });
}

function inRange(host: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const a = ipv4(host);
  const b = ipv4(base ?? "");
  const n = Number(bits);
  if (a === null || b === null || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function ipv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) {
    return null;
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}
