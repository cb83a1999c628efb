/**
 * Deflate and inflate on more than one core, for FF_USE_FASTZIP: pieces of
 * work ("units": a batch of small files or entries, or one block of a large
 * file) are done either by this thread or by one of a few Workers. Deno 2.9.6
 * runs node:zlib's asynchronous calls on the calling thread (see _deflate.ts),
 * so a Worker is the only way to a second core; each costs ~17 MiB of RSS
 * before any work (its isolate and its own node:zlib: ~10 MiB anonymous, ~7
 * MiB of deno's code pages; a Worker without node:zlib ~12), which is why this
 * is opt-in and the default writer and extractor stay on one thread within 64
 * MiB: the one-thread archive of scripts/bench/archive.ts peaks at 61 MiB.
 *
 * `processUnit` is the one implementation of the work: this thread calls it,
 * and each Worker runs its source text (it must stay self-contained: no
 * reference to anything outside its own body but its parameters).
 */
import zlib from "node:zlib";

/**
 * Largest raw bytes in one unit. Units of 1 MiB (2.2 MiB with their output)
 * put a 2-thread archive of scripts/bench/archive.ts at 88 MiB: ~10 MiB of
 * units out at once, and the archiving thread's heap grew from 13 to 20 MiB
 * (the entries waiting for their unit outlived enough collections to reach
 * V8's old space). Units of 256 KiB: 81-82 MiB (heap 13-15, units ~4),
 * extraction 77 instead of 81-82, as fast quiet and beside two busy cores; a
 * unit still holds ~40 files of a node_modules tree.
 */
export const UNIT_BYTES = 256 << 10;
/** Most small files in one unit. */
export const UNIT_PIECES = 512;

/**
 * How a unit's pieces are deflated (plain numbers: `processUnit` must not
 * refer to anything outside itself).
 */
export type UnitMode = typeof FILES | typeof BLOCK | typeof LAST_BLOCK | typeof INFLATE;
/** Each piece a whole raw-deflate stream, or stored when that is not smaller. */
export const FILES = 0;
/** One piece, a block of a stream cut into blocks: ends with a sync flush. */
export const BLOCK = 1;
/** One piece, the last block of such a stream: ends the stream. */
export const LAST_BLOCK = 2;
/**
 * Each piece inflated (or copied, when `stored`) from `raw[starts..ends]`
 * into `out` at its place (`outEnds` holds where each piece's declared size
 * ends) and checked against its declared size and CRC-32 (`crcs`); `status`
 * tells each piece's outcome.
 */
export const INFLATE = 3;

/** An inflated piece's outcome (INFLATE mode). */
export const PIECE_OK = 0;
/** zlib refused the data: `corruption` holds its words. */
export const PIECE_CORRUPT = 1;
/** It inflates past its declared size. */
export const PIECE_TOO_LARGE = 2;
/** It inflates to fewer bytes than declared: `ends[p]` holds how many. */
export const PIECE_SHORT = 3;
/** Its CRC-32 differs: `crcs[p]` holds the one computed. */
export const PIECE_BAD_CRC = 4;

/**
 * One piece of work and the buffers for its answer. Its buffers travel to a
 * Worker and back (transferred), so only ever hold the unit, not its arrays.
 */
export interface DeflateUnit {
  mode: UnitMode;
  level: number;
  /** The pieces' bytes, one after the other. */
  raw: Uint8Array;
  /** How many pieces `raw` holds. */
  count: number;
  /** Start offset of each piece in `raw` (INFLATE mode; the others pack pieces). */
  starts: Uint32Array;
  /** End offset of each piece in `raw`. */
  ends: Uint32Array;
  /** Filled: the pieces' output, one after the other. */
  out: Uint8Array;
  /** Filled: end offset of each piece's output in `out`. */
  outEnds: Uint32Array;
  /**
   * Filled (Files mode): 1 for a piece stored as is (its bytes copied into
   * `out`). INFLATE mode: 1 for a piece to copy, then its PIECE_* status.
   */
  stored: Uint8Array;
  /** Filled (Files mode): each piece's CRC-32. INFLATE mode: the expected ones. */
  crcs: Uint32Array;
  /** Set when zlib failed (never seen). */
  error: string | null;
  /** INFLATE mode: zlib's words for a PIECE_CORRUPT piece. */
  corruption: string | null;
}

export function newUnit(level: number): DeflateUnit {
  return {
    mode: FILES,
    level,
    raw: new Uint8Array(UNIT_BYTES),
    count: 0,
    starts: new Uint32Array(UNIT_PIECES),
    ends: new Uint32Array(UNIT_PIECES),
    // Every piece's deflate bound (see processUnit) fits.
    out: new Uint8Array(UNIT_BYTES + (UNIT_BYTES >>> 3) + 64 * UNIT_PIECES),
    outEnds: new Uint32Array(UNIT_PIECES),
    stored: new Uint8Array(UNIT_PIECES),
    crcs: new Uint32Array(UNIT_PIECES),
    error: null,
    corruption: null,
  };
}

/** The zlib calls `processUnit` needs: node:zlib here, the Worker's own node:zlib there. */
export interface UnitZlib {
  createDeflateRaw(options: { level: number }): unknown;
  createInflateRaw(): unknown;
  crc32(data: Uint8Array, value?: number): number;
  constants: { Z_FINISH: number; Z_SYNC_FLUSH: number };
}

/**
 * Does `unit`'s work in place through `states` (one native zlib state per
 * deflate level, and one for inflate under -1, made on first use and reset
 * between pieces; see RawDeflater in _deflate.ts for why not the one-shot
 * calls). Self-contained: a Worker runs its source text.
 */
export function processUnit(
  z: UnitZlib,
  states: Map<number, unknown>,
  unit: DeflateUnit,
): void {
  type Native = {
    handle: {
      writeSync(
        f: number,
        i: Uint8Array,
        io: number,
        il: number,
        o: Uint8Array,
        oo: number,
        ol: number,
      ): void;
      reset(): void;
      onerror: (m: string) => void;
    };
    state: Uint32Array;
    error: string | null;
  };
  const key = unit.mode === 3 ? -1 : unit.level;
  let native = states.get(key) as Native | undefined;
  if (native === undefined) {
    const s = (key === -1 ? z.createInflateRaw() : z.createDeflateRaw({ level: unit.level })) as {
      _handle: Native["handle"];
      _writeState: Uint32Array;
    };
    const made: Native = { handle: s._handle, state: s._writeState, error: null };
    made.handle.onerror = (m) => {
      made.error = m;
    };
    states.set(key, made);
    native = made;
  }
  if (unit.mode === 3) {
    // Each piece gets its declared size and one byte more: filling that byte
    // means it lies about its size. The byte is the next piece's first (not
    // written yet) or the spare at the end of `out`.
    let at = 0;
    for (let p = 0; p < unit.count; p++) {
      const start = unit.starts[p] as number;
      const length = (unit.ends[p] as number) - start;
      const size = (unit.outEnds[p] as number) - at;
      let filled = length;
      if (unit.stored[p] === 1) {
        unit.out.set(unit.raw.subarray(start, start + length), at);
      } else {
        native.handle.reset();
        native.error = null;
        native.handle.writeSync(
          z.constants.Z_FINISH,
          unit.raw,
          start,
          length,
          unit.out,
          at,
          size + 1,
        );
        if (native.error !== null) {
          unit.stored[p] = 1;
          unit.corruption = native.error;
          // zlib's state after an error is not reliably reset: start afresh.
          states.delete(key);
          return;
        }
        filled = size + 1 - (native.state[0] as number);
      }
      const expected = unit.crcs[p] as number;
      if (filled > size) unit.stored[p] = 2;
      else if (filled < size) {
        unit.stored[p] = 3;
        unit.ends[p] = filled;
      } else {
        const crc = z.crc32(unit.out.subarray(at, at + size)) >>> 0;
        unit.stored[p] = crc === expected ? 0 : 4;
        unit.crcs[p] = crc;
      }
      if (unit.stored[p] !== 0) return;
      at += size;
    }
    return;
  }
  const flush = unit.mode === 1 ? z.constants.Z_SYNC_FLUSH : z.constants.Z_FINISH;
  let start = 0;
  let at = 0;
  for (let p = 0; p < unit.count; p++) {
    const end = unit.ends[p] as number;
    const length = end - start;
    const piece = unit.raw.subarray(start, end);
    if (unit.mode === 0) unit.crcs[p] = z.crc32(piece) >>> 0;
    // Room for one call to finish: level 1 (zlib-rs's quick strategy, static
    // Huffman codes) grows random bytes by up to 1/8 (9-bit literals).
    const room = length + (length >>> 3) + 64;
    native.handle.reset();
    native.handle.writeSync(flush, piece, 0, length, unit.out, at, room);
    const free = native.state[0] as number;
    const unread = native.state[1] as number;
    if (native.error !== null || unread !== 0 || free === 0) {
      unit.error = `zlib failed: ${native.error ?? "its output did not fit"}`;
      states.delete(unit.level);
      return;
    }
    let written = room - free;
    unit.stored[p] = 0;
    if (unit.mode === 0 && (written >= length || length === 0)) {
      // Not smaller deflated (or empty): stored, as zip(1) does.
      unit.out.set(piece, at);
      written = length;
      unit.stored[p] = 1;
    }
    at += written;
    unit.outEnds[p] = at;
    start = end;
  }
}

/**
 * The Worker: node:zlib and `processUnit`, answering each unit with itself.
 * Its first message is a shared counter it bumps as each answer leaves, so
 * the pool's thread can tell, without waiting, that one is on its way.
 */
const WORKER_SOURCE = `import zlib from "node:zlib";
const processUnit = ${processUnit.toString()};
const states = new Map();
let answered = null;
self.postMessage("ready");
self.onmessage = (e) => {
  if (answered === null) {
    answered = e.data;
    return;
  }
  const unit = e.data;
  processUnit(zlib, states, unit);
  Atomics.add(answered, 0, 1);
  self.postMessage(unit, transfers(unit));
};
${transfers.toString()}
`;

/** The buffers a unit moves with when it is posted. */
function transfers(unit: DeflateUnit): ArrayBuffer[] {
  return [unit.raw, unit.starts, unit.ends, unit.out, unit.outEnds, unit.stored, unit.crcs].map((
    a,
  ) => a.buffer as ArrayBuffer);
}

const localStates = new Map<number, unknown>();

/** Units to fill, made as needed and given back once used. */
export class UnitStock {
  readonly #level: number;
  readonly #free: DeflateUnit[] = [];

  constructor(level: number) {
    this.#level = level;
  }

  take(): DeflateUnit {
    const unit = this.#free.pop() ?? newUnit(this.#level);
    unit.count = 0;
    unit.error = null;
    unit.corruption = null;
    return unit;
  }

  give(unit: DeflateUnit): void {
    this.#free.push(unit);
  }
}

interface Job {
  unit: DeflateUnit;
  answer: Promise<DeflateUnit>;
  resolve: (unit: DeflateUnit) => void;
  reject: (err: Error) => void;
  isSettled: boolean;
}

/**
 * Up to `workers` Worker threads, started at the second unit (an archive of
 * one unit is done here before a Worker could start). `submit` queues a unit
 * for the next free Worker; `result` waits for a unit's answer and, while it
 * waits, does queued units on this thread (so this thread (de)compresses
 * only when it has nothing else to do, and everything when no Worker is up
 * yet or none can start). `close` ends them all.
 */
export class DeflatePool {
  readonly #size: number;
  readonly #idle: Worker[] = [];
  readonly #all: Worker[] = [];
  readonly #busy = new Map<Worker, Job>();
  readonly #queue: Job[] = [];
  readonly #jobs = new Map<DeflateUnit, Job>();
  /** Answers the Workers have sent (bumped by them) and this thread has received. */
  readonly #sent = new Int32Array(new SharedArrayBuffer(4));
  #received = 0;
  #onAnswer: (() => void)[] = [];
  #submitted = 0;
  #started = false;
  #url: string | null = null;
  /** Why no Worker could start, if so. */
  failure: string | null = null;

  constructor(workers: number) {
    this.#size = workers;
  }

  /** How many Workers it runs, or will. */
  get size(): number {
    return this.#size;
  }

  /**
   * Queues `unit` for deflating; its buffers may be away until `result`
   * gives it (or the unit that came back in its place) back.
   */
  submit(unit: DeflateUnit): void {
    if (++this.#submitted === 2) this.#start();
    let resolve!: (unit: DeflateUnit) => void;
    let reject!: (err: Error) => void;
    const answer = new Promise<DeflateUnit>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    answer.catch(() => {});
    const job: Job = { unit, answer, resolve, reject, isSettled: false };
    this.#jobs.set(unit, job);
    this.#queue.push(job);
    this.#pump();
  }

  /** Whether `unit`'s answer is in (true for null: nothing to wait for). */
  isDone(unit: DeflateUnit | null): boolean {
    return unit === null || (this.#jobs.get(unit)?.isSettled ?? true);
  }

  /**
   * The deflated unit for a submitted `unit`: rejects when zlib or the
   * Worker failed. While no answer is on its way, this thread deflates the
   * oldest queued unit, then looks again.
   */
  async result(unit: DeflateUnit): Promise<DeflateUnit> {
    const job = this.#jobs.get(unit);
    if (job === undefined) throw new TypeError("DeflatePool.result: a unit that was not submitted");
    while (!job.isSettled) {
      const isAnswerComing = Atomics.load(this.#sent, 0) > this.#received;
      if (isAnswerComing || !this.#helpHere()) {
        await new Promise<void>((resolve) => this.#onAnswer.push(resolve));
      }
    }
    this.#jobs.delete(unit);
    return await job.answer;
  }

  close(): void {
    for (const worker of this.#all) worker.terminate();
    const stopped = new Error("Cannot compress: the archive was stopped");
    for (const job of this.#jobs.values()) settle(job, stopped);
    this.#wake();
    this.#jobs.clear();
    this.#busy.clear();
    this.#queue.length = 0;
    this.#idle.length = 0;
    this.#all.length = 0;
    if (this.#url !== null) URL.revokeObjectURL(this.#url);
    this.#url = null;
  }

  /** Deflates the oldest queued unit here; false when none waits. */
  #helpHere(): boolean {
    const job = this.#queue.shift();
    if (job === undefined) return false;
    processUnit(zlib as unknown as UnitZlib, localStates, job.unit);
    settle(job, job.unit);
    return true;
  }

  #pump(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop() as Worker;
      const job = this.#queue.shift() as Job;
      this.#busy.set(worker, job);
      worker.postMessage(job.unit, transfers(job.unit));
    }
  }

  #wake(): void {
    const waiting = this.#onAnswer;
    this.#onAnswer = [];
    for (const resolve of waiting) resolve();
  }

  #start(): void {
    if (this.#started || this.#size === 0) return;
    this.#started = true;
    // Its code travels as a blob: an executor process run from source may
    // read none of src/. The Worker has its process's permissions (narrowing
    // them needs --unstable-worker-options, without which Deno ends the
    // process rather than throw; revoking in a Worker revokes for the whole
    // process): it runs only `processUnit` on the bytes it is given.
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    this.#url = url;
    try {
      for (let i = 0; i < this.#size; i++) {
        const worker = new Worker(url, { type: "module" });
        worker.postMessage(this.#sent);
        worker.onmessage = (e: MessageEvent<DeflateUnit | "ready">) => {
          if (e.data === "ready") {
            this.#idle.push(worker);
            this.#pump();
            return;
          }
          this.#received++;
          const job = this.#busy.get(worker);
          this.#busy.delete(worker);
          this.#idle.push(worker);
          if (job !== undefined) settle(job, e.data);
          this.#pump();
          this.#wake();
        };
        worker.onerror = (e: ErrorEvent) => {
          // A Worker that failed is dropped and its unit done again here,
          // where a real failure throws to the archive's caller.
          e.preventDefault();
          worker.terminate();
          const job = this.#busy.get(worker);
          this.#busy.delete(worker);
          this.#all.splice(this.#all.indexOf(worker), 1);
          if (this.#all.length === 0) this.failure = e.message;
          const idle = this.#idle.indexOf(worker);
          if (idle >= 0) this.#idle.splice(idle, 1);
          if (job !== undefined) this.#queue.unshift(job);
          this.#wake();
        };
        this.#all.push(worker);
      }
    } catch (err) {
      // No Worker here: this thread does it all.
      this.failure = err instanceof Error ? err.message : String(err);
    }
  }
}

function settle(job: Job, answer: DeflateUnit | Error): void {
  if (job.isSettled) return;
  job.isSettled = true;
  if (answer instanceof Error) job.reject(answer);
  else if (answer.error !== null) job.reject(new Error(`Cannot compress: ${answer.error}`));
  else job.resolve(answer);
}
