/**
 * The BuildStageHooks that move a job's files (spec §8.2 stages 4, 5, 8, 9):
 * restore_cache, download_artifacts, archive_cache(_on_failure) and
 * upload_artifacts_on_success/_on_failure, running the artifacts/ and cache/
 * modules over whatever `JobFiles` the executor provides. A stage with
 * nothing to do is not needed (no section in the job log).
 */
import type { JobLogSink } from "../archive/log_sink.ts";
import { parseCompressionLevel } from "../archive/compression_level.ts";
import { fastzipThreads, type ThreadsVariable } from "../archive/archiver_concurrency.ts";
import type { ExtractOptions } from "../archive/zip_extractor.ts";
import type { ArtifactDownloader } from "../artifacts/artifact_downloader.ts";
import type { ArtifactUploader } from "../artifacts/artifact_uploader.ts";
import { dependenciesWithArtifacts, downloadArtifacts } from "../artifacts/download_artifacts.ts";
import { realSleep, type Sleep } from "../artifacts/stage_retry.ts";
import { artifactsForStage, uploadArtifacts } from "../artifacts/upload_artifacts.ts";
import { restoreCache } from "../cache/restore_cache.ts";
import { cachesForStage, saveCache } from "../cache/save_cache.ts";
import { resolveFeatureFlags } from "../build/feature_flags.ts";
import { expandValue, lookupVariable } from "../build/job_variables.ts";
import { variableValue } from "../job/job_spec.ts";
import type { BuildStageHook, BuildStageHooks, StageContext } from "../build/stage_hooks.ts";
import type { CacheStore } from "../cache/cache_store.ts";
import { transferMeterInterval, type TransferProgress } from "../cache/transfer_meter.ts";
import { GITLAB_ENV_FILE, joinPath } from "../shells/script_writer.ts";
import type { JobFiles } from "./job_files.ts";

export interface JobFileHooksOptions {
  /** Where the job's files are; called when a stage runs (after prepare). */
  files: (context: StageContext) => JobFiles;
  /** GitLab's artifact endpoints with the job token (JobArtifactTransfer). */
  artifacts: ArtifactUploader & ArtifactDownloader;
  /** `[runners] feature_flags`, for FF_USE_DIRECT_DOWNLOAD and FF_USE_FASTZIP. */
  featureFlags: Readonly<Record<string, boolean>>;
  extract?: Omit<ExtractOptions, "signal">;
  sleep?: Sleep;
  /**
   * The distributed cache (`[runners.cache] Type`) in front of the local
   * cache store; undefined for a local-only cache.
   */
  distributedCache?: (
    local: CacheStore,
    log: JobLogSink,
    signal: AbortSignal,
    progress: TransferProgress | null,
    /** The job's `CACHE_REQUEST_TIMEOUT`, in ms. */
    requestTimeoutMs: number,
  ) => CacheStore;
}

export function createJobFileHooks(options: JobFileHooksOptions): BuildStageHooks {
  const sleep = options.sleep ?? realSleep;
  const restore: BuildStageHook = {
    isNeeded: (ctx) => ctx.job.cache.some((c) => c.paths.length > 0 || c.untracked),
    run: async (ctx) => {
      const files = options.files(ctx);
      const threads = fastzip(ctx, options, "FASTZIP_EXTRACTOR_CONCURRENCY", sinkOf(ctx));
      const session = await files.openTarget(ctx.projectDir, ctx.signal);
      try {
        await restoreCache({
          ...keyContext(ctx),
          caches: ctx.job.cache,
          fallbackKey: setting(ctx, "CACHE_FALLBACK_KEY") ?? "",
          store: cacheStore(ctx, options, files),
          target: session.target,
          extract: { ...options.extract, threads },
          log: sinkOf(ctx),
          signal: ctx.signal,
        });
        await session.commit(ctx.signal);
      } finally {
        await session.discard();
      }
    },
  };

  const download: BuildStageHook = {
    isNeeded: (ctx) => dependenciesWithArtifacts(ctx.job.dependencies).length > 0,
    run: async (ctx) => {
      const files = options.files(ctx);
      const flags = resolveFeatureFlags(options.featureFlags, (k) => variable(ctx, k));
      const threads = fastzip(ctx, options, "FASTZIP_EXTRACTOR_CONCURRENCY", sinkOf(ctx));
      const session = await files.openTarget(ctx.projectDir, ctx.signal);
      try {
        await downloadArtifacts({
          dependencies: ctx.job.dependencies,
          downloader: options.artifacts,
          target: session.target,
          scratch: files.scratch,
          directDownload: flags["FF_USE_DIRECT_DOWNLOAD"] ?? true,
          // runBuild repeats the whole stage per ARTIFACT_DOWNLOAD_ATTEMPTS.
          attempts: 1,
          extract: { ...options.extract, threads },
          log: sinkOf(ctx),
          sleep,
          signal: ctx.signal,
          progress: transferProgress(ctx),
        });
        await session.commit(ctx.signal);
      } finally {
        await session.discard();
      }
    },
  };

  const archive = (jobSucceeded: boolean): BuildStageHook => ({
    isNeeded: (ctx) => cachesForStage(ctx.job.cache, jobSucceeded).length > 0,
    run: (ctx) =>
      withProjectFiles(ctx, options, async ({ source, git, log }) => {
        const paths = cachesForStage(ctx.job.cache, jobSucceeded).flatMap((c) => c.paths);
        await saveCache({
          ...keyContext(ctx),
          expandPath: await stageExpander(ctx, options.files(ctx), paths),
          caches: ctx.job.cache,
          jobSucceeded,
          store: cacheStore(ctx, options, options.files(ctx)),
          source,
          projectDir: ctx.projectDir,
          ...(git ? { git } : {}),
          compressionLevel: compressionLevel(ctx, "CACHE_COMPRESSION_LEVEL", log),
          concurrency: fastzip(ctx, options, "FASTZIP_ARCHIVER_CONCURRENCY", log),
          log,
          signal: ctx.signal,
        });
      }),
  });

  const upload = (jobSucceeded: boolean): BuildStageHook => ({
    isNeeded: (ctx) => artifactsForStage(ctx.job.artifacts, jobSucceeded).length > 0,
    run: (ctx) =>
      withProjectFiles(ctx, options, async ({ source, git, log }) => {
        await uploadArtifacts({
          jobId: ctx.job.id,
          jobToken: ctx.job.token,
          artifacts: await expandedArtifacts(ctx, options.files(ctx)),
          jobSucceeded,
          source,
          projectDir: ctx.projectDir,
          ...(git ? { git } : {}),
          uploader: options.artifacts,
          compressionLevel: compressionLevel(ctx, "ARTIFACT_COMPRESSION_LEVEL", log),
          concurrency: fastzip(ctx, options, "FASTZIP_ARCHIVER_CONCURRENCY", log),
          log,
          sleep,
          signal: ctx.signal,
          progress: transferProgress(ctx),
        });
      }),
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

type ProjectFiles = {
  source: Awaited<ReturnType<JobFiles["openSource"]>>["source"];
  git: ReturnType<JobFiles["commandRunner"]>;
  log: JobLogSink;
};

/** Reads the project's files for an archive or upload stage, closing the session after. */
async function withProjectFiles(
  ctx: StageContext,
  options: JobFileHooksOptions,
  use: (files: ProjectFiles) => Promise<void>,
): Promise<void> {
  const files = options.files(ctx);
  const session = await files.openSource(ctx.projectDir, ctx.signal);
  try {
    await use({
      source: session.source,
      git: files.commandRunner(ctx.projectDir, ctx.runScript),
      log: sinkOf(ctx),
    });
  } finally {
    await session.close();
  }
}

/** FF_USE_FASTZIP's threads for a stage's archives (see archiver_concurrency.ts). */
function fastzip(
  ctx: StageContext,
  options: JobFileHooksOptions,
  threadsVariable: ThreadsVariable,
  log: JobLogSink,
): number {
  const lookup = (key: string) => lookupVariable(ctx.variables, key);
  const flags = resolveFeatureFlags(options.featureFlags, lookup);
  return fastzipThreads(
    threadsVariable,
    flags["FF_USE_FASTZIP"] ?? false,
    lookup,
    navigator.hardwareConcurrency,
    (m) => log(`WARNING: ${m}`),
  );
}

function compressionLevel(ctx: StageContext, key: string, log: JobLogSink) {
  return parseCompressionLevel(variable(ctx, key), (m) => log(`WARNING: ${key}: ${m}`));
}

/**
 * The official runner's artifacts-uploader expands `artifacts:name`, `paths`
 * and `exclude` with the job's variables (its environment), so `$NAME`,
 * `${NAME}` and `$CI_PROJECT_DIR/...` work there; so do they here. Its
 * environment also holds what the job's scripts wrote to GITLAB_ENV (the
 * stage script reads that file first), which wins over the job's variables.
 */
async function expandedArtifacts(ctx: StageContext, files: JobFiles) {
  const expand = await stageExpander(
    ctx,
    files,
    ctx.job.artifacts.flatMap((a) => [a.name, ...a.paths, ...a.exclude]),
  );
  return ctx.job.artifacts.map((a) => ({
    ...a,
    name: expand(a.name),
    paths: a.paths.map(expand),
    exclude: a.exclude.map(expand),
  }));
}

/**
 * Expansion as in a stage script's environment: the job's variables, then
 * what its scripts wrote to GITLAB_ENV over them. The file is read only when
 * one of `values` (those the stage will expand) holds a `$`.
 */
async function stageExpander(
  ctx: StageContext,
  files: JobFiles,
  values: readonly string[],
): Promise<(value: string) => string> {
  const written = values.some((v) => v.includes("$"))
    ? await gitlabEnv(ctx, files)
    : new Map<string, string>();
  return (value) => expandValue(value, (k) => written.get(k) ?? variable(ctx, k));
}

/**
 * The `KEY=VALUE` lines of the job's GITLAB_ENV file, read where the job runs,
 * as the stage script's `while read -r line; do export "$line"` takes them:
 * without surrounding blanks, the last of a key wins, a line that is no
 * assignment is left out. An absent file is an empty one.
 */
async function gitlabEnv(ctx: StageContext, files: JobFiles): Promise<Map<string, string>> {
  const written = new Map<string, string>();
  const bytes = await files.readFile(joinPath(ctx.tmpDir, GITLAB_ENV_FILE));
  const lines = new TextDecoder().decode(bytes).split("\n");
  // `read` ends at a last line without its newline, leaving it unexported.
  lines.pop();
  for (const raw of lines) {
    const line = raw.replace(/^[ \t]+|[ \t]+$/g, "");
    const eq = line.indexOf("=");
    if (eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(line.slice(0, eq))) {
      written.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return written;
}

function variable(ctx: StageContext, key: string): string | undefined {
  return lookupVariable(ctx.variables, key);
}

/**
 * A variable the official runner reads as a build setting (`Variables.Value`):
 * a file variable's content, where the helpers' environment (`variable`) has
 * its path.
 */
function setting(ctx: StageContext, key: string): string | undefined {
  return variableValue(ctx, key);
}

function keyContext(ctx: StageContext) {
  return {
    jobName: ctx.job.jobInfo.name,
    gitRef: ctx.job.gitInfo.ref,
    expand: (value: string) => expandValue(value, (k) => variable(ctx, k)),
  };
}

function cacheStore(ctx: StageContext, options: JobFileHooksOptions, files: JobFiles): CacheStore {
  const local = files.cacheStore(cacheRoot(ctx));
  return options.distributedCache
    ? options.distributedCache(
      local,
      sinkOf(ctx),
      ctx.signal,
      transferProgress(ctx),
      cacheRequestTimeoutMs(ctx),
    )
    : local;
}

/** The official helpers' `DefaultCacheRequestTimeout`. */
const DEFAULT_CACHE_REQUEST_MINUTES = 10;

/**
 * `CACHE_REQUEST_TIMEOUT`: minutes one cache request may take, 10 unless set
 * to a number above 0, as the official helpers' `--timeout` (whose client
 * takes 0 or less as its default: there is no "no limit").
 */
function cacheRequestTimeoutMs(ctx: StageContext): number {
  const value = setting(ctx, "CACHE_REQUEST_TIMEOUT") ?? "";
  if (value === "") return DEFAULT_CACHE_REQUEST_MINUTES * 60_000;
  if (!/^[+-]?\d{1,9}$/.test(value) || Number(value) <= 0) {
    sinkOf(ctx)(
      `WARNING: CACHE_REQUEST_TIMEOUT ${
        JSON.stringify(value)
      } is not a number of minutes above 0; using 10 minutes`,
    );
    return DEFAULT_CACHE_REQUEST_MINUTES * 60_000;
  }
  return Number(value) * 60_000;
}

/**
 * The official helpers' transfer meter, for the distributed cache and for
 * artifacts: on when the job sets `TRANSFER_METER_FREQUENCY` to a Go duration
 * above 0 (at least every second).
 */
function transferProgress(ctx: StageContext): TransferProgress | null {
  let intervalMs: number | null;
  try {
    intervalMs = transferMeterInterval(variable(ctx, "TRANSFER_METER_FREQUENCY"));
  } catch (err) {
    sinkOf(ctx)(`WARNING: TRANSFER_METER_FREQUENCY: ${(err as Error).message}; no transfer meter`);
    return null;
  }
  if (intervalMs === null) return null;
  return { write: (text) => ctx.log.raw(text), intervalMs };
}

/** `<cache_dir>/<project path>` (§10.2). */
function cacheRoot(ctx: StageContext): string {
  return `${ctx.cacheDir.replace(/\/+$/, "")}/${ctx.projectPath}`;
}

/** The archive modules' lines, coloured as the official runner colours them. */
function sinkOf(ctx: StageContext): JobLogSink {
  return (line) => {
    if (line.startsWith("WARNING: ")) ctx.log.warning(line.slice("WARNING: ".length));
    else if (line.startsWith("ERROR: ")) ctx.log.error(line.slice("ERROR: ".length));
    else ctx.log.println(line);
  };
}
