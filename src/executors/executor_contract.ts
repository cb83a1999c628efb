/**
 * The behaviour every Executor must show, as a test suite each executor runs
 * from its integration test:
 *
 * ```ts
 * testExecutorContract("shell", (output) => Promise.resolve(new ShellExecutor({ …, output })));
 * ```
 *
 * `create` builds an executor writing to `output`; the suite calls `prepare`
 * itself and disposes the executor after each test. Pass `skip` (a reason) when
 * the executor's backend is absent; it is printed.
 */
import assert from "node:assert/strict";
import type { Executor, JobOutput } from "./executor.ts";
import { ScriptWriter } from "../shells/script_writer.ts";

/** Collects job output; lets a test wait until some text appeared. */
export class CollectedOutput implements JobOutput {
  readonly #chunks: Uint8Array[] = [];
  readonly #waiters: Array<() => void> = [];

  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk.slice());
    for (const wake of this.#waiters.splice(0)) wake();
  }

  text(): string {
    const all = new Uint8Array(this.#chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.#chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  }

  /** Resolves once the output contains `text`; rejects after `timeoutMs`. */
  async waitFor(text: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.text().includes(text)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Output never contained "${text}"; got: ${JSON.stringify(this.text())}`);
      }
      let id: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        id = setTimeout(resolve, Math.min(left, 500));
      });
      clearTimeout(id);
    }
  }
}

/** A stage script as runBuild would produce it: the official wrapper around `commands`. */
export function contractScript(commands: string[]): string {
  const w = new ScriptWriter({ tmpDir: "/tmp/runner-contract.tmp" });
  for (const command of commands) {
    w.line(command);
    w.checkForErrors();
  }
  return w.finish();
}

export function testExecutorContract(
  name: string,
  create: (output: JobOutput) => Promise<Executor>,
  options: { skip?: string } = {},
): void {
  const ignore = options.skip !== undefined;
  if (ignore) {
    // deno-lint-ignore no-console -- a skipped suite must say why on the test output
    console.log(`Skipping ${name} executor contract: ${options.skip}`);
  }
  const never = () => new AbortController().signal;

  /** A prepared executor; one whose prepare failed is cleaned up, as the seam requires. */
  async function prepared(output: CollectedOutput): Promise<Executor> {
    const executor = await create(output);
    try {
      await executor.prepare(never());
    } catch (err) {
      await executor.cleanup();
      throw err;
    }
    return executor;
  }

  Deno.test({
    name: `${name} executor reports the script's exit code`,
    ignore,
    fn: async () => {
      const output = new CollectedOutput();
      await using executor = await prepared(output);
      assert.equal(
        await executor.run({ stage: "step_script", script: contractScript(["exit 3"]) }, never()),
        3,
      );
      assert.equal(
        await executor.run({ stage: "step_script", script: contractScript(["true"]) }, never()),
        0,
      );
    },
  });

  Deno.test({
    name: `${name} executor stops at the first failing command`,
    ignore,
    fn: async () => {
      const output = new CollectedOutput();
      await using executor = await prepared(output);
      const code = await executor.run(
        { stage: "step_script", script: contractScript(["echo before", "false", "echo after"]) },
        never(),
      );
      assert.equal(code, 1);
      assert.match(output.text(), /before/);
      assert.doesNotMatch(output.text(), /after/);
    },
  });

  Deno.test({
    name: `${name} executor streams stdout and stderr to the job output`,
    ignore,
    fn: async () => {
      const output = new CollectedOutput();
      await using executor = await prepared(output);
      const code = await executor.run(
        { stage: "step_script", script: contractScript(["echo to-stdout", "echo to-stderr >&2"]) },
        never(),
      );
      assert.equal(code, 0);
      assert.match(output.text(), /to-stdout/);
      assert.match(output.text(), /to-stderr/);
    },
  });

  Deno.test({
    name: `${name} executor keeps the script away from commands that read stdin`,
    ignore,
    fn: async () => {
      const output = new CollectedOutput();
      await using executor = await prepared(output);
      const code = await executor.run(
        { stage: "step_script", script: contractScript(["cat >/dev/null", "echo still-running"]) },
        never(),
      );
      assert.equal(code, 0);
      assert.match(output.text(), /still-running/);
    },
  });

  Deno.test({
    name: `${name} executor abort kills the script and its background children`,
    ignore,
    fn: async () => {
      const output = new CollectedOutput();
      await using executor = await prepared(output);
      const pidFile = `${executor.paths.buildsDir}/contract-${crypto.randomUUID()}.pid`;
      const controller = new AbortController();
      const running = executor.run(
        {
          stage: "step_script",
          script: contractScript([
            `mkdir -p '${executor.paths.buildsDir}'`,
            `sleep 1000 & echo $! > '${pidFile}'`,
            "echo started",
            "wait",
          ]),
        },
        controller.signal,
      );
      await output.waitFor("started");
      controller.abort();
      const code = await running;
      assert.notEqual(code, 0);

      const check = await executor.run(
        {
          stage: "step_script",
          script: contractScript([
            // A killed child may linger as a zombie until init reaps it: that counts as gone. Up to
            // 30 s: on a loaded machine dockerd takes seconds to deliver the kill. Its pid may be
            // another process's by now (a restarted container numbers its processes afresh, this
            // check's own shell among them): only a `sleep 1000` there is the child.
            `pid="$(cat '${pidFile}')"`,
            "state=alive; i=0",
            'while [ $i -lt 300 ]; do if [ ! -r /proc/$pid/stat ] || [ "$(cut -d" " -f3 /proc/$pid/stat)" = Z ] || [ "$(tr -d \'\\000\' < /proc/$pid/cmdline 2>/dev/null)" != sleep1000 ]; then state=gone; break; fi; sleep 0.1; i=$((i+1)); done',
            'echo "child-$state"',
            `rm -f '${pidFile}'`,
          ]),
        },
        never(),
      );
      assert.equal(check, 0);
      assert.match(output.text(), /child-gone/);
    },
  });

  Deno.test({
    name: `${name} executor resolves at once for a signal aborted before run`,
    ignore,
    fn: async () => {
      const output = new CollectedOutput();
      await using executor = await prepared(output);
      const code = await executor.run(
        { stage: "step_script", script: contractScript(["sleep 1000"]) },
        AbortSignal.abort(),
      );
      assert.notEqual(code, 0);
    },
  });

  Deno.test({
    name: `${name} executor cleanup may run twice`,
    ignore,
    fn: async () => {
      const output = new CollectedOutput();
      const executor = await prepared(output);
      await executor.run({ stage: "step_script", script: contractScript(["true"]) }, never());
      await executor.cleanup();
      await executor.cleanup();
      await executor[Symbol.asyncDispose]();
    },
  });
}
