/**
 * The official helper commands a job's own scripts call (the custom
 * executor's stages do, as the official runner's do):
 * `artifacts-uploader`, `artifacts-downloader`, `cache-archiver`,
 * `cache-extractor` and `cache-init`, with the official flags and
 * environment names. They work on the current directory (the project
 * directory) and print what the job log should show; the exit code says
 * whether the step worked.
 *
 * Official flags this runner does not act on (object-storage cache URLs,
 * `--gocloud-url`, `--header`, the cache helpers' request timeout, retries
 * and transfer tuning, metadata generation) are accepted and named in a
 * warning: a call made for the official helper still runs.
 */
import { join, resolve } from "node:path";
import type { CompressionLevel } from "../../archive/compression_level.ts";
import { parseCompressionLevel } from "../../archive/compression_level.ts";
import { fastzipThreads, type ThreadsVariable } from "../../archive/archiver_concurrency.ts";
import { parseGoBool } from "../../build/feature_flags.ts";
import { expandValue } from "../../build/job_variables.ts";
import type { ArchiveSource } from "../../archive/archive_source.ts";
import { LocalArchiveSource } from "../../archive/local_archive_source.ts";
import { LocalArchiveTarget } from "../../archive/local_archive_target.ts";
import { LocalFileReader } from "../../archive/local_file_reader.ts";
import { extractZip } from "../../archive/zip_extractor.ts";
import { writeZip } from "../../archive/zip_writer.ts";
import { fileSink } from "../../archive/file_sink.ts";
import { downloadArtifacts } from "../../artifacts/download_artifacts.ts";
import { selectFiles } from "../../artifacts/file_selection.ts";
import { LocalCommandRunner } from "../../artifacts/local_command_runner.ts";
import { LocalScratchSpace } from "../../artifacts/local_scratch_space.ts";
import { realSleep } from "../../artifacts/stage_retry.ts";
import { transferMeterInterval, type TransferProgress } from "../../cache/transfer_meter.ts";
import { artifactFormatOf, uploadArtifacts } from "../../artifacts/upload_artifacts.ts";
import { JobClient } from "../../gitlab/job_client.ts";
import { JobArtifactTransfer, type UploadDeadlines } from "../../job_files/artifact_transfer.ts";
import { parseGoDuration } from "../../config/go_duration.ts";
import { apiRootUrl } from "../../gitlab/api_url.ts";
import { parseCiDuration } from "../../pipeline/ci_duration.ts";
import type { StepWhen } from "../../job/job_spec.ts";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import type { CliContext } from "../cli_context.ts";
import { Flags, type FlagSpec, type FlagType, parseFlags } from "../flags.ts";
import { runnerInfoFor, tlsFilesOf } from "../runner_identity.ts";

/** GitLab connection flags, with the environment names of the job's predefined variables. */
const CREDENTIAL_FLAGS: FlagSpec[] = [
  { name: "url", type: "string", env: "CI_SERVER_URL", help: "GitLab URL" },
  { name: "token", type: "string", env: "CI_JOB_TOKEN", help: "Job token" },
  { name: "id", type: "int", env: "CI_JOB_ID", help: "Job ID" },
  { name: "tls-ca-file", type: "string", env: "CI_SERVER_TLS_CA_FILE", help: "CA bundle" },
  {
    name: "tls-cert-file",
    type: "string",
    env: "CI_SERVER_TLS_CERT_FILE",
    help: "Client certificate",
  },
  { name: "tls-key-file", type: "string", env: "CI_SERVER_TLS_KEY_FILE", help: "Client key" },
];

/**
 * The official helpers' meter flag. The cache helpers take it too and print
 * nothing: they move no remote archive (the official ones meter only that).
 */
const TRANSFER_METER_FLAG: FlagSpec = {
  name: "transfer-meter-frequency",
  type: "string",
  env: "TRANSFER_METER_FREQUENCY",
  help: "If set to more than 0s it enables an interactive transfer meter",
};

const ARCHIVER_FLAGS: FlagSpec[] = [
  { name: "path", type: "list", help: "Add paths to archive" },
  { name: "exclude", type: "list", help: "Exclude paths from the archive" },
  { name: "untracked", type: "bool", help: "Add git untracked files" },
];

const NOT_SUPPORTED = "Not supported by this runner";

/**
 * An official flag this runner does not act on: accepted, so that a call made
 * for the official helper still runs, and named in a warning when given.
 */
function unsupported(name: string, type: FlagType = "string"): FlagSpec {
  return { name, type, help: NOT_SUPPORTED };
}

/** The remote cache's flags: this runner's helpers keep the cache as a local file. */
const REMOTE_CACHE_FLAGS: FlagSpec[] = [
  ...[
    "url",
    "head-url",
    "check-url",
    "gocloud-url",
    "alternate-url",
    "alternate-head-url",
    "alternate-gocloud-url",
    "env-file",
    "timeout",
    "transfer-buffer-size",
    "chunk-size",
    "concurrency",
  ].map((name) => unsupported(name)),
  unsupported("header", "list"),
];

/** The official retry flags of the helpers that have them. */
const RETRY_FLAGS: FlagSpec[] = [unsupported("retry"), unsupported("retry-time")];

/** The official artifacts-uploader's provenance statement flags (--generate-artifacts-metadata). */
const METADATA_FLAGS: FlagSpec[] = [
  unsupported("generate-artifacts-metadata", "bool"),
  ...[
    "runner-id",
    "repo-url",
    "repo-digest",
    "job-name",
    "executor-name",
    "runner-name",
    "started-at",
    "ended-at",
    "schema-version",
  ].map((name) => unsupported(name)),
  unsupported("metadata-parameter", "list"),
];

export const ARTIFACTS_UPLOADER_FLAGS: FlagSpec[] = [
  ...CREDENTIAL_FLAGS,
  ...ARCHIVER_FLAGS,
  { name: "name", type: "string", help: "The name of the archive" },
  { name: "expire-in", type: "string", help: "When to expire artifacts" },
  { name: "artifact-format", type: "string", help: "Format of the artifact (zip, gzip, raw)" },
  { name: "artifact-type", type: "string", help: "Type of generated artifact" },
  {
    name: "compression-level",
    type: "string",
    env: "ARTIFACT_COMPRESSION_LEVEL",
    help: "Compression level (fastest, fast, default, slow, slowest)",
  },
  { name: "timeout", type: "string", help: "Deadline of one upload try (Go duration; 1h)" },
  {
    name: "response-header-timeout",
    type: "string",
    help: "Wait for GitLab's answer once the archive is sent (Go duration; 10m)",
  },
  unsupported("ci-debug-trace", "bool"),
  unsupported("verbose", "bool"),
  TRANSFER_METER_FLAG,
  ...METADATA_FLAGS,
];

export const ARTIFACTS_DOWNLOADER_FLAGS: FlagSpec[] = [
  ...CREDENTIAL_FLAGS,
  { name: "direct-download", type: "bool", env: "FF_USE_DIRECT_DOWNLOAD", help: "Direct download" },
  {
    name: "archiver-staging-dir",
    type: "string",
    env: "ARCHIVER_STAGING_DIR",
    help: "Directory the archive is downloaded to before extraction (the system's temporary one)",
  },
  ...RETRY_FLAGS,
  TRANSFER_METER_FLAG,
];

export const CACHE_ARCHIVER_FLAGS: FlagSpec[] = [
  { name: "file", type: "string", help: "The path to file" },
  ...ARCHIVER_FLAGS,
  {
    name: "compression-level",
    type: "string",
    env: "CACHE_COMPRESSION_LEVEL",
    help: "Compression level (fastest, fast, default, slow, slowest)",
  },
  { name: "compression-format", type: "string", help: "Compression format (zip only)" },
  unsupported("alternate-file"),
  unsupported("max-uploaded-archive-size"),
  unsupported("metadata"),
  unsupported("verbose", "bool"),
  ...REMOTE_CACHE_FLAGS,
  ...RETRY_FLAGS,
  TRANSFER_METER_FLAG,
];

export const CACHE_EXTRACTOR_FLAGS: FlagSpec[] = [
  { name: "file", type: "string", help: "The file containing your cache artifacts" },
  ...REMOTE_CACHE_FLAGS,
  ...RETRY_FLAGS,
  TRANSFER_METER_FLAG,
];

/** Names each unsupported flag the call gave. */
function warnUnsupported(ctx: CliContext, flags: Flags, specs: readonly FlagSpec[]): void {
  for (const spec of specs) {
    if (spec.help === NOT_SUPPORTED && flags.has(spec.name)) {
      ctx.out(`WARNING: --${spec.name} is not supported by this runner; ignored`);
    }
  }
}

function need(flags: Flags, name: string): string {
  const value = flags.string(name);
  if (value === "") throw new UsageFailure(`Missing --${name}`);
  return value;
}

class UsageFailure extends Error {}

/** A failed step the official helper reports as a warning (still exit 1). */
class StepWarning extends Error {}

/** Seconds of the Go duration flag `name` (`fallback` when not given); a usage failure naming it otherwise. */
function durationFlag(flags: Flags, name: string, fallback: string): number {
  const text = flags.has(name) ? flags.string(name) : fallback;
  try {
    return parseGoDuration(text);
  } catch (error) {
    throw new UsageFailure(`--${name} ${JSON.stringify(text)}: ${(error as Error).message}`);
  }
}

interface JobCredentials {
  url: string;
  token: string;
  id: number;
}

/**
 * `--url`, `--token` and `--id`, checked before any request as the official
 * helpers do ("Missing build ID"): asking GitLab about job 0 only got 404s.
 */
function credentials(flags: Flags): JobCredentials {
  const url = need(flags, "url");
  try {
    apiRootUrl(url);
  } catch (error) {
    throw new UsageFailure(`${(error as Error).message} (--url)`);
  }
  const token = need(flags, "token");
  const id = flags.int("id");
  if (id <= 0) {
    throw new UsageFailure(flags.has("id") ? `--id ${id} is not a job ID` : "Missing --id");
  }
  return { url, token, id };
}

function jobClient(ctx: CliContext, flags: Flags, url: string): JobClient {
  return new JobClient({
    url,
    runnerInfo: runnerInfoFor(ctx.version, defaultRunnerConfig("custom")),
    ...tlsFilesOf({
      tlsCaFile: flags.string("tls-ca-file"),
      tlsCertFile: flags.string("tls-cert-file"),
      tlsKeyFile: flags.string("tls-key-file"),
    }),
    log: ctx.log,
  });
}

/**
 * `$VAR` and `${VAR}` from the environment, as the official helpers expand
 * `--path`, `--exclude` and `--name`: the stage script that calls them has
 * exported the job's variables, so the job's own words (`$CI_JOB_NAME-out`,
 * `$BUILD_DIR/`) arrive unexpanded.
 */
function expand(ctx: CliContext, value: string): string {
  return expandValue(value, (key) => ctx.env(key));
}

/** FF_USE_FASTZIP and FASTZIP_*_CONCURRENCY from the environment, as the official helper reads them. */
function fastzip(ctx: CliContext, variable: ThreadsVariable): number {
  return fastzipThreads(
    variable,
    parseGoBool(ctx.env("FF_USE_FASTZIP") ?? "") ?? false,
    (key) => ctx.env(key),
    navigator.hardwareConcurrency,
    (m) => ctx.out(`WARNING: ${m}`),
  );
}

/** `--compression-level`, or the variable it reads (`key`) when not given. */
function compression(ctx: CliContext, flags: Flags, key: string): CompressionLevel {
  const source = flags.parsed.fromEnv.has("compression-level") ? key : "--compression-level";
  return parseCompressionLevel(
    flags.has("compression-level") ? flags.string("compression-level") : undefined,
    (m) => ctx.out(`WARNING: ${source}: ${m}`),
  );
}

/**
 * The transfer meter `--transfer-meter-frequency` asks for, a line per tick
 * (the job log shows each); a value that is no Go duration is named and the
 * transfer goes on without a meter, as in a job's own stages.
 */
function transferProgress(ctx: CliContext, flags: Flags): TransferProgress | null {
  let intervalMs: number | null;
  try {
    intervalMs = transferMeterInterval(flags.string(TRANSFER_METER_FLAG.name));
  } catch (err) {
    ctx.out(
      `WARNING: TRANSFER_METER_FREQUENCY (--transfer-meter-frequency) ${
        JSON.stringify(flags.string(TRANSFER_METER_FLAG.name))
      }: ${(err as Error).message}; no transfer meter`,
    );
    return null;
  }
  if (intervalMs === null) return null;
  return { write: (text) => ctx.out(text.replace(/\n$/, "")), intervalMs };
}

/** Runs a helper; prints the failure as the job log shows it and maps it to an exit code. */
async function helper(ctx: CliContext, work: () => Promise<void>): Promise<number> {
  try {
    await work();
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    ctx.out(`${err instanceof StepWarning ? "WARNING" : "ERROR"}: ${message}`);
    return err instanceof UsageFailure ? 2 : 1;
  }
}

export function artifactsUploaderCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, ARTIFACTS_UPLOADER_FLAGS, ctx.env));
  return helper(ctx, async () => {
    warnUnsupported(ctx, flags, ARTIFACTS_UPLOADER_FLAGS);
    const deadlines: UploadDeadlines = {
      upload: { seconds: durationFlag(flags, "timeout", "1h"), setting: "--timeout" },
      responseHeader: {
        seconds: durationFlag(flags, "response-header-timeout", "10m"),
        setting: "--response-header-timeout",
      },
    };
    const { url, token, id } = credentials(flags);
    try {
      artifactFormatOf(flags.string("artifact-format"));
    } catch (error) {
      throw new UsageFailure(`${(error as Error).message} (--artifact-format)`);
    }
    warnExpireIn(ctx, flags.string("expire-in"));
    using client = jobClient(ctx, flags, url);
    await uploadArtifacts({
      jobId: id,
      jobToken: token,
      artifacts: [{
        name: expand(ctx, flags.string("name")),
        untracked: flags.bool("untracked"),
        paths: flags.list("path").map((p) => expand(ctx, p)),
        exclude: flags.list("exclude").map((p) => expand(ctx, p)),
        when: "always" satisfies StepWhen,
        // Empty ones are sent as nothing: GitLab's defaults, archive and zip (§6.1).
        artifactType: flags.string("artifact-type"),
        artifactFormat: flags.string("artifact-format"),
        expireIn: flags.string("expire-in"),
      }],
      jobSucceeded: true,
      source: new LocalArchiveSource(ctx.cwd),
      projectDir: ctx.cwd,
      git: new LocalCommandRunner(ctx.cwd),
      uploader: new JobArtifactTransfer(client, deadlines),
      compressionLevel: compression(ctx, flags, "ARTIFACT_COMPRESSION_LEVEL"),
      concurrency: fastzip(ctx, "FASTZIP_ARCHIVER_CONCURRENCY"),
      log: (line) => ctx.out(line),
      sleep: realSleep,
      signal: new AbortController().signal,
      progress: transferProgress(ctx, flags),
    });
  });
}

/**
 * GitLab validates `artifacts:expire_in` in .gitlab-ci.yml, but not what
 * reaches its upload API: a value it cannot read there is taken for no expiry
 * at all. The official helper forwards the flag unchecked; so does this one,
 * saying what it did not understand.
 */
function warnExpireIn(ctx: CliContext, value: string): void {
  if (value === "" || value.trim().toLowerCase() === "never") return;
  if (parseCiDuration(value) !== null) return;
  ctx.out(
    `WARNING: --expire-in ${
      JSON.stringify(value)
    } is not a duration (like "1 week" or "30 days") or never: sent as given, GitLab may keep the artifacts with no expiry`,
  );
}

/**
 * `--archiver-staging-dir` (`ARCHIVER_STAGING_DIR`), checked before the
 * download: one that is not a directory fails the step naming it, as the
 * official helper cannot create its temporary file there.
 */
async function stagingSpace(flags: Flags): Promise<LocalScratchSpace> {
  const dir = flags.string("archiver-staging-dir");
  if (dir === "") return new LocalScratchSpace();
  const source = flags.parsed.fromEnv.has("archiver-staging-dir")
    ? "ARCHIVER_STAGING_DIR (--archiver-staging-dir)"
    : "--archiver-staging-dir";
  const info = await Deno.stat(dir).catch((err: Error) => {
    throw new UsageFailure(`${source} ${JSON.stringify(dir)}: ${err.message}`, { cause: err });
  });
  if (!info.isDirectory) {
    throw new UsageFailure(`${source} ${JSON.stringify(dir)} is not a directory`);
  }
  return new LocalScratchSpace(dir);
}

export function artifactsDownloaderCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, ARTIFACTS_DOWNLOADER_FLAGS, ctx.env));
  return helper(ctx, async () => {
    warnUnsupported(ctx, flags, ARTIFACTS_DOWNLOADER_FLAGS);
    const { url, token, id } = credentials(flags);
    using client = jobClient(ctx, flags, url);
    await downloadArtifacts({
      dependencies: [{
        id,
        token,
        name: String(id),
        artifactsFile: { filename: "artifacts.zip", size: 0 },
      }],
      downloader: new JobArtifactTransfer(client),
      target: await LocalArchiveTarget.open(ctx.cwd),
      extract: { threads: fastzip(ctx, "FASTZIP_EXTRACTOR_CONCURRENCY") },
      scratch: await stagingSpace(flags),
      directDownload: flags.bool("direct-download", true),
      attempts: 1,
      announce: false,
      log: (line) => ctx.out(line),
      sleep: realSleep,
      signal: new AbortController().signal,
      progress: transferProgress(ctx, flags),
    });
  });
}

export function cacheArchiverCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, CACHE_ARCHIVER_FLAGS, ctx.env));
  return helper(ctx, async () => {
    warnUnsupported(ctx, flags, CACHE_ARCHIVER_FLAGS);
    const format = flags.string("compression-format");
    if (format !== "" && format.toLowerCase() !== "zip") {
      ctx.out(
        `WARNING: --compression-format ${
          JSON.stringify(format)
        } is not supported by this runner: caches are zip archives`,
      );
    }
    const file = resolve(ctx.cwd, need(flags, "file"));
    const cannotWrite = (err: unknown) =>
      new Error(
        `Cannot write cache file ${JSON.stringify(file)} (--file): ${(err as Error).message}`,
        { cause: err },
      );
    // Refused before the files are zipped, not by the rename after.
    if ((await Deno.stat(file).catch(() => null))?.isDirectory) {
      throw cannotWrite(new Error("it is a directory"));
    }
    const source = new LocalArchiveSource(ctx.cwd);
    const paths = await selectFiles(
      {
        paths: flags.list("path").map((p) => expand(ctx, p)),
        exclude: flags.list("exclude").map((p) => expand(ctx, p)),
        untracked: flags.bool("untracked"),
      },
      {
        source,
        projectDir: ctx.cwd,
        git: new LocalCommandRunner(ctx.cwd),
        log: (line) => ctx.out(line),
      },
    );
    // As the official helper: an archive of nothing would replace a cache a
    // later job could still use (its paths not built yet, a failed job).
    if (paths.length === 0) {
      ctx.out("WARNING: No files to cache.");
      return;
    }
    if (await isUpToDate(source, paths, file)) {
      ctx.out("Archive is up to date!");
      return;
    }
    let temp: string;
    try {
      await Deno.mkdir(join(file, ".."), { recursive: true });
      // Written beside the archive, then renamed: a reader never sees half a zip.
      temp = await Deno.makeTempFile({ dir: join(file, ".."), prefix: ".cache-", suffix: ".tmp" });
    } catch (err) {
      throw cannotWrite(err);
    }
    try {
      {
        using out = await Deno.open(temp, { write: true, truncate: true });
        await writeZip(source, paths, fileSink(out), {
          level: compression(ctx, flags, "CACHE_COMPRESSION_LEVEL"),
          warn: (m) => ctx.out(`WARNING: ${m}`),
          concurrency: fastzip(ctx, "FASTZIP_ARCHIVER_CONCURRENCY"),
        });
      }
      await Deno.rename(temp, file).catch((err) => {
        throw cannotWrite(err);
      });
    } catch (err) {
      await Deno.remove(temp).catch(() => {});
      throw err;
    }
  });
}

/**
 * The official helper's test: the archive at `file` exists and no selected
 * path changed after it was written, so writing it again would only cost time.
 */
async function isUpToDate(source: ArchiveSource, paths: string[], file: string): Promise<boolean> {
  // Missing or unreadable: write it (an error then names the file).
  const written = await Deno.stat(file).then((info) => info.mtime, () => null);
  if (written === null) return false;
  for (const path of paths) {
    const entry = await source.stat(path);
    if (entry !== null && entry.mtime.getTime() > written.getTime()) return false;
  }
  return true;
}

export function cacheExtractorCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, CACHE_EXTRACTOR_FLAGS, ctx.env));
  return helper(ctx, async () => {
    warnUnsupported(ctx, flags, CACHE_EXTRACTOR_FLAGS);
    const file = resolve(ctx.cwd, need(flags, "file"));
    let reader: LocalFileReader;
    try {
      // A directory opens; its read would fail with a bare "Is a directory".
      if (!(await Deno.stat(file)).isFile) throw new Error("not a file");
      reader = await LocalFileReader.open(file);
    } catch (err) {
      // A job's first run has no cache yet: the official helper and the
      // in-process restore_cache stage say so as a warning, not an error.
      if (err instanceof Deno.errors.NotFound) throw new StepWarning("Cache file does not exist");
      throw new Error(
        `Cannot read cache file ${JSON.stringify(file)} (--file): ${(err as Error).message}`,
        { cause: err },
      );
    }
    try {
      await extractZip(reader, await LocalArchiveTarget.open(ctx.cwd), {
        warn: (m) => ctx.out(`WARNING: ${m}`),
        threads: fastzip(ctx, "FASTZIP_EXTRACTOR_CONCURRENCY"),
      });
    } catch (err) {
      throw new Error(
        `Cannot extract cache file ${JSON.stringify(file)}: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      await reader.close();
    }
  });
}

export const CACHE_INIT_FLAGS: FlagSpec[] = [];

/**
 * `cache-init <path>...`: makes each path mode 0777, as the official helper
 * does to the cache and build directories a job's user other than root must
 * write. A path that cannot be changed is named and the rest go on (exit 0),
 * as there.
 */
export function cacheInitCommand(ctx: CliContext, args: string[]): Promise<number> {
  const flags = new Flags(parseFlags(args, CACHE_INIT_FLAGS, ctx.env, { takesArguments: true }));
  return helper(ctx, async () => {
    if (flags.positionals.length === 0) {
      throw new UsageFailure("No arguments passed, at least 1 path is required");
    }
    for (const path of flags.positionals) {
      try {
        await Deno.chmod(resolve(ctx.cwd, path), 0o777);
      } catch (err) {
        ctx.out(`ERROR: Cannot make ${JSON.stringify(path)} mode 0777: ${(err as Error).message}`);
      }
    }
  });
}
