/**
 * The job log: mask secrets, keep it valid UTF-8 and within `output_limit`,
 * store it with its checksum, and upload it to GitLab in chunks.
 */
export type { ByteSink } from "./byte_sink.ts";
export { type Clock, systemClock } from "./clock.ts";
export { crc32, formatChecksum } from "./crc32.ts";
export { JobTrace, type JobTraceOptions } from "./job_trace.ts";
export { maskOptionsForJob } from "./mask_options.ts";
export { DEFAULT_OUTPUT_LIMIT_BYTES, OutputLimiter, outputLimitNotice } from "./output_limiter.ts";
export { openTempSpillFile } from "./temp_spill_file.ts";
export {
  DEFAULT_TOKEN_PREFIXES,
  PERSONAL_ACCESS_TOKEN_PREFIX,
  tokenMaskPrefixes,
} from "./token_prefixes.ts";
export {
  MASK_TEXT,
  SENSITIVE_URL_PARAMS,
  TraceMasker,
  type TraceMaskerOptions,
} from "./trace_masker.ts";
export {
  DEFAULT_MEMORY_LIMIT_BYTES,
  type SpillFile,
  TraceStore,
  type TraceStoreOptions,
} from "./trace_store.ts";
export {
  DEFAULT_FINAL_UPDATE_RETRY_LIMIT,
  DEFAULT_UPDATE_INTERVAL_MS,
  type FinalJobState,
  type FinalUpdateOutcome,
  type FinalUpdateResult,
  MAX_TRACE_PATCH_BYTES,
  MAX_UPDATE_INTERVAL_MS,
  type TraceSource,
  TraceUploader,
  type TraceUploaderOptions,
} from "./trace_uploader.ts";
export type * from "./transport.ts";
export { Utf8Sanitizer } from "./utf8_sanitizer.ts";
