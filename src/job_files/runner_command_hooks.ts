/**
 * The file stages (restore_cache, download_artifacts, archive_cache,
 * upload_artifacts) done the way the official runner does them for the
 * custom executor: the stage's script, run where the job runs, calls the
 * runner binary's helper commands (`cache-extractor`, `artifacts-downloader`,
 * `cache-archiver`, `artifacts-uploader`) with the official flags, guarded by
 * `<runner> --version` so a missing binary only warns. The decisions that
 * need no files (keys, policies, `when`) are taken here, with the same
 * messages as the in-process stages.
 */
import { artifactsForStage } from "../artifacts/upload_artifacts.ts";
import { dependenciesWithArtifacts } from "../artifacts/download_artifacts.ts";
import { expandValue, lookupVariable } from "../build/job_variables.ts";
import type { BuildStageHook, BuildStageHooks, StageContext } from "../build/stage_hooks.ts";
import { isProtectedKey, resolveCacheKey } from "../cache/cache_key.ts";
import { parseCachePolicy } from "../cache/cache_policy.ts";
import { cachesForStage } from "../cache/save_cache.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { JobCache } from "../job/job_spec.ts";
import { quoteShell } from "../shells/shell_quote.ts";
import { formatGoDuration } from "../config/go_duration.ts";
import type { RunnerArtifactConfig } from "../config/runner_config.ts";

export interface RunnerCommandHooksOptions {
  /** argv prefix that starts this runner where the job runs (the binary, or deno + main.ts). */
  runnerCommand: readonly string[];
  /** The runner entry's GitLab URL (`--url`). */
  url: string;
  /** `[runners.artifact]`: `artifacts-uploader --timeout` and `--response-header-timeout`. */
  artifact: RunnerArtifactConfig;
}

export function createRunnerCommandHooks(options: RunnerCommandHooksOptions): BuildStageHooks {
  const runner = options.runnerCommand.map(quoteShell).join(" ");
  const command = (...args: string[]) => `${runner} ${args.map(quoteShell).join(" ")}`;
  const echo = (text: string) => `echo ${quoteShell(text)}`;
  /** `<runner> --version` guard, as the official guardRunnerCommand. */
  const guarded = (action: string, body: string[]): string[] => [
    `if ${runner} --version >/dev/null 2>&1; then`,
    ...body,
    "else",
    echo(`WARNING: Missing ${options.runnerCommand.join(" ")}. ${action} is disabled.`),
    "fi",
  ];
  const archiveFile = (ctx: StageContext, key: string) =>
    `${ctx.cacheDir.replace(/\/+$/, "")}/${ctx.projectPath}/${key}/cache.zip`;
  const fail = async (ctx: StageContext, lines: string[], what: string) => {
    const code = await ctx.runScript(lines);
    if (code !== 0) {
      throw new JobFailedError("script_failure", `${what} failed: exit code ${code}`, {
        exitCode: code,
      });
    }
  };

  const restore: BuildStageHook = {
    isNeeded: (ctx) => ctx.job.cache.some((c) => c.paths.length > 0 || c.untracked),
    run: async (ctx) => {
      const lines: string[] = [];
      for (const cache of ctx.job.cache) {
        if (cache.paths.length === 0 && !cache.untracked) continue;
        const keys = restoreKeys(ctx, cache, lines);
        if (keys.length === 0) continue;
        const attempt = (i: number): string[] => {
          const key = keys[i] as string;
          return [
            echo(`Checking cache for ${key}...`),
            `if ${
              command(
                "cache-extractor",
                "--file",
                archiveFile(ctx, key),
              )
            }; then`,
            echo("Successfully extracted cache"),
            "else",
            echo("WARNING: Failed to extract cache"),
            ...(i + 1 < keys.length ? attempt(i + 1) : []),
            "fi",
          ];
        };
        lines.push(...guarded("Extracting cache", attempt(0)));
      }
      await ctx.runScript(lines);
    },
  };

  const download: BuildStageHook = {
    isNeeded: (ctx) => dependenciesWithArtifacts(ctx.job.dependencies).length > 0,
    run: (ctx) => {
      const body = dependenciesWithArtifacts(ctx.job.dependencies).flatMap((dep) => [
        echo(`Downloading artifacts for ${dep.name} (${dep.id})...`),
        `${
          command(
            "artifacts-downloader",
            "--url",
            options.url,
            "--token",
            dep.token,
            "--id",
            String(dep.id),
          )
        } || exit $?`,
      ]);
      return fail(ctx, guarded("Artifacts downloading", body), "Downloading artifacts");
    },
  };

  const archive = (jobSucceeded: boolean): BuildStageHook => ({
    isNeeded: (ctx) => cachesForStage(ctx.job.cache, jobSucceeded).length > 0,
    run: async (ctx) => {
      const lines: string[] = [];
      for (const cache of cachesForStage(ctx.job.cache, jobSucceeded)) {
        const key = resolveCacheKey(
          cache.key,
          keyContext(ctx),
          (m) => lines.push(echo(`WARNING: ${m}`)),
        );
        if (key === null) continue;
        if (!policy(ctx, cache, key).push) {
          lines.push(echo(`Not uploading cache ${key} due to policy`));
          continue;
        }
        const args = [
          "cache-archiver",
          "--file",
          archiveFile(ctx, key),
          // Unexpanded, as the official runner passes them: the helper expands
          // them from the variables this script exports (expanding here too
          // would expand a value's own "$" a second time).
          ...cache.paths.flatMap((p) => ["--path", p]),
          ...(cache.untracked ? ["--untracked"] : []),
        ];
        lines.push(
          ...guarded("Creating cache", [
            echo(`Creating cache ${key}...`),
            `if ${command(...args)}; then`,
            echo("Created cache"),
            "else",
            echo("WARNING: Failed to create cache"),
            "fi",
          ]),
        );
      }
      await ctx.runScript(lines);
    },
  });

  const upload = (jobSucceeded: boolean): BuildStageHook => ({
    isNeeded: (ctx) => artifactsForStage(ctx.job.artifacts, jobSucceeded).length > 0,
    run: (ctx) => {
      const body = artifactsForStage(ctx.job.artifacts, jobSucceeded).flatMap((a) => {
        const args = [
          "artifacts-uploader",
          "--url",
          options.url,
          "--token",
          ctx.job.token,
          "--id",
          String(ctx.job.id),
          "--timeout",
          goDuration(options.artifact.uploadTimeout),
          "--response-header-timeout",
          goDuration(options.artifact.responseHeaderTimeout),
          // Unexpanded, as for cache-archiver above.
          ...a.paths.flatMap((p) => ["--path", p]),
          ...a.exclude.flatMap((p) => ["--exclude", p]),
          ...(a.untracked ? ["--untracked"] : []),
          ...(a.name ? ["--name", a.name] : []),
          ...(a.expireIn ? ["--expire-in", a.expireIn] : []),
          ...(a.artifactFormat ? ["--artifact-format", a.artifactFormat] : []),
          ...(a.artifactType ? ["--artifact-type", a.artifactType] : []),
        ];
        return [`${command(...args)} || exit $?`];
      });
      return fail(ctx, guarded("Uploading artifacts", body), "Uploading artifacts");
    },
  });

  return {
    "restore_cache": restore,
    "download_artifacts": download,
    "archive_cache": archive(true),
    "archive_cache_on_failure": archive(false),
    "upload_artifacts_on_success": upload(true),
    "upload_artifacts_on_failure": upload(false),
  };
}

function expander(ctx: StageContext): (value: string) => string {
  return (value) => expandValue(value, (k) => lookupVariable(ctx.variables, k));
}

function keyContext(ctx: StageContext) {
  return { jobName: ctx.job.jobInfo.name, gitRef: ctx.job.gitInfo.ref, expand: expander(ctx) };
}

function policy(ctx: StageContext, cache: JobCache, key: string) {
  try {
    return parseCachePolicy(expander(ctx)(cache.policy));
  } catch (err) {
    throw new JobFailedError("script_failure", `${(err as Error).message} for ${key}`, {
      exitCode: 1,
    });
  }
}

/** The key and its fallbacks in the order restore tries them; [] when nothing is pulled. */
function restoreKeys(ctx: StageContext, cache: JobCache, lines: string[]): string[] {
  const warn = (m: string) => lines.push(`echo ${quoteShell(`WARNING: ${m}`)}`);
  const kc = keyContext(ctx);
  const key = resolveCacheKey(cache.key, kc, warn);
  if (key === null) return [];
  if (!policy(ctx, cache, key).pull) {
    lines.push(`echo ${quoteShell(`Not downloading cache ${key} due to policy`)}`);
    return [];
  }
  const keys = [key];
  const add = (raw: string) => {
    const k = resolveCacheKey(raw, kc, warn);
    if (k !== null && !keys.includes(k)) keys.push(k);
  };
  for (const raw of cache.fallbackKeys) add(raw);
  const fallback = lookupVariable(ctx.variables, "CACHE_FALLBACK_KEY") ?? "";
  if (fallback !== "") {
    if (isProtectedKey(fallback)) {
      warn(
        `CACHE_FALLBACK_KEY ${
          JSON.stringify(fallback)
        } is ignored: the "-protected" suffix is reserved for protected refs`,
      );
    } else add(fallback);
  }
  return keys;
}

/** A deadline for the helper's flags: "0s" (none) for 0 or less, as the config means. */
function goDuration(seconds: number): string {
  return formatGoDuration(Math.max(0, seconds));
}
