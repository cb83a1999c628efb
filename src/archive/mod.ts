/** Artifact and cache archives: writing, reading and safe extraction. */
export { ArchiveError } from "./archive_error.ts";
export type { JobLogSink } from "./log_sink.ts";
export {
  COMPRESSION_LEVELS,
  type CompressionLevel,
  deflateLevel,
  parseCompressionLevel,
} from "./compression_level.ts";
export { type ArtifactFormat, detectArchiveFormat, type DetectedFormat } from "./archive_format.ts";
export type { ArchiveSource, EntryKind, SourceDirEntry, SourceEntry } from "./archive_source.ts";
export type { ArchiveTarget, FileMeta, TargetFile } from "./archive_target.ts";
export { BytesReader, type RandomAccessReader } from "./random_access_reader.ts";
export { normalizeEntryName } from "./entry_name.ts";
export { DEFAULT_EXTRACT_LIMITS, type ExtractLimits } from "./extract_limits.ts";
export { writeZip, type ZipSink, zipStream, type ZipWriterOptions } from "./zip_writer.ts";
export { readZipDirectory, type ZipEntry, type ZipEntryKind } from "./zip_reader.ts";
export { type ExtractOptions, type ExtractResult, extractZip } from "./zip_extractor.ts";
export { gzipStream, type GzipWriterOptions } from "./gzip_writer.ts";
export { rawStream } from "./raw_writer.ts";
export { LocalArchiveSource } from "./local_archive_source.ts";
export { LocalArchiveTarget } from "./local_archive_target.ts";
export { LocalFileReader } from "./local_file_reader.ts";
export { fileSink } from "./file_sink.ts";
