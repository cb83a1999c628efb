/**
 * The Docker Engine client of the docker executor: dockerode's own Container,
 * Image, Network and Volume objects over docker-modem, with the few calls on
 * the daemon itself that Runner makes, written as dockerode's lib/docker.js
 * writes them (same paths, options and status codes).
 *
 * Not dockerode's entry module: lib/docker.js loads @grpc/grpc-js and
 * @grpc/proto-loader at its top for BuildKit sessions (image builds, which
 * Runner never does), and a fresh executor process paid that for every first
 * docker job. docker-modem still loads ssh2 (its ssh:// transport, at the top
 * of lib/modem.js); Runner talks to a unix socket or tcp daemon.
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
// @ts-types="@types/docker-modem"
import Modem from "docker-modem";
import Container from "dockerode/lib/container.js";
import Image from "dockerode/lib/image.js";
import Network from "dockerode/lib/network.js";
import Volume from "dockerode/lib/volume.js";
import { parseRepositoryTag } from "dockerode/lib/util.js";

/** What the executor asks of the daemon: the part of dockerode's Docker it uses. */
export type DockerApi = Pick<
  Docker,
  | "createContainer"
  | "createNetwork"
  | "getContainer"
  | "getEvents"
  | "getImage"
  | "getNetwork"
  | "getVolume"
  | "listContainers"
  | "listNetworks"
  | "listVolumes"
  | "modem"
  | "pull"
>;

type Query = Record<string, unknown>;
type StatusCodes = Record<number, boolean | string>;

/** The client for docker-modem options (`socketPath`, or `protocol`, `host`, `port` and TLS). */
export function dockerClient(options: Docker.DockerOptions): DockerApi {
  const modem = new Modem(options);
  // dockerode's objects make their promises with the modem's `Promise`, which
  // dockerode's Docker sets.
  (modem as Modem & { Promise: PromiseConstructor }).Promise = Promise;
  return new DockerClient(modem) as unknown as DockerApi;
}

class DockerClient {
  readonly modem: Modem;

  constructor(modem: Modem) {
    this.modem = modem;
  }

  /**
   * One API call, as dockerode makes it: `authconfig` goes to the
   * X-Registry-Auth header and `abortSignal` to the request, not the query.
   */
  #dial<T>(
    path: string,
    options: Query,
    call: { method: "GET" | "POST"; statusCodes: StatusCodes; isStream?: boolean },
  ): Promise<T> {
    const { authconfig, abortSignal, ...query } = options;
    return new Promise((resolve, reject) => {
      this.modem.dial(
        { ...call, path, options: query, authconfig, abortSignal } as Modem.DialOptions,
        (err, data) => err ? reject(err) : resolve(data as T),
      );
    });
  }

  getContainer(id: string): unknown {
    return new Container(this.modem, id);
  }

  getImage(name: string): unknown {
    return new Image(this.modem, name);
  }

  getNetwork(id: string): unknown {
    return new Network(this.modem, id);
  }

  getVolume(name: string): unknown {
    return new Volume(this.modem, name);
  }

  async createContainer(options: Query): Promise<unknown> {
    const data = await this.#dial<{ Id: string }>("/containers/create?", options, {
      method: "POST",
      statusCodes: {
        200: true,
        201: true,
        400: "bad parameter",
        404: "no such container",
        406: "impossible to attach",
        500: "server error",
      },
    });
    return this.getContainer(data.Id);
  }

  async createNetwork(options: Query): Promise<unknown> {
    const data = await this.#dial<{ Id: string }>("/networks/create?", options, {
      method: "POST",
      statusCodes: { 200: true, 201: true, 404: "driver not found", 500: "server error" },
    });
    return this.getNetwork(data.Id);
  }

  listContainers(options: Query = {}): Promise<unknown> {
    return this.#dial("/containers/json?", options, { method: "GET", statusCodes: LIST_CODES });
  }

  listNetworks(options: Query = {}): Promise<unknown> {
    return this.#dial("/networks?", options, { method: "GET", statusCodes: LIST_CODES });
  }

  listVolumes(options: Query = {}): Promise<unknown> {
    return this.#dial("/volumes?", options, { method: "GET", statusCodes: LIST_CODES });
  }

  getEvents(options: Query = {}): Promise<unknown> {
    return this.#dial("/events?", options, {
      method: "GET",
      isStream: true,
      statusCodes: { 200: true, 500: "server error" },
    });
  }

  /** POST /images/create for `repoTag` (tag `latest` when it names none), as a stream. */
  pull(repoTag: string, options: Query = {}): Promise<unknown> {
    const source = parseRepositoryTag(repoTag) as { repository: string; tag?: string };
    return this.#dial("/images/create?", {
      ...options,
      fromImage: source.repository,
      tag: source.tag || "latest",
    }, { method: "POST", isStream: true, statusCodes: { 200: true, 500: "server error" } });
  }
}

const LIST_CODES: StatusCodes = { 200: true, 400: "bad parameter", 500: "server error" };
