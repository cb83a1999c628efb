/** The `checksum` GitLab expects: `crc32:` and 8 lowercase hex digits. */
export function formatChecksum(crc: number): string {
  return `crc32:${(crc >>> 0).toString(16).padStart(8, "0")}`;
}
