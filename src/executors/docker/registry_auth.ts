/**
 * Registry credentials for a pull, chosen like the official runner: the job's
 * DOCKER_AUTH_CONFIG variable first, then the runner's own DOCKER_AUTH_CONFIG
 * (handed in by the runner process, which may read its environment and home
 * directory), then the `credentials` of the job payload.
 *
 * Credential helpers (`credHelpers`, `credsStore`) run through the
 * CredentialHelper seam (credential_helper.ts).
 */
import type { JobCredential } from "../../job/job_spec.ts";
import { type CredentialHelper, isValidHelperName } from "./credential_helper.ts";

export interface RegistryAuth {
  username: string;
  password: string;
  /** Set instead of a password when a credential helper answers with an identity token. */
  identitytoken?: string;
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

type Candidate =
  | { key: string; rank: 0; entry: Record<string, unknown> }
  | { key: string; rank: 1 | 2; helper: string; serverUrl: string };

/**
 * Finds the most specific entry for the image (host, or host plus a
 * namespace prefix) among `auths`, the servers of `credsStore` (its `list`)
 * and `credHelpers`; for the same key a helper beats the store, which beats
 * `auths`, as in the official runner. Helpers run only for the winning entry.
 * Problems (bad JSON, a failing helper) go to `problems`; without `helpers`
 * (no process may run) helper entries are reported and skipped.
 */
export async function authFromDockerConfig(
  json: string,
  image: string,
  source: string,
  problems: AuthConfigProblem[],
  helpers?: CredentialHelper,
): Promise<ResolvedAuth | null> {
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
  const candidates: Candidate[] = [];
  const auths = doc["auths"];
  if (typeof auths === "object" && auths !== null) {
    for (const [rawKey, entry] of Object.entries(auths as Record<string, unknown>)) {
      if (typeof entry !== "object" || entry === null) continue;
      candidates.push({
        key: normalizeAuthKey(rawKey),
        rank: 0,
        entry: entry as Record<string, unknown>,
      });
    }
  }
  const store = typeof doc["credsStore"] === "string" ? doc["credsStore"] : "";
  const credHelpers = typeof doc["credHelpers"] === "object" && doc["credHelpers"] !== null
    ? doc["credHelpers"] as Record<string, unknown>
    : {};
  if ((store !== "" || Object.keys(credHelpers).length > 0) && !helpers) {
    problems.push({
      source,
      message: 'uses credential helpers, which cannot run here: only "auths" entries are used',
    });
  }
  const failed = (err: unknown) => {
    problems.push({
      source,
      message: `could not be used: ${(err as Error).message}`,
    });
    return null;
  };
  for (const name of [store, ...Object.values(credHelpers)]) {
    if (typeof name === "string" && name !== "" && !isValidHelperName(name)) {
      return failed(new Error(`credential helper "${name}" is not a plain program name`));
    }
  }
  if (helpers) {
    for (const [rawKey, helper] of Object.entries(credHelpers)) {
      if (typeof helper !== "string" || helper === "") continue;
      candidates.push({ key: normalizeAuthKey(rawKey), rank: 2, helper, serverUrl: rawKey });
    }
    if (store !== "") {
      try {
        for (const serverUrl of await helpers.list(store)) {
          candidates.push({ key: normalizeAuthKey(serverUrl), rank: 1, helper: store, serverUrl });
        }
      } catch (err) {
        return failed(err);
      }
    }
  }
  const repo = repositoryPath(image);
  let best: Candidate | null = null;
  for (const c of candidates) {
    if (repo !== c.key && !repo.startsWith(`${c.key}/`)) continue;
    if (!best || c.key.length > best.key.length || (c.key === best.key && c.rank > best.rank)) {
      best = c;
    }
  }
  if (!best) return null;
  if (best.rank !== 0) {
    if (!helpers) return null;
    try {
      const answer = await helpers.get(best.helper, best.serverUrl);
      // The credential protocol's marker for an identity token instead of a password.
      if (answer.username === "<token>") {
        return {
          auth: {
            username: "",
            password: "",
            identitytoken: answer.secret,
            serveraddress: registryOf(image),
          },
          source: `${source} (docker-credential-${best.helper})`,
        };
      }
      return {
        auth: {
          username: answer.username,
          password: answer.secret,
          serveraddress: registryOf(image),
        },
        source: `${source} (docker-credential-${best.helper})`,
      };
    } catch (err) {
      return failed(err);
    }
  }
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

/**
 * The first source with an entry for the image wins: the job's
 * DOCKER_AUTH_CONFIG, the runner's (env, else its ~/.docker/config.json),
 * then the job payload's registry credentials.
 */
export async function resolveRegistryAuth(
  image: string,
  sources: {
    jobDockerAuthConfig: string;
    runnerDockerAuthConfig: string;
    credentials: readonly JobCredential[];
  },
  problems: AuthConfigProblem[] = [],
  helpers?: CredentialHelper,
): Promise<ResolvedAuth | null> {
  const fromJob = await authFromDockerConfig(
    sources.jobDockerAuthConfig,
    image,
    "$DOCKER_AUTH_CONFIG",
    problems,
    helpers,
  );
  if (fromJob) return fromJob;
  const fromRunner = await authFromDockerConfig(
    sources.runnerDockerAuthConfig,
    image,
    "the runner's DOCKER_AUTH_CONFIG",
    problems,
    helpers,
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
