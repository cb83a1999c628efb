/**
 * `[session_server]` addresses, read as the official runner reads them:
 * `listen_address` is a `host:port` for net.Listen (port required; no host =
 * every interface), `advertise_address` (default: the listen address) is
 * what GitLab connects to, written without a scheme, and the certificate is
 * made for the first of the two that names a host. Pure.
 */

export interface SessionAddresses {
  /** Where to listen; `0.0.0.0` when the address named no host. */
  listen: { hostname: string; port: number };
  /** `https://<advertise_address>`; when it is the listen address with port 0, the bound port replaces it. */
  advertise: string;
  /** Host name or IP the certificate is made for. */
  certificateHost: string;
}

/** Throws a TypeError naming the key and value when an address is unusable. */
export function sessionAddresses(
  listenAddress: string,
  advertiseAddress: string,
): SessionAddresses {
  const listen = splitHostPort("listen_address", listenAddress);
  const advertised = advertiseAddress === "" ? listenAddress : advertiseAddress;
  if (/^https?:\/\//.test(advertised)) {
    throw new TypeError(
      `Invalid [session_server] advertise_address "${advertised}": url not valid, scheme defined`,
    );
  }
  let certificateHost = "";
  for (const value of [advertiseAddress, listenAddress]) {
    const host = trySplit(value)?.host ?? "";
    if (host !== "") {
      certificateHost = host;
      break;
    }
  }
  if (certificateHost === "") {
    throw new TypeError(
      `Invalid [session_server]: no valid address provided (listen_address "${listenAddress}", ` +
        `advertise_address "${advertiseAddress}" name no host)`,
    );
  }
  return {
    listen: { hostname: listen.host === "" ? "0.0.0.0" : listen.host, port: listen.port },
    advertise: `https://${advertised}`,
    certificateHost,
  };
}

/** `host:port` for the poller's net permission; null when the address is unusable. */
export function sessionListenPermission(listenAddress: string): string | null {
  const split = trySplit(listenAddress);
  if (split === null) return null;
  const host = split.host === "" ? "0.0.0.0" : split.host;
  return `${host.includes(":") ? `[${host}]` : host}:${split.port}`;
}

function splitHostPort(key: string, value: string): { host: string; port: number } {
  const split = trySplit(value);
  if (split === null) {
    const port = /:(\d+)$/.exec(value.trim())?.[1];
    const why = port !== undefined && Number(port) > 65535
      ? `port ${port} is out of range 0-65535`
      : `expected host:port (for example "0.0.0.0:8093")`;
    throw new TypeError(`Invalid [session_server] ${key} "${value}": ${why}`);
  }
  return split;
}

function trySplit(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]*)\]|([^:\[\]\s/]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2] ?? "", port };
}
