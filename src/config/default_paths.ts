/** Where config.toml lives when -c/--config is not given. */
import { join } from "../path/host_path.ts";

export interface DefaultConfigPathOptions {
  /** `Deno.build.os`. */
  os: string;
  /** `Deno.uid()`; null where unknown (Windows). */
  uid: number | null;
  /** The user's home directory (HOME / USERPROFILE); null or "" when unset. */
  home: string | null;
  /** The working directory, used on Windows and when there is no home. */
  cwd: string;
}

/**
 * Root on Unix: /etc/gitlab-runner/config.toml; other users:
 * ~/.gitlab-runner/config.toml; Windows: config.toml in the working directory.
 */
export function defaultConfigPath(options: DefaultConfigPathOptions): string {
  if (options.os === "windows") return join(options.cwd, "config.toml");
  if (options.uid === 0) return "/etc/gitlab-runner/config.toml";
  if (options.home === null || options.home === "") return join(options.cwd, "config.toml");
  return join(options.home, ".gitlab-runner", "config.toml");
}
