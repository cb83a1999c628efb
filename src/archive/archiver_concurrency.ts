/**
 * How many threads compress or extract a job's archives. As in the official
 * runner, FF_USE_FASTZIP switches to the concurrent archiver and extractor,
 * and FASTZIP_ARCHIVER_CONCURRENCY / FASTZIP_EXTRACTOR_CONCURRENCY set their
 * threads (default: the CPUs). Here each thread past the first is a Worker
 * of ~17 MiB, so more than the CPUs buy nothing and are cut to their number,
 * with a warning. Values the official runner refuses (not a whole number,
 * below 1) are warned about and the default is used: a typo in a tuning
 * variable should not fail the job. The archiver's call also warns about
 * FASTZIP_ARCHIVER_BUFFER_SIZE, which nothing here uses.
 */
export type ThreadsVariable = "FASTZIP_ARCHIVER_CONCURRENCY" | "FASTZIP_EXTRACTOR_CONCURRENCY";

export function fastzipThreads(
  variable: ThreadsVariable,
  isFastzip: boolean,
  lookup: (key: string) => string | undefined,
  cpus: number,
  warn: (message: string) => void,
): number {
  const value = lookup(variable) ?? "";
  if (variable === "FASTZIP_ARCHIVER_CONCURRENCY") {
    const warning = bufferSizeWarning(lookup);
    if (warning !== null) warn(warning);
  }
  if (!isFastzip) {
    if (value !== "") warn(`${variable} is used only with FF_USE_FASTZIP: using one thread`);
    return 1;
  }
  const most = Math.max(1, Math.floor(cpus));
  if (value === "") return most;
  const n = /^[+-]?[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    warn(
      `${variable} "${value}" is not a whole number of 1 or more: using ${most} ` +
        "(the number of CPUs)",
    );
    return most;
  }
  if (n > most) {
    warn(`${variable} ${n} is more than the ${most} CPUs here: using ${most}`);
    return most;
  }
  return n;
}

/** The warning for FASTZIP_ARCHIVER_BUFFER_SIZE, when it is set: nothing here stages on disk. */
export function bufferSizeWarning(lookup: (key: string) => string | undefined): string | null {
  const key = "FASTZIP_ARCHIVER_BUFFER_SIZE";
  return lookup(key)
    ? `${key} is not used: this runner compresses in units of 256 KiB held in memory ` +
      "and stages nothing on disk"
    : null;
}
