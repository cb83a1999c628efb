/** Formats the runner writes (§6.1); `zipzstd`/`tarzstd` are not produced. */
export type ArtifactFormat = "zip" | "gzip" | "raw";

/** What a downloaded or cached archive turns out to be (§6.3). */
export type DetectedFormat = "zip" | "gzip" | "tarzstd";

/**
 * Detects an archive's format from its first bytes, as the official
 * downloader does: zstd magic `28 B5 2F FD` means tar+zstd, `1F 8B` gzip,
 * anything else is read as zip (and fails there if it is not one).
 */
export function detectArchiveFormat(head: Uint8Array): DetectedFormat {
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    return "tarzstd";
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  return "zip";
}
