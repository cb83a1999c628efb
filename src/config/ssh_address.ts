/**
 * `[runners.ssh]` host and port as an address. Pure: the poller turns it into
 * the executor process's `--allow-net` entry, the ssh executor into the error
 * that names the key. A value that is no address got into `--allow-net` as
 * is ("example.com:2222:22"), which Deno refused, so the executor process died
 * at its start and the job failed as a system failure naming no key.
 *
 * No node:net here: the idle poller loads this module, and the first node:
 * module loads Deno's Node compatibility into it for good
 * (src/cli/poller_modules_integration_test.ts).
 */

const IPV4_OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);

/** 4 or 6 for an IPv4 or IPv6 address, else 0 (as node:net's isIP, without zone ids). */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (IPV4.test(text)) return 4;
  if (!text.includes(":") || /[^0-9A-Fa-f:.]/.test(text)) return 0;
  // The URL parser checks IPv6 as RFC 4291 writes it (and the IPv4 tail).
  return URL.canParse(`http://[${text}]/`) ? 6 : 0;
}

/** Labels of letters, digits, "_" and "-", as Deno's --allow-net takes a domain. */
const HOST_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;

/** Why `host` ("" = localhost) is no host name or IP address, or null. */
export function sshHostProblem(host: string): string | null {
  if (host === "" || ipVersion(host) !== 0 || HOST_NAME.test(host)) return null;
  return "expected a host name or IP address (a port goes in port, a user in user)";
}

/** Why `port` ("" = 22) is no TCP port, or null. */
export function sshPortProblem(port: string): string | null {
  const text = port.trim() || "22";
  const n = Number(text);
  return /^\d+$/.test(text) && n >= 1 && n <= 65535 ? null : "expected a number from 1 to 65535";
}

/** The `--allow-net` entry for host and port (IPv6 in brackets), or null when they are no address. */
export function sshNetAddress(host: string, port: string): string | null {
  if (sshHostProblem(host) !== null || sshPortProblem(port) !== null) return null;
  const name = host || "localhost";
  return `${ipVersion(name) === 6 ? `[${name}]` : name}:${Number(port.trim() || "22")}`;
}

/**
 * `identity_file` or `known_hosts_file` with a leading `~` or `~/` put in the
 * runner user's `home`, as the ssh executor reads it; the poller grants the
 * executor process read access to the same path.
 */
export function sshFilePath(path: string, home: string): string {
  if (path === "~") return home;
  return path.startsWith("~/") ? `${home.replace(/\/+$/, "")}/${path.slice(2)}` : path;
}
