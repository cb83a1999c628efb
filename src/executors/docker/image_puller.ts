/**
 * Makes an image available under its pull policies. Every failure is an
 * image_pull_failure naming the image and each policy's reason.
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import { JobFailedError } from "../../job/failure_reason.ts";
import { daemonMessage, isNotFound } from "./_docker_errors.ts";
import { normalizeImageName, type PullPolicy } from "./image_policy.ts";
import type { ResolvedAuth } from "./registry_auth.ts";

export interface PulledImage {
  /** `sha256:…` */
  id: string;
  name: string;
  /** `"5432/tcp"`-style keys from the image config. */
  exposedPorts: string[];
}

export interface EnsureImageOptions {
  policies: readonly PullPolicy[];
  auth: ResolvedAuth | null;
  /** A line for the job log. */
  say: (line: string) => void;
  signal: AbortSignal;
}

async function inspect(docker: Docker, name: string): Promise<PulledImage | null> {
  try {
    const info = await docker.getImage(name).inspect();
    return {
      id: info.Id,
      name,
      exposedPorts: Object.keys(info.Config?.ExposedPorts ?? {}),
    };
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Pulls and waits for the end of the progress stream; errors arrive inside it. */
async function pull(docker: Docker, name: string, options: EnsureImageOptions): Promise<void> {
  const pullOptions: Record<string, unknown> = { abortSignal: options.signal };
  if (options.auth) pullOptions["authconfig"] = options.auth.auth;
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
  docker: Docker,
  image: string,
  options: EnsureImageOptions,
): Promise<PulledImage> {
  const name = normalizeImageName(image);
  const reasons: string[] = [];
  for (const policy of options.policies) {
    if (options.signal.aborted) break;
    try {
      if (policy !== "always") {
        const local = await inspect(docker, name);
        if (local) {
          options.say(`Using locally found image version due to "${policy}" pull policy`);
          return local;
        }
        if (policy === "never") {
          throw new Error(`image is not present locally and the pull policy is "never"`);
        }
      }
      if (options.auth) options.say(`Authenticating with credentials from ${options.auth.source}`);
      options.say(`Pulling docker image ${name} ...`);
      await pull(docker, name, options);
      const pulled = await inspect(docker, name);
      if (!pulled) throw new Error("the image is missing after its pull");
      options.say(`Using docker image ${pulled.id} for ${name} ...`);
      return pulled;
    } catch (err) {
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
