/**
 * Runs a stage script as a child of the build container's main process, the
 * idle `sh` that reads its stdin, instead of a `docker exec`. An exec starts a
 * process through the container runtime (runc), 60–150 ms on a 2-core host; a
 * child of the main shell starts in about a millisecond.
 *
 * Only for stages the runner writes entirely (prepare_script,
 * cleanup_file_variables: no user command, nothing left in the background)
 * and only when the main process is that `sh` (no entrypoint): see
 * `DockerExecutor.run`.
 *
 * The main shell gets, over an attach to its stdin:
 *
 * ```sh
 * '/bin/bash' <<'<nonce>'
 * <the stage script>
 * <nonce>
 * s=$?; echo "<nonce>:$s"; echo "<nonce>:$s" >&2
 * ```
 *
 * The stage's shell reads the script from its stdin, as with an exec. The end
 * line goes to both streams: the Engine copies stdout and stderr separately,
 * so the stage's last stderr bytes may arrive after its stdout marker. The
 * nonce is random per stage and never in the environment, so the stage cannot
 * print it by chance.
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import type { JobOutput } from "../executor.ts";
import { ExecFrameDecoder } from "./exec_frames.ts";

/**
 * Finds the end line `<nonce>:<code>\n` in one output stream. What comes
 * before it is stage output; bytes that may be the start of the end line are
 * held back until the next chunk tells. Pure.
 */
export class StageEndScanner {
  readonly #nonce: Uint8Array;
  #pending = new Uint8Array(0);
  #exitCode: number | null = null;

  constructor(nonce: string) {
    this.#nonce = new TextEncoder().encode(nonce);
  }

  /** The code on the end line, once it arrived complete; null before. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** Stage output in `chunk` and what was held back; nothing once the end line came. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.#exitCode !== null) return new Uint8Array(0);
    const buf = concat(this.#pending, chunk);
    const at = indexOf(buf, this.#nonce);
    if (at >= 0) {
      const tail = buf.subarray(at + this.#nonce.length);
      const newline = tail.indexOf(0x0a);
      if (newline < 0) {
        this.#pending = buf.slice(at);
        return buf.slice(0, at);
      }
      const m = /^:(\d+)$/.exec(new TextDecoder().decode(tail.subarray(0, newline)));
      if (m) {
        this.#pending = new Uint8Array(0);
        this.#exitCode = Number(m[1]);
        return buf.slice(0, at);
      }
    }
    // Hold back the longest tail that could begin the end line.
    let keep = Math.min(this.#nonce.length - 1, buf.length);
    while (keep > 0 && !startsWith(this.#nonce, buf.subarray(buf.length - keep))) keep--;
    if (at >= 0) keep = 0;
    this.#pending = buf.slice(buf.length - keep);
    return buf.slice(0, buf.length - keep);
  }

  /** What is held back when the stream ended without an end line: stage output. */
  flush(): Uint8Array {
    const rest = this.#pending;
    this.#pending = new Uint8Array(0);
    return rest;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function startsWith(whole: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > whole.length) return false;
  for (let i = 0; i < prefix.length; i++) if (whole[i] !== prefix[i]) return false;
  return true;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (let i = haystack.indexOf(first!); i >= 0 && i + needle.length <= haystack.length;) {
    if (startsWith(haystack.subarray(i), needle)) return i;
    i = haystack.indexOf(first!, i + 1);
  }
  return -1;
}

function quoteShell(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

interface RunningStage {
  scanners: Record<"stdout" | "stderr", StageEndScanner>;
  output: JobOutput;
  finish: (code: number | null) => void;
}

/** One attach to a container's main shell; stages run one after the other. */
export class MainShell {
  readonly #stream: NodeJS.ReadWriteStream & { destroy(): void };
  readonly #decoder = new ExecFrameDecoder();
  #stage: RunningStage | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #isOpen = true;

  private constructor(stream: NodeJS.ReadWriteStream & { destroy(): void }) {
    this.#stream = stream;
    stream.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    const onEnd = () => this.#onEnd();
    stream.on("end", onEnd);
    stream.on("close", onEnd);
    stream.on("error", onEnd);
  }

  /** Attaches to the running container's stdin, stdout and stderr. */
  static async attach(container: Docker.Container): Promise<MainShell> {
    const stream = await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    }) as unknown as NodeJS.ReadWriteStream & { destroy(): void };
    return new MainShell(stream);
  }

  /** False once the attach ended (the container stopped, or `close`). */
  get isOpen(): boolean {
    return this.#isOpen;
  }

  /**
   * Runs `script` with the shell at `shellPath`, its output to `output`.
   * Resolves its exit code, or null when the attach ended first (the
   * container stopped or was killed).
   */
  run(shellPath: string, script: string, output: JobOutput): Promise<number | null> {
    const next = this.#queue.then(() => this.#runNow(shellPath, script, output));
    this.#queue = next.catch(() => {});
    return next;
  }

  #runNow(shellPath: string, script: string, output: JobOutput): Promise<number | null> {
    if (!this.#isOpen) return Promise.resolve(null);
    const nonce = `runner-stage-end-${crypto.randomUUID().replaceAll("-", "")}`;
    const body = script.endsWith("\n") || script === "" ? script : `${script}\n`;
    const command = `${quoteShell(shellPath)} <<'${nonce}'\n${body}${nonce}\n` +
      `s=$?; echo "${nonce}:$s"; echo "${nonce}:$s" >&2\n`;
    return new Promise<number | null>((resolve) => {
      this.#stage = {
        scanners: { stdout: new StageEndScanner(nonce), stderr: new StageEndScanner(nonce) },
        output,
        finish: (code) => {
          this.#stage = null;
          resolve(code);
        },
      };
      this.#stream.write(new TextEncoder().encode(command));
    });
  }

  #onData(chunk: Uint8Array): void {
    for (const frame of this.#decoder.frames(chunk)) {
      const stage = this.#stage;
      // Nothing runs between stages; a stray byte has no stage to belong to.
      if (stage === null) continue;
      const payload = stage.scanners[frame.stream].push(frame.payload);
      if (payload.length > 0) stage.output.write(payload, frame.stream);
      const { stdout, stderr } = stage.scanners;
      if (stdout.exitCode !== null && stderr.exitCode !== null) stage.finish(stdout.exitCode);
    }
  }

  #onEnd(): void {
    if (!this.#isOpen) return;
    this.#isOpen = false;
    const stage = this.#stage;
    if (stage === null) return;
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = stage.scanners[stream].flush();
      if (rest.length > 0) stage.output.write(rest, stream);
    }
    stage.finish(null);
  }

  /** Ends the attach; the main shell keeps running (its stdin is not closed). */
  close(): void {
    this.#stream.destroy();
    this.#onEnd();
  }
}
