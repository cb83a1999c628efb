/**
 * Registry credentials for a pull, chosen like the official runner: the job's
 * DOCKER_AUTH_CONFIG variable first, then the runner's own DOCKER_AUTH_CONFIG
 * (handed in by the runner process, which may read its environment and home
 * directory), then the `credentials` of the job payload. Pure.
 *
 * Credential helpers (`credHelpers`, `credsStore`) need a process spawn, which
 * the executor process may not do: they are reported and skipped.
 */
import type { JobCredential } from "../../job/job_spec.ts";

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

export interface ResolvedAuth {
  auth: RegistryAuth;
  /** For the job log: "$DOCKER_AUTH_CONFIG", "runner DOCKER_AUTH_CONFIG", "job payload". */
  source: string;
}

const DOCKER_HUB = "docker.io";

/** Registry host of an image reference (`docker.io` for Docker Hub names). */
export function registryOf(image: string): string {
  const slash = image.indexOf("/");
  if (slash < 0) return DOCKER_HUB;
  const first = image.slice(0, slash);
  if (first.includes(".") || first.includes(":") || first === "localhost") return first;
  return DOCKER_HUB;
}

/** `https://index.docker.io/v1/` and `registry.example.com/ns` -> host[/path]. */
function normalizeAuthKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
  if (k === "index.docker.io/v1" || k === "index.docker.io" || k === "registry-1.docker.io") {
    k = DOCKER_HUB;
  }
  return k;
}

function repositoryPath(image: string): string {
  const registry = registryOf(image);
  const withoutTag = image.replace(/@.*$/, "").replace(/:[^/]*$/, "");
  if (registry === DOCKER_HUB && !withoutTag.startsWith(`${DOCKER_HUB}/`)) {
    return `${DOCKER_HUB}/${withoutTag.includes("/") ? withoutTag : `library/${withoutTag}`}`;
  }
  return withoutTag;
}

export interface AuthConfigProblem {
  source: string;
  message: string;
}

/**
 * Finds the most specific `auths` entry for the image (host, or host plus a
 * namespace prefix). Problems (bad JSON, helpers) go to `problems`.
 */
export function authFromDockerConfig(
  json: string,
  image: string,
  source: string,
  problems: AuthConfigProblem[],
): ResolvedAuth | null {
  if (json.trim() === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    problems.push({ source, message: `is not valid JSON: ${(err as Error).message}` });
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) {
    problems.push({ source, message: "is not a JSON object" });
    return null;
  }
  const doc = parsed as Record<string, unknown>;
  if (doc["credsStore"] || doc["credHelpers"]) {
    problems.push({
      source,
      message: 'uses credential helpers, which Runner does not run: only "auths" entries are used',
    });
  }
  const auths = doc["auths"];
  if (typeof auths !== "object" || auths === null) return null;
  const repo = repositoryPath(image);
  let best: { key: string; entry: Record<string, unknown> } | null = null;
  for (const [rawKey, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (typeof entry !== "object" || entry === null) continue;
    const key = normalizeAuthKey(rawKey);
    if (repo !== key && !repo.startsWith(`${key}/`)) continue;
    if (!best || key.length > best.key.length) {
      best = { key, entry: entry as Record<string, unknown> };
    }
  }
  if (!best) return null;
  let username = typeof best.entry["username"] === "string" ? best.entry["username"] : "";
  let password = typeof best.entry["password"] === "string" ? best.entry["password"] : "";
  const encoded = best.entry["auth"];
  if (typeof encoded === "string" && encoded !== "") {
    let decoded: string;
    try {
      decoded = atob(encoded);
    } catch {
      problems.push({
        source,
        message: `has an "auth" entry for "${best.key}" that is not base64`,
      });
      return null;
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      problems.push({
        source,
        message: `has an "auth" entry for "${best.key}" without "user:password"`,
      });
      return null;
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  return { auth: { username, password, serveraddress: registryOf(image) }, source };
}

export function resolveRegistryAuth(
  image: string,
  sources: {
    jobDockerAuthConfig: string;
    runnerDockerAuthConfig: string;
    credentials: readonly JobCredential[];
  },
  problems: AuthConfigProblem[] = [],
): ResolvedAuth | null {
  const fromJob = authFromDockerConfig(
    sources.jobDockerAuthConfig,
    image,
    "$DOCKER_AUTH_CONFIG",
    problems,
  );
  if (fromJob) return fromJob;
  const fromRunner = authFromDockerConfig(
    sources.runnerDockerAuthConfig,
    image,
    "the runner's DOCKER_AUTH_CONFIG",
    problems,
  );
  if (fromRunner) return fromRunner;
  const registry = registryOf(image);
  for (const c of sources.credentials) {
    if (c.type !== "registry") continue;
    if (normalizeAuthKey(c.url) !== registry) continue;
    return {
      auth: { username: c.username, password: c.password, serveraddress: registry },
      source: "job payload (GitLab Registry)",
    };
  }
  return null;
}
