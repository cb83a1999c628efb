/**
 * Bounds that stop an archive from filling the disk (zip bombs). Checked
 * against the central directory before anything is written, and again while
 * inflating, where an entry that produces more bytes than it declared is cut
 * off.
 */
export interface ExtractLimits {
  /** Most bytes all entries may expand to together. */
  maxTotalSize: number;
  /** Most entries an archive may hold. */
  maxEntries: number;
  /** Largest expansion ratio (size / compressed size) of any one entry. */
  maxRatio: number;
  /** Largest expansion ratio of the whole archive (all sizes / archive bytes). */
  maxArchiveRatio: number;
}

/**
 * GitLab's default "Maximum artifacts size" (instance setting, 100 MB): no
 * artifact archive a default GitLab accepts is larger.
 */
export const DEFAULT_ARTIFACT_SIZE_LIMIT = 100 * 1024 ** 2;

/**
 * Deflate cannot exceed about 1032:1, so a per-entry ratio of 1024 only
 * rejects data that is nearly all one byte, the shape of every single-layer
 * bomb; it applies to every entry (small ones cannot reach it honestly: the
 * deflate block overhead alone keeps them far below). A bomb can still spread
 * over many entries each just below that, so the whole archive may expand at
 * most 256 times, well above real artifacts and caches (source, logs and
 * node_modules compress 3-20 times). The total cap is that ratio applied to
 * the artifact size limit: 25 GiB, a bound on disk use no archive GitLab
 * accepts by default can exceed honestly. One million entries is far above
 * real caches yet far below what a bomb claims.
 */
export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = {
  maxTotalSize: 256 * DEFAULT_ARTIFACT_SIZE_LIMIT,
  maxEntries: 1_000_000,
  maxRatio: 1024,
  maxArchiveRatio: 256,
};
