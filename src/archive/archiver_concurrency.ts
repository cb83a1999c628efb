/**
 * How many threads compress a job's archives. As in the official runner,
 * FF_USE_FASTZIP switches to the concurrent archiver and
 * FASTZIP_ARCHIVER_CONCURRENCY sets its threads (default: the CPUs). Here
 * each thread past the first is a Worker of ~20 MiB, so more than the CPUs
 * buy nothing and are cut to their number, with a warning. Values the
 * official runner refuses (not a whole number, below 1) are warned about and
 * the default is used: a typo in a tuning variable should not fail the job.
 */
export const CONCURRENCY_VARIABLE = "FASTZIP_ARCHIVER_CONCURRENCY";
const BUFFER_VARIABLE = "FASTZIP_ARCHIVER_BUFFER_SIZE";

export function archiverConcurrency(
  isFastzip: boolean,
  lookup: (key: string) => string | undefined,
  cpus: number,
  warn: (message: string) => void,
): number {
  const value = lookup(CONCURRENCY_VARIABLE) ?? "";
  if (lookup(BUFFER_VARIABLE)) {
    warn(
      `${BUFFER_VARIABLE} is not used: this runner compresses in units of 1 MiB held in memory ` +
        "and stages nothing on disk",
    );
  }
  if (!isFastzip) {
    if (value !== "") {
      warn(`${CONCURRENCY_VARIABLE} is used only with FF_USE_FASTZIP: compressing on one thread`);
    }
    return 1;
  }
  const most = Math.max(1, Math.floor(cpus));
  if (value === "") return most;
  const n = /^[+-]?[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    warn(
      `${CONCURRENCY_VARIABLE} "${value}" is not a whole number of 1 or more: using ${most} ` +
        "(the number of CPUs)",
    );
    return most;
  }
  if (n > most) {
    warn(`${CONCURRENCY_VARIABLE} ${n} is more than the ${most} CPUs here: using ${most}`);
    return most;
  }
  return n;
}

/** The warning for FASTZIP_EXTRACTOR_CONCURRENCY, when it is set: extraction here has one thread. */
export function extractorConcurrencyWarning(
  lookup: (key: string) => string | undefined,
): string | null {
  const key = "FASTZIP_EXTRACTOR_CONCURRENCY";
  return lookup(key)
    ? `${key} is not used: this runner extracts on one thread (as fast as unzip on one core)`
    : null;
}
