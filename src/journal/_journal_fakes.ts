/** Small fakes for journal/ unit tests. */
import type { LogFields, Logger } from "../log/logger.ts";
import type {
  JobRef,
  JobUpdate,
  PatchResult,
  TraceTransport,
  UpdateResult,
} from "../trace/transport.ts";
import type { JournalStore } from "./journal_store.ts";

/** Keeps the journal in memory; `failWrites` makes writes, appends and replaces throw like a full disk. */
export class MemoryJournalStore implements JournalStore {
  readonly path = "/state/journal/jobs.jsonl";
  text: string;
  failWrites = false;
  appends = 0;
  writes = 0;
  replaces = 0;
  isClosed = false;

  constructor(text = "") {
    this.text = text;
  }

  read(): Promise<string> {
    return Promise.resolve(this.text);
  }

  write(text: string): void {
    if (this.failWrites) throw new Error("No space left on device (os error 28)");
    this.writes++;
    this.text += text;
  }

  append(text: string): Promise<void> {
    if (this.failWrites) return Promise.reject(new Error("No space left on device (os error 28)"));
    this.appends++;
    this.text += text;
    return Promise.resolve();
  }

  replace(text: string): Promise<void> {
    if (this.failWrites) return Promise.reject(new Error("No space left on device (os error 28)"));
    this.replaces++;
    this.text = text;
    return Promise.resolve();
  }

  close(): void {
    this.isClosed = true;
  }
}

export class RecordingLogger implements Logger {
  constructor(
    private readonly base: LogFields = {},
    readonly records: { level: string; msg: string; fields: LogFields }[] = [],
  ) {}
  #add(level: string, msg: string, fields: LogFields = {}): void {
    this.records.push({ level, msg, fields: { ...this.base, ...fields } });
  }
  debug(msg: string, fields?: LogFields): void {
    this.#add("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#add("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#add("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#add("error", msg, fields);
  }
  child(fields: LogFields): Logger {
    // Children share the parent's record list.
    return new RecordingLogger({ ...this.base, ...fields }, this.records);
  }
}

/** A GitLab job store behind the TraceTransport seam, with scripted answers. */
export class FakeTraceTransport implements TraceTransport {
  trace = new Uint8Array(0);
  status: "running" | "success" | "failed" | "gone" = "running";
  updates: JobUpdate[] = [];
  /** Answers handed out first, one per call, before the normal behaviour. */
  patchScript: PatchResult[] = [];
  updateScript: UpdateResult[] = [];

  constructor(readonly token: string, trace = "") {
    this.trace = new TextEncoder().encode(trace);
  }

  get traceText(): string {
    return new TextDecoder().decode(this.trace);
  }

  patchTrace(job: JobRef, chunk: Uint8Array, start: number): Promise<PatchResult> {
    const scripted = this.patchScript.shift();
    if (scripted) return Promise.resolve(scripted);
    if (this.status === "gone") return Promise.resolve({ kind: "not-found" });
    if (job.token !== this.token || this.status !== "running") {
      return Promise.resolve({ kind: "abort" });
    }
    if (start !== this.trace.byteLength) {
      return Promise.resolve({ kind: "range-mismatch", serverSize: this.trace.byteLength });
    }
    const next = new Uint8Array(this.trace.byteLength + chunk.byteLength);
    next.set(this.trace);
    next.set(chunk, this.trace.byteLength);
    this.trace = next;
    return Promise.resolve({ kind: "accepted" });
  }

  updateJob(job: JobRef, update: JobUpdate): Promise<UpdateResult> {
    const scripted = this.updateScript.shift();
    if (scripted) return Promise.resolve(scripted);
    if (this.status === "gone") return Promise.resolve({ kind: "not-found" });
    if (job.token !== this.token || this.status !== "running") {
      return Promise.resolve({ kind: "abort" });
    }
    this.updates.push(update);
    if (update.state !== "running") this.status = update.state;
    return Promise.resolve({ kind: "ok" });
  }
}
