/**
 * The `download_artifacts` stage: for each dependency with an artifacts file,
 * download it with the dependency's own token (3 tries, 1 s apart, §6.3),
 * keep it in a scratch file until complete, detect its format by magic bytes
 * and extract it into the project directory with every hostile-input
 * defence. `ARTIFACT_DOWNLOAD_ATTEMPTS` repeats the whole stage.
 */
import { ArchiveError } from "../archive/archive_error.ts";
import type { ArchiveTarget } from "../archive/archive_target.ts";
import { detectArchiveFormat } from "../archive/archive_format.ts";
import type { JobLogSink } from "../archive/log_sink.ts";
import { type ExtractOptions, extractZip } from "../archive/zip_extractor.ts";
import type { JobDependency } from "../job/job_spec.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { ArtifactDownloader, ArtifactDownloadResult } from "./artifact_downloader.ts";
import type { ScratchSpace } from "./scratch_space.ts";
import { type Sleep, stageBackoffMs } from "./stage_retry.ts";
import { TransferMeter, type TransferProgress } from "../cache/transfer_meter.ts";

export interface DownloadArtifactsOptions {
  dependencies: readonly JobDependency[];
  downloader: ArtifactDownloader;
  /** The project directory. */
  target: ArchiveTarget;
  scratch: ScratchSpace;
  /** `FF_USE_DIRECT_DOWNLOAD` (default true): ask for a redirect to object storage on the first try. */
  directDownload: boolean;
  /** Stage attempts (`ARTIFACT_DOWNLOAD_ATTEMPTS`, see stageAttempts). */
  attempts: number;
  /**
   * Whether the log starts each dependency with "Downloading artifacts for
   * <name> (<id>)..."; default true. The artifacts-downloader helper knows no
   * name: the stage that calls it says that line itself.
   */
  announce?: boolean;
  extract?: Omit<ExtractOptions, "signal">;
  log: JobLogSink;
  sleep: Sleep;
  signal: AbortSignal;
  /** The transfer meter of each download, when the job sets TRANSFER_METER_FREQUENCY. */
  progress?: TransferProgress | null;
}

const TRIES = 3;

/** Dependencies that have something to download (§3.2). */
export function dependenciesWithArtifacts(deps: readonly JobDependency[]): JobDependency[] {
  return deps.filter((d) => d.artifactsFile.filename !== "");
}

/** Rejects with a `JobFailedError` when the stage fails on its last attempt. */
export async function downloadArtifacts(options: DownloadArtifactsOptions): Promise<void> {
  const deps = dependenciesWithArtifacts(options.dependencies);
  if (deps.length === 0) return;
  for (let attempt = 1;; attempt++) {
    try {
      for (const dep of deps) await downloadOne(dep, options, attempt);
      return;
    } catch (err) {
      options.signal.throwIfAborted();
      if (!(err instanceof StageError) || attempt >= options.attempts) {
        throw err instanceof StageError
          ? new JobFailedError("script_failure", err.message, { cause: err.cause, exitCode: 1 })
          : err;
      }
      await options.sleep(stageBackoffMs(attempt + 1), options.signal);
    }
  }
}

/** A failure that the next stage attempt may fix. */
class StageError extends Error {
  override readonly name = "StageError";
}

async function downloadOne(
  dep: JobDependency,
  options: DownloadArtifactsOptions,
  stageAttempt: number,
): Promise<void> {
  if (stageAttempt > 1) {
    options.log(
      `WARNING: Retrying artifact download for ${dep.name} (attempt ${stageAttempt}/${options.attempts})...`,
    );
  } else if (options.announce ?? true) {
    options.log(`Downloading artifacts for ${dep.name} (${dep.id})...`);
  }
  const what = "Downloading artifacts from coordinator...";
  const fields = `  id=${dep.id}`;
  const file = await options.scratch.create();
  try {
    for (let attempt = 1;; attempt++) {
      options.signal.throwIfAborted();
      let result: ArtifactDownloadResult;
      try {
        result = await options.downloader.download({
          jobId: dep.id,
          jobToken: dep.token,
          // Only the first try asks for object storage (§6.3).
          directDownload: options.directDownload && attempt === 1,
        }, options.signal);
      } catch (err) {
        options.signal.throwIfAborted();
        result = { kind: "failed", status: err instanceof Error ? err.message : String(err) };
      }
      let failure: string;
      if (result.kind === "ok") {
        if (result.unreachableRedirect) {
          options.log(
            `WARNING: Direct download from "${result.unreachableRedirect}" is not possible: this runner's executor process may not connect to that host; downloading through GitLab instead`,
          );
        }
        // The official downloader's meter: it counts without a total.
        const meter = options.progress
          ? new TransferMeter("Downloading artifacts", 0, { progress: options.progress })
          : null;
        try {
          await file.write(meter ? result.body.pipeThrough(meter.counter()) : result.body);
          options.log(`${what} ok${fields} responseStatus=${result.status}`);
          break;
        } catch (err) {
          options.signal.throwIfAborted();
          failure = `copy failed: ${err instanceof Error ? err.message : err}`;
        } finally {
          // The counter ends the meter with the body; a broken body ends it here.
          meter?.done();
        }
      } else if (result.kind === "forbidden" || result.kind === "unauthorized") {
        options.log(`ERROR: ${what} forbidden${fields} responseStatus=${result.status}`);
        throw new StageError(
          `Downloading artifacts of ${dep.name} (${dep.id}) failed: access was refused (${result.status})`,
        );
      } else if (result.kind === "not_found") {
        options.log(`ERROR: ${what} not found${fields} responseStatus=${result.status}`);
        throw new StageError(
          `Downloading artifacts of ${dep.name} (${dep.id}) failed: no artifacts were found (${result.status})`,
        );
      } else {
        failure = result.status;
      }
      options.log(`WARNING: ${what} failed${fields} responseStatus=${failure}`);
      if (attempt >= TRIES) {
        throw new StageError(
          `Downloading artifacts of ${dep.name} (${dep.id}) failed after ${attempt} tries: ${failure}`,
        );
      }
      await options.sleep(1_000, options.signal);
    }

    const reader = await file.open();
    try {
      const head = await reader.read(0, Math.min(4, reader.size));
      const format = detectArchiveFormat(head);
      if (format !== "zip") {
        throw new ArchiveError(
          "",
          `The artifacts of ${dep.name} (${dep.id}) are a ${format} archive; only zip archives can be extracted`,
        );
      }
      await extractZip(reader, options.target, {
        ...options.extract,
        warn: (m) => options.log(`WARNING: ${m}`),
        signal: options.signal,
      });
    } catch (err) {
      if (err instanceof ArchiveError) {
        options.log(`ERROR: ${err.message}`);
        // A hostile or broken archive stays broken: no stage retry.
        throw new JobFailedError(
          "script_failure",
          `Extracting artifacts of ${dep.name} (${dep.id}) failed: ${err.message}`,
          { cause: err, exitCode: 1 },
        );
      }
      throw err;
    } finally {
      await reader.close();
    }
  } finally {
    await file.remove();
  }
}
