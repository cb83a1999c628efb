/**
 * `ARTIFACT_COMPRESSION_LEVEL` / `CACHE_COMPRESSION_LEVEL` values, as the
 * official runner names them.
 */
export type CompressionLevel = "fastest" | "fast" | "default" | "slow" | "slowest";

export const COMPRESSION_LEVELS: readonly CompressionLevel[] = [
  "fastest",
  "fast",
  "default",
  "slow",
  "slowest",
];

/**
 * Deflate level per named level. The official runner (fastzip) stores
 * without compression for `fastest` and uses 1/5/7/9 for the others; we do
 * the same so archives have the same size trade-offs.
 */
const DEFLATE_LEVELS: Record<CompressionLevel, number> = {
  fastest: 0,
  fast: 1,
  default: 5,
  slow: 7,
  slowest: 9,
};

export function deflateLevel(level: CompressionLevel): number {
  return DEFLATE_LEVELS[level];
}

/**
 * Reads a level from a variable value. Empty means `default`; an unknown value
 * is reported through `warn` and also means `default`, as a typo in a CI
 * variable should not fail the job.
 */
export function parseCompressionLevel(
  value: string | undefined,
  warn?: (message: string) => void,
): CompressionLevel {
  const v = (value ?? "").trim().toLowerCase();
  if (v === "") return "default";
  if ((COMPRESSION_LEVELS as readonly string[]).includes(v)) return v as CompressionLevel;
  warn?.(
    `compression level "${value}" is not one of ${COMPRESSION_LEVELS.join(", ")}: using "default"`,
  );
  return "default";
}
