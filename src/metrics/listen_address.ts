/** Port the official runner adds when listen_address has none. */
export const DEFAULT_METRICS_PORT = 9252;

export interface ListenAddress {
  /** `0.0.0.0` when the address named no host (`:9252`). */
  hostname: string;
  port: number;
}

/**
 * Parses `listen_address` / `--listen-address` like the official runner:
 * `host:port`, `:port` (all interfaces), `host` (port 9252 added), `[::1]:port`
 * and `[::1]`. Throws a TypeError naming the value when it is malformed.
 */
export function parseListenAddress(value: string): ListenAddress {
  const text = value.trim();
  const fail = (why: string): never => {
    throw new TypeError(`Invalid listen address "${value}": ${why}`);
  };
  if (text === "") fail("it is empty");
  if (/[\s/]/.test(text)) fail("expected host:port, without scheme or path");

  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) fail("missing ] after IPv6 address");
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) fail("expected :port after ]");
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const colons = text.split(":").length - 1;
    if (colons > 1) {
      // A bare IPv6 address has no room for a port, as in Go's net.SplitHostPort.
      host = text;
      portText = undefined;
    } else if (colons === 1) {
      const at = text.indexOf(":");
      host = text.slice(0, at);
      portText = text.slice(at + 1);
    } else {
      host = text;
      portText = undefined;
    }
  }

  let port = DEFAULT_METRICS_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) fail(`port "${portText}" is not a number`);
    port = Number(portText);
    if (port > 65535) fail(`port ${port} is out of range 0-65535`);
  }
  return { hostname: host === "" ? "0.0.0.0" : host, port };
}

/** `host:port`, brackets around IPv6 hosts. */
export function formatListenAddress(address: ListenAddress): string {
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `${host}:${address.port}`;
}
