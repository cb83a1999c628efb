/**
 * What the container adapters need from a container's file system: the
 * Engine archive API as DockerExecutor.files() exposes it
 * (executors/docker/container_files.ts). Declared here so this folder does not
 * import the docker executor (STYLE: consumers declare their seams).
 */
export interface ContainerTarAccess {
  /** A tar of `path`; entry names start with its base name. Rejects with Deno.errors.NotFound when absent. */
  getTar(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Extracts `tar` into the existing directory `dir`. */
  putTar(dir: string, tar: ReadableStream<Uint8Array> | Uint8Array): Promise<void>;
  /** lstat of `path` (Go FileMode bits in `mode`); null when absent. */
  stat(path: string): Promise<ContainerStat | null>;
}

export interface ContainerStat {
  name: string;
  size: number;
  mode: number;
  /** RFC 3339. */
  mtime: string;
  linkTarget: string;
}

// Go os.FileMode type bits, as the Engine reports them.
const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;

export function isContainerDir(stat: ContainerStat): boolean {
  return Math.floor(stat.mode / GO_MODE_DIR) % 2 === 1;
}

export function isContainerSymlink(stat: ContainerStat): boolean {
  return Math.floor(stat.mode / GO_MODE_SYMLINK) % 2 === 1 || stat.linkTarget !== "";
}

export function isNotFound(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound ||
    (typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ENOENT");
}
