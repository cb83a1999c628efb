/** Where the Docker Engine API is: the pure part of the connection factory. */
import type { DockerConfig } from "./runner_config.ts";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

export type DockerEndpointConfig = Pick<DockerConfig, "host" | "tlsCertPath" | "tlsVerify">;

/** Where to connect, before any certificate file is read. Pure. */
export type DockerEndpoint =
  | { kind: "socket"; socketPath: string }
  | {
    kind: "tcp";
    host: string;
    port: number;
    /** Directory with ca.pem, cert.pem and key.pem; "" for plain http. */
    tlsCertPath: string;
    tlsVerify: boolean;
  };

/**
 * Resolves the endpoint from the config, falling back to the DOCKER_HOST,
 * DOCKER_CERT_PATH and DOCKER_TLS_VERIFY variables like the docker client.
 * Throws a TypeError naming the bad value.
 */
export function dockerEndpoint(
  config: DockerEndpointConfig,
  env: (name: string) => string | undefined = () => undefined,
): DockerEndpoint {
  const host = config.host || env("DOCKER_HOST") || "";
  if (host === "") return { kind: "socket", socketPath: DEFAULT_DOCKER_SOCKET };
  if (host.startsWith("unix://")) {
    return { kind: "socket", socketPath: host.slice("unix://".length) || DEFAULT_DOCKER_SOCKET };
  }
  const tlsCertPath = config.tlsCertPath || env("DOCKER_CERT_PATH") || "";
  const tlsVerify = config.tlsVerify || ["1", "true"].includes(env("DOCKER_TLS_VERIFY") ?? "");
  // As the docker client (ParseHostURL): a scheme is required; "bogus" is no endpoint.
  const source = config.host ? "[runners.docker] host" : "DOCKER_HOST";
  const invalid = (cause?: unknown) =>
    new TypeError(
      `Invalid ${source} "${host}": expected unix:///path or tcp://host:port`,
      cause === undefined ? undefined : { cause },
    );
  let url: URL;
  try {
    url = new URL(host);
  } catch (cause) {
    throw invalid(cause);
  }
  if (url.protocol === "ssh:") {
    // The docker CLI reaches ssh:// through its connection helper (ssh running
    // "docker system dial-stdio" on the host); the Engine API clients, the
    // official runner's included, have no such transport.
    throw new TypeError(
      `Invalid ${source} "${host}": the ssh:// transport of the docker CLI is not supported ` +
        "(expected unix:///path or tcp://host:port; forward the remote daemon's socket over ssh, " +
        "e.g. ssh -nNT -L /run/remote-docker.sock:/var/run/docker.sock user@host, and use " +
        "unix:///run/remote-docker.sock)",
    );
  }
  if (!["tcp:", "http:", "https:"].includes(url.protocol) || url.hostname === "") throw invalid();
  const isTls = tlsVerify || tlsCertPath !== "" || url.protocol === "https:";
  const port = url.port ? Number(url.port) : isTls ? 2376 : 2375;
  return { kind: "tcp", host: url.hostname, port, tlsCertPath, tlsVerify };
}
