/**
 * `[runners.ssh]` host and port as an address. Pure: the poller turns it into
 * the executor process's `--allow-net` entry, the ssh executor into the error
 * that names the key. A value that is no address got into `--allow-net` as
 * is ("example.com:2222:22"), which Deno refused, so the executor process died
 * at its start and the job failed as a system failure naming no key.
 */
import { isIP } from "node:net";

/** Labels of letters, digits, "_" and "-", as Deno's --allow-net takes a domain. */
const HOST_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;

/** Why `host` ("" = localhost) is no host name or IP address, or null. */
export function sshHostProblem(host: string): string | null {
  if (host === "" || isIP(host) !== 0 || HOST_NAME.test(host)) return null;
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
  return `${isIP(name) === 6 ? `[${name}]` : name}:${Number(port.trim() || "22")}`;
}
