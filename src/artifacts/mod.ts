/** Job artifacts: file selection, upload and download orchestration. */
export type { CommandResult, CommandRunner } from "./command_runner.ts";
export { LocalCommandRunner } from "./local_command_runner.ts";
export { compilePattern, type PathMatcher, splitPattern } from "./glob_pattern.ts";
export {
  type FileSelectionContext,
  type FileSelectionSpec,
  relativeInProject,
  selectFiles,
} from "./file_selection.ts";
export type {
  ArtifactUploader,
  ArtifactUploadRequest,
  ArtifactUploadResult,
} from "./artifact_uploader.ts";
export type {
  ArtifactDownloader,
  ArtifactDownloadRequest,
  ArtifactDownloadResult,
} from "./artifact_downloader.ts";
export type { ScratchFile, ScratchSpace } from "./scratch_space.ts";
export { LocalScratchSpace } from "./local_scratch_space.ts";
export { artifactFileName } from "./artifact_file_name.ts";
export { realSleep, type Sleep, stageAttempts, stageBackoffMs } from "./stage_retry.ts";
export {
  artifactsForStage,
  uploadArtifacts,
  type UploadArtifactsOptions,
} from "./upload_artifacts.ts";
export {
  dependenciesWithArtifacts,
  downloadArtifacts,
  type DownloadArtifactsOptions,
} from "./download_artifacts.ts";
