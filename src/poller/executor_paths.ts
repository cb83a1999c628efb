/**
 * Paths an executor process and its permission table (executor_permissions.ts)
 * agree on. A module of their own: the executor process needs only these, and
 * the permission table's imports (the cache endpoints) would be five more
 * modules to load before each fresh executor process can run its first job.
 */
import { join } from "../path/host_path.ts";

/** The runner user's docker config file, as the docker CLI finds it; null without a home. */
export function dockerConfigPath(env: (name: string) => string | undefined): string | null {
  const dir = env("DOCKER_CONFIG") || (env("HOME") ? join(env("HOME") ?? "", ".docker") : "");
  return dir ? join(dir, "config.json") : null;
}

/** The part of the state directory docker executor processes share (owner leases). */
export function executorStateDir(stateDir: string): string {
  return join(stateDir, "docker-executor");
}
