/** `runner --version` and the identity sent to GitLab. */
import denoJson from "../../deno.json" with { type: "json" };
import { BUILD_INFO } from "./build_info.ts";
import type { RunnerVersion } from "../build/job_variables.ts";

export interface VersionInfo {
  name: string;
  version: string;
  revision: string;
  branch: string;
  builtAt: string;
  denoVersion: string;
  /** Go-style names: linux, darwin, windows. */
  os: string;
  /** Go-style names: amd64, arm64. */
  architecture: string;
}

export function goOs(os: typeof Deno.build.os): string {
  return os === "windows" ? "windows" : os === "darwin" ? "darwin" : os;
}

export function goArch(arch: typeof Deno.build.arch): string {
  return arch === "x86_64" ? "amd64" : arch === "aarch64" ? "arm64" : arch;
}

/** From source: the commit checked out, read from .git without spawning git. */
function sourceRevision(): string {
  try {
    const gitDir = new URL("../../.git/", import.meta.url);
    const head = Deno.readTextFileSync(new URL("HEAD", gitDir)).trim();
    if (!head.startsWith("ref: ")) return head;
    return Deno.readTextFileSync(new URL(head.slice(5), gitDir)).trim();
  } catch {
    // Compiled, no checkout, or no read permission (executor processes): unknown.
    return "";
  }
}

export function versionInfo(revision = BUILD_INFO.revision || sourceRevision()): VersionInfo {
  return {
    name: "gitlab-runner",
    version: denoJson.version,
    revision: (revision || "unknown").slice(0, 8),
    branch: BUILD_INFO.branch || "main",
    builtAt: BUILD_INFO.builtAt || "unknown",
    denoVersion: `deno${Deno.version.deno}`,
    os: goOs(Deno.build.os),
    architecture: goArch(Deno.build.arch),
  };
}

/**
 * The runner's identity in an executor process's job: a compiled binary's own,
 * from source the poller's revision (`--revision`; this process cannot read .git).
 */
export function executorVersion(args: readonly string[]): RunnerVersion {
  const revisionAt = args.indexOf("--revision");
  const info = versionInfo(revisionAt >= 0 ? args[revisionAt + 1] || undefined : undefined);
  return {
    name: info.name,
    version: info.version,
    revision: info.revision,
    os: info.os,
    arch: info.architecture,
  };
}

/** The text the official runner prints for `--version`, with Deno in place of Go. */
export function renderVersion(v: VersionInfo): string {
  return [
    `Version:      ${v.version}`,
    `Git revision: ${v.revision}`,
    `Git branch:   ${v.branch}`,
    `Deno version: ${v.denoVersion}`,
    `Built:        ${v.builtAt}`,
    `OS/Arch:      ${v.os}/${v.architecture}`,
  ].join("\n");
}
