/**
 * How Runner reaches the Docker Engine API: dockerode's objects over the local unix
 * socket, or over tcp (optionally TLS) when `[runners.docker] host` or
 * DOCKER_HOST names one. Never the docker CLI.
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import { Agent as HttpsAgent } from "node:https";
import { join } from "node:path";
import { type DockerApi, dockerClient } from "./docker_client.ts";
import { dockerEndpoint, type DockerEndpointConfig } from "../../config/docker_endpoint.ts";

/** Reads certificate files; injectable so tests need no files. */
export type ReadTextFile = (path: string) => Promise<string>;

/** A Docker Engine client for the endpoint; reads TLS files when the endpoint uses TLS. */
export async function connectDocker(
  config: DockerEndpointConfig,
  options: {
    env?: (name: string) => string | undefined;
    readTextFile?: ReadTextFile;
  } = {},
): Promise<DockerApi> {
  const endpoint = dockerEndpoint(config, options.env);
  if (endpoint.kind === "socket") return dockerClient({ socketPath: endpoint.socketPath });
  if (endpoint.tlsCertPath === "" && !endpoint.tlsVerify) {
    return dockerClient({ protocol: "http", host: endpoint.host, port: endpoint.port });
  }
  const read = options.readTextFile ?? ((p: string) => Deno.readTextFile(p));
  const file = async (name: string): Promise<string | undefined> => {
    if (endpoint.tlsCertPath === "") return undefined;
    const path = join(endpoint.tlsCertPath, name);
    try {
      return await read(path);
    } catch (cause) {
      throw new Error(`Cannot read docker TLS file "${path}"`, { cause });
    }
  };
  const [ca, cert, key] = await Promise.all([file("ca.pem"), file("cert.pem"), file("key.pem")]);
  const tls: Record<string, string> = {};
  if (ca !== undefined) tls["ca"] = ca;
  if (cert !== undefined) tls["cert"] = cert;
  if (key !== undefined) tls["key"] = key;
  const https = {
    protocol: "https" as const,
    host: endpoint.host,
    port: endpoint.port,
    ...tls,
    // Without tls_verify the docker client still talks TLS (with the client
    // certificate) but does not check the daemon's certificate. docker-modem
    // accepts `agent`; @types/dockerode does not list it.
    agent: new HttpsAgent({ ...tls, rejectUnauthorized: endpoint.tlsVerify }),
  };
  return dockerClient(https as Docker.DockerOptions);
}
