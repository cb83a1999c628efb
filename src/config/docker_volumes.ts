/**
 * `[runners.docker] volumes` as the official runner's parser reads them
 * (executors/docker/internal/volumes/parser). The docker executor mounts what
 * this gives and config loading names a spec it refuses, at load and in lint.
 * Pure and without `node:` imports: the poller loads it. Container paths are
 * POSIX whatever the runner's host.
 */
import { normalizePosix } from "../path/host_path.ts";

/** A `volumes` entry the parser refuses: the entry and why. */
export class VolumeSyntaxError extends RangeError {
  override readonly name = "VolumeSyntaxError";
  constructor(readonly value: string, why: string) {
    super(why);
  }
}

export type VolumeSpec =
  /** `host:container[:mode]`: passed to Docker as a bind. */
  | { kind: "bind"; hostPath: string; containerPath: string; bind: string }
  /** `container`: a Runner-managed volume (cache volume, or temporary with disable_cache). */
  | { kind: "managed"; containerPath: string };

/** Characters the official runner's volume parser refuses in a path or volume name. */
const BAD_PATH_CHARS = /[\\:*?"<>|\r\n]/;

/** An absolute path without "//", as the official parser's linuxDir reads one. */
function isVolumePath(text: string): boolean {
  return text.startsWith("/") && !text.includes("//") && !BAD_PATH_CHARS.test(text);
}

/**
 * What may follow the container path, as the official runner's parser reads it
 * (executors/docker/internal/volumes/parser): a mode (ro, rw, O), then an SELinux
 * label (z, Z), then a propagation, the last two after ":" or ",".
 */
const VOLUME_OPTIONS =
  /^(?::(ro|rw|o))?(?:[:,](z))?(?:[:,](shared|slave|private|rshared|rslave|rprivate))?$/i;

/**
 * Docker `-v` syntax from `volumes`, read as the official runner reads it: a
 * spec its parser refuses fails the job naming the key (a configuration error
 * there too), where Docker refused it at create with "invalid mode" and no key.
 * A bind is given to Docker as the official runner rebuilds it
 * (`source:destination:mode,label,propagation`).
 */
export function parseDockerVolume(value: string): VolumeSpec {
  const parts = value.split(":");
  const first = parts[0] ?? "";
  if (parts.length === 1) {
    if (!first.startsWith("/")) {
      throw new VolumeSyntaxError(value, "a container path must be absolute");
    }
    return { kind: "managed", containerPath: normalizePosix(first) };
  }
  const container = parts[1] ?? "";
  const isSourceValid = first.startsWith("/")
    ? isVolumePath(first)
    : first !== "" && !first.includes("/") && !BAD_PATH_CHARS.test(first);
  const options = VOLUME_OPTIONS.exec(parts.length > 2 ? `:${parts.slice(2).join(":")}` : "");
  if (!isSourceValid || !isVolumePath(container) || options === null) {
    throw new VolumeSyntaxError(
      value,
      "expected /container/path or source:/container/path[:mode], the mode one of ro, rw " +
        "or O, then z or Z, then a propagation such as rshared",
    );
  }
  const flags = options.slice(1).filter((o) => o !== undefined);
  return {
    kind: "bind",
    hostPath: first,
    containerPath: normalizePosix(container),
    bind: [first, container, ...(flags.length > 0 ? [flags.join(",")] : [])].join(":"),
  };
}

/**
 * Every `volumes` entry (parseDockerVolume), refusing what the official runner's
 * volume manager refuses before Docker sees it (errDirectoryIsRootPath,
 * ErrVolumeAlreadyDefined): Docker refused both at create, naming no key
 * ("Duplicate mount point: /data", "destination can't be '/'").
 */
export function parseDockerVolumes(values: readonly string[]): VolumeSpec[] {
  const seen = new Set<string>();
  return values.map((value) => {
    const spec = parseDockerVolume(value);
    const target = spec.containerPath.replace(/(?<=.)\/+$/, "");
    if (target === "/") {
      throw new VolumeSyntaxError(value, "the container path is the root directory");
    }
    if (seen.has(target)) {
      throw new VolumeSyntaxError(
        value,
        `a volume for container path "${target}" is already defined`,
      );
    }
    seen.add(target);
    return spec;
  });
}
