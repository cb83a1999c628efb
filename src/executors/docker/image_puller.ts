/**
 * Makes an image available under its pull policies. Every failure is an
 * image_pull_failure naming the image and each policy's reason.
 */
import type { DockerApi } from "./docker_client.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { daemonMessage, isDaemonUnreachable, isNotFound } from "./_docker_errors.ts";
import { normalizeImageName, type PullPolicy } from "./image_policy.ts";
import type { ResolvedAuth } from "./registry_auth.ts";

export interface PulledImage {
  /** `sha256:…` */
  id: string;
  name: string;
  /** `"5432/tcp"`-style keys from the image config. */
  exposedPorts: string[];
  /** `linux/amd64`, `linux/arm/v7`: what the image was built for. */
  platform: string;
  /** The image's `USER` ("" = root). */
  user: string;
  /** The image's `ENTRYPOINT` ([] = none). */
  entrypoint: string[];
  /** The image's `ENV` as KEY=value. */
  env: string[];
}

export interface EnsureImageOptions {
  policies: readonly PullPolicy[];
  /**
   * The registry credentials, asked for only before a pull, at most once: as
   * in the official runner, an image used from the host runs no credential
   * helper and reads no auth config. Absent: pulls are anonymous.
   */
  auth?: () => Promise<ResolvedAuth | null>;
  /** A line for the job log. */
  say: (line: string) => void;
  signal: AbortSignal;
  /** `image:docker:platform` ("" = the daemon's own): passed to the pull, checked on local images. */
  platform?: string;
}

const ARCH_ALIASES: Record<string, string> = {
  "x86_64": "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
};
const OS_NAMES = ["linux", "windows", "darwin", "freebsd"];

/** `os[/arch[/variant]]` or a bare architecture, normalized like containerd's platforms.Parse. */
export function normalizePlatform(platform: string): string {
  const parts = platform.trim().toLowerCase().split("/").filter((p) => p !== "");
  if (parts.length === 0) return "";
  if (!OS_NAMES.includes(parts[0] ?? "")) parts.unshift("linux");
  const [os = "", arch = "", variant = ""] = parts;
  const a = ARCH_ALIASES[arch] ?? arch;
  // arm64's only variant is v8, which docker leaves out.
  const v = a === "arm64" && variant === "v8" ? "" : variant;
  return [os, a, v].filter((p) => p !== "").join("/");
}

/** Whether an image built for `actual` serves a request for `wanted` ("" = any). */
function isPlatformMatch(wanted: string, actual: string): boolean {
  if (wanted === "") return true;
  const w = normalizePlatform(wanted).split("/");
  const a = normalizePlatform(actual).split("/");
  // A request without variant accepts any variant; one without arch any arch.
  return w.every((part, i) => part === a[i]);
}

async function inspect(docker: DockerApi, name: string): Promise<PulledImage | null> {
  try {
    const info = await docker.getImage(name).inspect();
    const variant = (info as { Variant?: string }).Variant ?? "";
    const entrypoint = info.Config?.Entrypoint ?? [];
    return {
      id: info.Id,
      name,
      exposedPorts: Object.keys(info.Config?.ExposedPorts ?? {}),
      platform: normalizePlatform([info.Os, info.Architecture, variant].filter(Boolean).join("/")),
      user: info.Config?.User ?? "",
      entrypoint: typeof entrypoint === "string" ? [entrypoint] : entrypoint,
      env: info.Config?.Env ?? [],
    };
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Pulls and waits for the end of the progress stream; errors arrive inside it. */
async function pull(
  docker: DockerApi,
  name: string,
  options: EnsureImageOptions,
  auth: ResolvedAuth | null,
): Promise<void> {
  const pullOptions: Record<string, unknown> = { abortSignal: options.signal };
  if (options.platform) pullOptions["platform"] = options.platform;
  if (auth) pullOptions["authconfig"] = auth.auth;
  const stream = await docker.pull(name, pullOptions) as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => {
    let buffered = "";
    let failure: string | null = null;
    const onLine = (line: string) => {
      if (line.trim() === "") return;
      try {
        const event = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        if (event.error) failure = event.errorDetail?.message ?? event.error;
      } catch {
        // Progress lines only; a torn line is harmless.
      }
    };
    stream.on("data", (chunk: Uint8Array | string) => {
      buffered += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      lines.forEach(onLine);
    });
    stream.on("end", () => {
      onLine(buffered);
      if (failure) reject(new Error(failure));
      else resolve();
    });
    stream.on("error", reject);
  });
}

/**
 * Tries each policy in order: `always` pulls, `if-not-present` uses a local
 * image or pulls, `never` only uses a local image.
 */
export async function ensureImage(
  docker: DockerApi,
  image: string,
  options: EnsureImageOptions,
): Promise<PulledImage> {
  const name = normalizeImageName(image);
  const reasons: string[] = [];
  let auth: Promise<ResolvedAuth | null> | null = null;
  for (const policy of options.policies) {
    if (options.signal.aborted) break;
    try {
      if (policy !== "always") {
        const local = await inspect(docker, name);
        const wanted = options.platform ?? "";
        if (local && isPlatformMatch(wanted, local.platform)) {
          options.say(`Using locally found image version due to "${policy}" pull policy`);
          return local;
        }
        if (policy === "never") {
          throw new Error(
            local
              ? `image is present locally for ${local.platform}, not for platform ` +
                `${normalizePlatform(wanted)}, and the pull policy is "never"`
              : `image is not present locally and the pull policy is "never"`,
          );
        }
      }
      auth ??= options.auth?.() ?? Promise.resolve(null);
      const credentials = await auth;
      if (credentials) options.say(`Authenticating with credentials from ${credentials.source}`);
      options.say(`Pulling docker image ${name} ...`);
      await pull(docker, name, options, credentials);
      const pulled = await inspect(docker, name);
      if (!pulled) throw new Error("the image is missing after its pull");
      if (!isPlatformMatch(options.platform ?? "", pulled.platform)) {
        throw new Error(
          `the pulled image is for ${pulled.platform}, not for platform ${
            normalizePlatform(options.platform ?? "")
          }`,
        );
      }
      options.say(`Using docker image ${pulled.id} for ${name} ...`);
      return pulled;
    } catch (err) {
      // No daemon to ask: not the image's fault, and the next policy would fail alike.
      if (isDaemonUnreachable(err)) {
        throw new Error(
          `Cannot connect to the Docker daemon to get image "${name}": ${daemonMessage(err)} ` +
            "(is dockerd running, and [runners.docker] host right?)",
          { cause: err },
        );
      }
      const reason = daemonMessage(err);
      reasons.push(`${policy}: ${reason}`);
      options.say(`WARNING: Failed to pull image with policy "${policy}": ${reason}`);
    }
  }
  throw new JobFailedError(
    "image_pull_failure",
    `Cannot get image "${name}" with pull policies [${options.policies.join(" ")}]: ${
      reasons.join("; ") || "canceled"
    }`,
  );
}
