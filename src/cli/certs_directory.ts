/**
 * The official runner's TLS files by convention: without `tls-ca-file`,
 * `tls-cert-file` or `tls-key-file` it takes `<host>.crt`, `<host>.auth.crt`
 * and `<host>.auth.key` (host without port) from the certs directory beside
 * its default config.toml: /etc/gitlab-runner/certs as root,
 * ~/.gitlab-runner/certs otherwise. Runner does not: its poller and executor
 * processes may read only the files config.toml names (docs/security.md). A
 * file the official runner would take is named in a warning with the setting
 * that makes Runner use it, not ignored without a word.
 */
import { dirname, join } from "../path/host_path.ts";
import type { RunnerConfig } from "../config/runner_config.ts";

/** `<dir of the default config.toml>/certs`. */
export function certsDirectory(defaultConfigFile: string): string {
  return join(dirname(defaultConfigFile), "certs");
}

const CONVENTION = [
  { setting: "tls-ca-file", key: "tlsCaFile", suffix: ".crt" },
  { setting: "tls-cert-file", key: "tlsCertFile", suffix: ".auth.crt" },
  { setting: "tls-key-file", key: "tlsKeyFile", suffix: ".auth.key" },
] as const;

/** One warning per file of `certsDir` the official runner would use for an entry and Runner does not. */
export async function certsDirectoryWarnings(
  runners: readonly Pick<
    RunnerConfig,
    "name" | "url" | "tlsCaFile" | "tlsCertFile" | "tlsKeyFile"
  >[],
  certsDir: string,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const [index, runner] of runners.entries()) {
    let url: URL;
    try {
      url = new URL(runner.url);
    } catch {
      continue;
    }
    if (url.protocol !== "https:") continue;
    for (const { setting, key, suffix } of CONVENTION) {
      if (runner[key] !== "") continue;
      const file = join(certsDir, `${url.hostname}${suffix}`);
      if (!await isFile(file)) continue;
      const entry = runner.name ? `runners[${index}] "${runner.name}"` : `runners[${index}]`;
      warnings.push(
        `${entry}: "${file}" is not used: Runner does not look in ${certsDir} as the official runner does; set ${setting} = "${file}" to use it`,
      );
    }
  }
  return warnings;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
