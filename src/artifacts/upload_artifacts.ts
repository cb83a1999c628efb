/**
 * The `upload_artifacts_on_success` / `upload_artifacts_on_failure` stages:
 * for each `artifacts[]` entry whose `when` fits the stage, select files,
 * archive them in the entry's format and upload with the retries of §6.1.
 * No matching files is an `ERROR:` line, not a failure, as in the official
 * runner; a refused upload (413, 403, or retries exhausted) fails the job.
 */
import type { ArchiveSource } from "../archive/archive_source.ts";
import { ArchiveError } from "../archive/archive_error.ts";
import type { ArtifactFormat } from "../archive/archive_format.ts";
import type { CompressionLevel } from "../archive/compression_level.ts";
import type { JobLogSink } from "../archive/log_sink.ts";
import { gzipStream } from "../archive/gzip_writer.ts";
import { rawStream } from "../archive/raw_writer.ts";
import { zipStream } from "../archive/zip_writer.ts";
import type { JobArtifact } from "../job/job_spec.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import { artifactFileName } from "./artifact_file_name.ts";
import type { ArtifactUploader, ArtifactUploadResult } from "./artifact_uploader.ts";
import type { CommandRunner } from "./command_runner.ts";
import { selectFiles } from "./file_selection.ts";
import type { Sleep } from "./stage_retry.ts";
import { TransferMeter, type TransferProgress } from "../cache/transfer_meter.ts";

export interface UploadArtifactsOptions {
  jobId: number;
  jobToken: string;
  artifacts: readonly JobArtifact[];
  /** Which stage runs: the job's outcome so far. */
  jobSucceeded: boolean;
  source: ArchiveSource;
  projectDir: string;
  git?: CommandRunner;
  uploader: ArtifactUploader;
  /** From `ARTIFACT_COMPRESSION_LEVEL`. */
  compressionLevel: CompressionLevel;
  /** Compression threads for zip artifacts (FF_USE_FASTZIP); default 1. */
  concurrency?: number;
  log: JobLogSink;
  sleep: Sleep;
  signal: AbortSignal;
  /** The transfer meter of each try, when the job sets TRANSFER_METER_FREQUENCY. */
  progress?: TransferProgress | null;
}

const DEFAULT_TRIES = 3;
const UNAVAILABLE_TRIES = 6;

/** Entries the stage uploads (§6.1): `when` fits, and there are paths to select from or exclude. */
export function artifactsForStage(
  artifacts: readonly JobArtifact[],
  jobSucceeded: boolean,
): JobArtifact[] {
  return artifacts.filter((a) => {
    // An entry with only `exclude` still runs, to say "No files to upload", as upstream's does.
    if (a.paths.length === 0 && !a.untracked && a.exclude.length === 0) return false;
    return a.when === "always" || a.when === (jobSucceeded ? "on_success" : "on_failure");
  });
}

/** Rejects with a `JobFailedError` when an upload is refused or keeps failing. */
export async function uploadArtifacts(options: UploadArtifactsOptions): Promise<void> {
  for (const artifact of artifactsForStage(options.artifacts, options.jobSucceeded)) {
    options.signal.throwIfAborted();
    options.log("Uploading artifacts...");
    const paths = await selectFiles(
      { paths: artifact.paths, exclude: artifact.exclude, untracked: artifact.untracked },
      {
        source: options.source,
        projectDir: options.projectDir,
        log: options.log,
        ...(options.git ? { git: options.git } : {}),
      },
    );
    if (paths.length === 0) {
      options.log("ERROR: No files to upload");
      continue;
    }
    await uploadOne(artifact, paths, options);
  }
}

async function uploadOne(
  artifact: JobArtifact,
  paths: string[],
  options: UploadArtifactsOptions,
): Promise<void> {
  const format = artifactFormatOf(artifact.artifactFormat);
  const type = artifact.artifactType || "archive";
  const what = `Uploading artifacts as "${type}" to coordinator...`;
  const fields = `  id=${options.jobId}`;
  let baseUrl = "";
  let lastFailure = "";
  for (let attempt = 1;; attempt++) {
    options.signal.throwIfAborted();
    let body: ReadableStream<Uint8Array>;
    try {
      body = await bodyFor(format, paths, options);
    } catch (err) {
      if (err instanceof ArchiveError) {
        options.log(`ERROR: ${err.message}`);
        throw new JobFailedError("script_failure", `Cannot upload artifacts: ${err.message}`, {
          cause: err,
          exitCode: 1,
        });
      }
      throw err;
    }
    // The official uploader's meter: the archive's size is not known ahead.
    const meter = options.progress
      ? new TransferMeter("Uploading artifacts", 0, { progress: options.progress })
      : null;
    if (meter) body = body.pipeThrough(meter.counter());
    let result: ArtifactUploadResult;
    try {
      result = await options.uploader.upload({
        jobId: options.jobId,
        jobToken: options.jobToken,
        body,
        fileName: artifactFileName(artifact.name, format),
        artifactType: artifact.artifactType,
        // An empty format is sent as nothing: GitLab defaults to zip (§6.1).
        artifactFormat: artifact.artifactFormat,
        expireIn: artifact.expireIn,
        baseUrl,
      }, options.signal);
    } catch (err) {
      options.signal.throwIfAborted();
      result = { kind: "failed", status: err instanceof Error ? err.message : String(err) };
    } finally {
      meter?.done();
    }
    await body.cancel().catch(() => {});

    let maxTries = DEFAULT_TRIES;
    switch (result.kind) {
      case "created":
        options.log(`${what} ${result.status}${fields} responseStatus=${result.status}`);
        return;
      case "too_large":
        options.log(`ERROR: ${what} too large archive${fields} responseStatus=${result.status}`);
        throw new JobFailedError(
          "script_failure",
          `Uploading artifacts as "${type}" failed: the archive is too large for GitLab (${result.status}); raise the maximum artifacts size or upload less`,
          { exitCode: 1 },
        );
      case "forbidden":
        options.log(`ERROR: ${what} forbidden${fields} responseStatus=${result.status}`);
        throw new JobFailedError(
          "script_failure",
          `Uploading artifacts as "${type}" failed: GitLab refused the job token (${result.status})`,
          { exitCode: 1 },
        );
      case "redirected": {
        const next = originOf(result.location);
        if (next === null) {
          options.log(
            `WARNING: ${what} failed${fields} responseStatus=${result.status}: redirect without a valid Location`,
          );
        } else {
          options.log(
            `WARNING: Upload request redirected  location=${result.location} new-url=${next}`,
          );
          baseUrl = next;
        }
        break;
      }
      case "redirected_elsewhere": {
        // Following it would need net to that host, which an executor
        // process is not granted: no try can succeed, so none is repeated.
        const where = originOf(result.location) ?? result.location;
        options.log(
          `ERROR: ${what} redirected${fields} responseStatus=${result.status}: to "${where}", a host this runner's executor process may not connect to`,
        );
        throw new JobFailedError(
          "runner_configuration_error",
          `Uploading artifacts as "${type}" failed: GitLab redirected the upload to "${where}", a host this runner's executor process may not connect to (it is granted the host of the runner's url); if GitLab moved there, set the runner's url to it`,
          { exitCode: 1 },
        );
      }
      case "service_unavailable":
        maxTries = UNAVAILABLE_TRIES;
        options.log(
          `WARNING: ${what} service unavailable${fields} responseStatus=${result.status}`,
        );
        break;
      case "failed":
        options.log(`WARNING: ${what} failed${fields} responseStatus=${result.status}`);
        break;
    }
    lastFailure = result.status;
    if (attempt >= maxTries) {
      options.log(`ERROR: ${what} failed after ${attempt} tries: ${lastFailure}`);
      throw new JobFailedError(
        "script_failure",
        `Uploading artifacts as "${type}" failed after ${attempt} tries: ${lastFailure}`,
        { exitCode: 1 },
      );
    }
    options.log(`WARNING: Retrying...  context=artifacts-uploader error=${lastFailure}`);
    // Backoff between tries: 1 s growing to at most 5 s (§6.1).
    await options.sleep(Math.min(5_000, 1_000 * 2 ** (attempt - 1)), options.signal);
  }
}

function bodyFor(
  format: ArtifactFormat,
  paths: string[],
  options: UploadArtifactsOptions,
): Promise<ReadableStream<Uint8Array>> {
  const warn = (message: string) => options.log(`WARNING: ${message}`);
  switch (format) {
    case "zip":
      return Promise.resolve(
        zipStream(options.source, paths, {
          level: options.compressionLevel,
          warn,
          signal: options.signal,
          ...(options.concurrency ? { concurrency: options.concurrency } : {}),
        }),
      );
    case "gzip":
      return Promise.resolve(
        gzipStream(options.source, paths, { level: options.compressionLevel, warn }),
      );
    case "raw":
      return rawStream(options.source, paths);
  }
}

/** `artifact_format` → what we write; empty means zip (§6.1). */
export function artifactFormatOf(value: string): ArtifactFormat {
  switch (value) {
    case "":
    case "zip":
      return "zip";
    case "gzip":
      return "gzip";
    case "raw":
      return "raw";
    default:
      throw new JobFailedError(
        "runner_configuration_error",
        `Unsupported artifact format "${value}": this runner writes zip, gzip and raw`,
      );
  }
}

/** Scheme and host of a redirect's Location; path and query are dropped (§6.1). */
function originOf(location: string): string | null {
  if (location === "") return null;
  try {
    const url = new URL(location);
    return `${url.protocol}//${url.host}`;
  } catch {
    return null;
  }
}
