import { isRunnerStream, type OutputStream } from "../job/output_stream.ts";
import type { ByteSink } from "./byte_sink.ts";
import { formatChecksum } from "./crc32_format.ts";
import { LineTimestamper } from "./line_timestamper.ts";
import { DEFAULT_OUTPUT_LIMIT_BYTES, OutputLimiter } from "./output_limiter.ts";
import { TraceMasker, type TraceMaskerOptions } from "./trace_masker.ts";
import type { TraceStore } from "./trace_store.ts";
import { type IsUtf8, Utf8Sanitizer } from "./utf8_sanitizer.ts";

export interface JobTraceOptions {
  /** What to mask, see `maskOptionsForJob`. */
  mask: TraceMaskerOptions;
  /** `output_limit` in KiB; 0 means the default 4096 KiB. */
  outputLimitKiB: number;
  /** Where the stored bytes go; closed by `JobTrace[Symbol.dispose]`. */
  store: TraceStore;
  /**
   * FF_TIMESTAMPS: prefix every line with its time and stream, as the
   * official runner does (see `LineTimestamper`). Default false.
   */
  isTimestamped?: boolean;
  /** Milliseconds since the epoch, for the line stamps. Default: the system clock. */
  now?: () => number;
  /**
   * The CRC-32 `checksum()` keeps over the stored bytes (`crc32` of crc32.ts,
   * for GitLab's final update), or null for a log nobody checks (`runner
   * exec`'s terminal): crc32.ts loads node:zlib, and with it Deno's Node
   * compatibility, tens of ms of CPU before exec's first job.
   */
  crc32: Crc32 | null;
  /**
   * node:buffer's `isUtf8`, the UTF-8 check's fast path for well-formed
   * writes (the poller's trace sessions), or null for the JavaScript check
   * alone (`runner exec`: no Node compatibility to load before its first job).
   */
  isUtf8: IsUtf8 | null;
}

/**
 * Milliseconds since the epoch with sub-millisecond steps: the wall clock read
 * now, then advanced by the monotonic clock. Taken per job, so a job's stamps
 * follow the wall clock as it is when the job starts. (`performance.timeOrigin`
 * is the wall clock when the process started: a poller started before NTP set
 * the time, or one whose host slept, stamped every later job's lines that far
 * off.)
 */
function wallClockNow(): () => number {
  const origin = Date.now() - performance.now();
  return () => origin + performance.now();
}

/** CRC-32 of `data`, continuing from `previous` (the CRC of the bytes before it). */
export type Crc32 = (data: Uint8Array, previous: number) => number;

/** The runner's marker at the end of a stage (build/job_log.ts `sectionEnd`). */
const SECTION_END = new TextEncoder().encode("section_end:");

function startsWith(chunk: Uint8Array, prefix: Uint8Array): boolean {
  if (chunk.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (chunk[i] !== prefix[i]) return false;
  return true;
}

/** One stream's own masker and UTF-8 state, then (stamped) its own line stamper. */
interface Lane {
  masker: TraceMasker;
  utf8: Utf8Sanitizer;
  stamper: LineTimestamper | null;
}

const STREAM_HEADERS: Record<OutputStream, { streamId: number; streamType: "O" | "E" }> = {
  runner: { streamId: 0, streamType: "O" },
  "runner_stderr": { streamId: 0, streamType: "E" },
  stdout: { streamId: 1, streamType: "O" },
  stderr: { streamId: 1, streamType: "E" },
  service: { streamId: 15, streamType: "O" },
};

/**
 * One job's log, from the raw bytes an executor writes to what GitLab stores:
 * mask secrets → replace invalid UTF-8 → (FF_TIMESTAMPS) stamp lines → cut at
 * `output_limit` → store, with CRC-32 and size kept over exactly the stored
 * bytes (spec §4.4).
 *
 * Each stream (runner, stdout, stderr) has its own masker and UTF-8 check,
 * and stamped its own stamper, as upstream where each stream gets its own
 * writer chain: a secret the script writes in pieces stays masked when the
 * other stream writes between them (one masker for all saw
 * `pass=Zq9xK2mPprogress\n7vLw4Rt8`), and masking comes before stamping, so a
 * secret is masked even where a long line is split into `+` entries, and the
 * stamper sees whole lines of one stream. Upstream closes the script's streams at the
 * end of each stage, ending a partial last line there; here a write on the
 * runner's stream ends the script's partial lines (the runner writes between
 * stages), so the runner's lines never wait behind a script line without
 * `\n`. It only ends the line: the script's maskers keep what they hold back,
 * so a runner line in the middle of a secret does not unmask it. The runner's
 * `section_end:` marker is the end of a stage: there the script's maskers and
 * UTF-8 checks give up what they hold back, as upstream's stage streams do when
 * they close, so the tail of a stage's output (a word ending in `g`, which may
 * begin `glpat-`) is stored in its stage, not after `Job succeeded`, and a
 * token the stage ended in does not swallow the next stage's first word.
 *
 * Call order: `write` any number of times, `close` once the job's output has
 * ended (it flushes bytes held back because they may begin a secret or a
 * character), then read `checksum()`/`size` for the final update. Writes after
 * `close` are dropped: a late straggler must not fail the job. `read` works
 * at any time and serves the uploader. Disposing releases the store (memory
 * and temporary file); `close` and dispose may both run twice.
 */
export class JobTrace implements ByteSink, Disposable {
  readonly #store: TraceStore;
  readonly #mask: TraceMaskerOptions;
  readonly #limiter: OutputLimiter;
  readonly #isTimestamped: boolean;
  readonly #now: () => number;
  readonly #lanes = new Map<OutputStream, Lane>();
  readonly #crc32: Crc32 | null;
  readonly #isUtf8: IsUtf8 | null;
  #crc = 0;
  #isClosed = false;

  constructor(options: JobTraceOptions) {
    const kib = options.outputLimitKiB;
    if (!Number.isSafeInteger(kib) || kib < 0) {
      throw new RangeError(`Output limit must be a whole number of KiB, 0 or more: got ${kib}`);
    }
    this.#store = options.store;
    this.#crc32 = options.crc32;
    this.#isUtf8 = options.isUtf8;
    const crc32 = options.crc32;
    const stored: ByteSink = crc32 === null ? { write: (bytes) => this.#store.append(bytes) } : {
      write: (bytes) => {
        this.#crc = crc32(bytes, this.#crc);
        this.#store.append(bytes);
      },
    };
    // A limit past 2^53 bytes (output_limit above 8796093022207 KiB) is one no log reaches.
    const bytes = Math.min(kib * 1024, Number.MAX_SAFE_INTEGER);
    this.#limiter = new OutputLimiter(stored, kib === 0 ? DEFAULT_OUTPUT_LIMIT_BYTES : bytes);
    this.#mask = options.mask;
    this.#isTimestamped = options.isTimestamped ?? false;
    this.#now = options.now ?? wallClockNow();
  }

  /** Takes raw job output (any bytes, any split) from `stream` (default: the script's stdout). */
  write(chunk: Uint8Array, stream: OutputStream = "stdout"): void {
    if (this.#isClosed) return;
    if (isRunnerStream(stream)) {
      // A stage of the script has ended: end its partial lines first.
      const isStageEnd = startsWith(chunk, SECTION_END);
      this.#endScriptLane("stdout", isStageEnd);
      this.#endScriptLane("stderr", isStageEnd);
    } else if (stream === "service") {
      // A service's line (whole lines only) must not land inside a script line.
      this.#endScriptLane("stdout", false);
      this.#endScriptLane("stderr", false);
    }
    this.#lane(stream).masker.write(chunk);
  }

  /** Ends the output and flushes what was held back. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#closeLane("stdout");
    this.#closeLane("stderr");
    this.#closeLane("service");
    this.#closeLane("runner_stderr");
    this.#closeLane("runner");
  }

  #lane(stream: OutputStream): Lane {
    let lane = this.#lanes.get(stream);
    if (lane === undefined) {
      const stamper = this.#isTimestamped
        ? new LineTimestamper(this.#limiter, { ...STREAM_HEADERS[stream], now: this.#now })
        : null;
      const utf8 = new Utf8Sanitizer(stamper ?? this.#limiter, this.#isUtf8);
      lane = { masker: new TraceMasker(utf8, this.#mask), utf8, stamper };
      this.#lanes.set(stream, lane);
    }
    return lane;
  }

  /**
   * Ends the partial line of a script stream before a runner line; at a stage's
   * end also flushes what its masker and UTF-8 check hold back, and ends a
   * token or query value the stage's output ended in (the next stage's first
   * word is not a part of it).
   */
  #endScriptLane(stream: OutputStream, isStageEnd: boolean): void {
    const lane = this.#lanes.get(stream);
    if (lane === undefined) return;
    if (isStageEnd) {
      lane.masker.flush();
      lane.utf8.flush();
    }
    lane.stamper?.close();
  }

  #closeLane(stream: OutputStream): void {
    const lane = this.#lanes.get(stream);
    if (lane === undefined) return;
    lane.masker.close();
    lane.utf8.close();
    lane.stamper?.close();
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Stored bytes so far (the final update's `bytesize` once closed). */
  get size(): number {
    return this.#store.size;
  }

  /** Whether output was cut at the limit (the job still carries on). */
  get isOutputLimitExceeded(): boolean {
    return this.#limiter.isExceeded;
  }

  /** `crc32:%08x` over the stored bytes so far; a TypeError for a trace made without `crc32`. */
  checksum(): string {
    if (this.#crc32 === null) throw new TypeError("This job trace keeps no checksum");
    return formatChecksum(this.#crc);
  }

  /** Up to `maxLength` stored bytes from `offset`, for upload. */
  read(offset: number, maxLength: number): Uint8Array {
    return this.#store.read(offset, maxLength);
  }

  [Symbol.dispose](): void {
    this.close();
    this.#store.close();
  }
}
