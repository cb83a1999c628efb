/**
 * File access to a job's container through the Engine archive API: tar
 * streams out of and into the container file system, volumes included. The
 * container may be running or stopped. This is how artifacts and cache are
 * collected and restored host-side, whatever tools the image lacks.
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import { Readable } from "node:stream";
import { isNotFound } from "./_docker_errors.ts";

export interface ContainerPathStat {
  name: string;
  size: number;
  /** Go `os.FileMode` bits as the Engine reports them (type bits included). */
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** What artifacts and cache code needs from a container; DockerExecutor.files() returns it. */
export interface ContainerFileAccess {
  /**
   * A tar of `path` (a file or a directory, recursively). Entry names start
   * with the base name of `path`, as `docker cp` makes them. Rejects with
   * Deno.errors.NotFound when `path` does not exist.
   */
  getTar(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Extracts `tar` into the existing directory `dir`. */
  putTar(dir: string, tar: ReadableStream<Uint8Array> | Uint8Array): Promise<void>;
  /** Like lstat(2) of `path`; null when it does not exist. */
  stat(path: string): Promise<ContainerPathStat | null>;
}

export class ContainerFiles implements ContainerFileAccess {
  readonly #container: Docker.Container;

  constructor(container: Docker.Container) {
    this.#container = container;
  }

  async getTar(path: string): Promise<ReadableStream<Uint8Array>> {
    try {
      const stream = await this.#container.getArchive({ path }) as unknown as Readable;
      return Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
    } catch (err) {
      if (isNotFound(err)) {
        throw new Deno.errors.NotFound(`No "${path}" in the job container`, { cause: err });
      }
      throw err;
    }
  }

  async putTar(dir: string, tar: ReadableStream<Uint8Array> | Uint8Array): Promise<void> {
    const body = tar instanceof Uint8Array
      ? Readable.from([tar])
      // deno-lint-ignore no-explicit-any -- node/web stream typing mismatch only
      : Readable.fromWeb(tar as any);
    try {
      await this.#container.putArchive(body, { path: dir });
    } catch (err) {
      if (isNotFound(err)) {
        throw new Deno.errors.NotFound(`No directory "${dir}" in the job container`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async stat(path: string): Promise<ContainerPathStat | null> {
    return await statPath(this.#container, path);
  }
}

/** HEAD on the archive endpoint; the stat arrives base64 JSON in a header. */
export async function statPath(
  container: Docker.Container,
  path: string,
): Promise<ContainerPathStat | null> {
  try {
    // dockerode resolves with the raw response of the HEAD request.
    const res = await container.infoArchive({ path }) as unknown as {
      headers?: Record<string, string | string[] | undefined>;
      resume?: () => void;
    };
    res.resume?.();
    const header = res.headers?.["x-docker-container-path-stat"];
    if (typeof header !== "string") {
      return { name: path, size: 0, mode: 0, mtime: "", linkTarget: "" };
    }
    return JSON.parse(atob(header)) as ContainerPathStat;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
