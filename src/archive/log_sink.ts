/**
 * Where archive, cache and artifact steps report what the user should read in
 * the job log (the trace). One call per line, without the trailing newline;
 * warnings and errors carry the official `WARNING: ` / `ERROR: ` prefixes.
 * The trace layer masks and colours; this sink never throws.
 */
export type JobLogSink = (line: string) => void;
