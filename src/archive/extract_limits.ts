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
  /** Largest expansion ratio (size / compressed size) of one entry… */
  maxRatio: number;
  /** …checked only for entries at least this large, as tiny files compress absurdly well. */
  ratioCheckFrom: number;
}

/**
 * 64 GiB and one million entries are far above real caches and artifacts (GitLab's
 * own artifact limit defaults to 100 MiB) yet far below what a bomb claims.
 * Deflate cannot exceed about 1032:1, so a ratio of 1024 only rejects data
 * that is nearly all one byte, the shape of every single-layer bomb.
 */
export const DEFAULT_EXTRACT_LIMITS: Readonly<ExtractLimits> = {
  maxTotalSize: 64 * 1024 ** 3,
  maxEntries: 1_000_000,
  maxRatio: 1024,
  ratioCheckFrom: 16 * 1024 ** 2,
};
