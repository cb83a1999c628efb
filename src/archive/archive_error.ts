/**
 * An archive could not be written or extracted. `entry` names the archive
 * member at fault ("" when the archive as a whole is unusable), so the job log
 * can point at it. Cache restore downgrades this error to a warning; artifact
 * download fails the stage with it.
 */
export class ArchiveError extends Error {
  override readonly name = "ArchiveError";
  constructor(
    readonly entry: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Quotes an entry name for messages, escaping control characters. */
export function quoteEntry(name: string): string {
  return JSON.stringify(name);
}
