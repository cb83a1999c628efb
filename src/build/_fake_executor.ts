/** An Executor for unit tests: records stage scripts, answers with scripted behaviour. */
import type { Executor, ExecutorPaths, JobOutput, StageScript } from "../executors/executor.ts";

export type StageBehaviour = (stage: StageScript, signal: AbortSignal) => Promise<number> | number;

/** Resolves when `signal` aborts (the fake "script" was killed). */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

export class FakeExecutor implements Executor {
  readonly shell = "bash" as const;
  readonly paths: ExecutorPaths = {
    buildsDir: "/builds",
    cacheDir: "/cache",
    isBuildsDirShared: true,
  };
  readonly isSharedEnvironment = true;
  readonly runs: StageScript[] = [];
  cleanups = 0;
  finishes = 0;
  prepareFailures = 0;
  #prepareErrors: Error[];
  readonly #behaviour: Record<string, StageBehaviour>;
  readonly #output: JobOutput;

  constructor(
    output: JobOutput,
    behaviour: Record<string, StageBehaviour> = {},
    options: { prepareErrors?: Error[] } = {},
  ) {
    this.#output = output;
    this.#behaviour = behaviour;
    this.#prepareErrors = [...(options.prepareErrors ?? [])];
  }

  get stages(): string[] {
    return this.runs.map((r) => r.stage);
  }

  /** The body (inside the official eval wrapper) of the script last run for `stage`. */
  scriptOf(stage: string): string {
    const run = this.runs.findLast((r) => r.stage === stage);
    if (!run) throw new Error(`stage ${stage} did not run; ran ${this.stages.join(", ")}`);
    const start = run.script.indexOf("eval '");
    const end = run.script.lastIndexOf("') < /dev/null");
    if (start < 0 || end < 0) {
      throw new Error(`stage ${stage} script is not wrapped: ${run.script}`);
    }
    return run.script.slice(start + "eval '".length, end).replaceAll("'\\''", "'");
  }

  prepare(_signal: AbortSignal): Promise<void> {
    const error = this.#prepareErrors.shift();
    if (error) {
      this.prepareFailures++;
      return Promise.reject(error);
    }
    this.#output.write(new TextEncoder().encode("fake executor ready\n"));
    return Promise.resolve();
  }

  async run(stage: StageScript, signal: AbortSignal): Promise<number> {
    this.runs.push(stage);
    const behaviour = this.#behaviour[stage.stage];
    return behaviour ? await behaviour(stage, signal) : 0;
  }

  finishJob(): Promise<void> {
    this.finishes++;
    return Promise.resolve();
  }

  cleanup(): Promise<void> {
    this.cleanups++;
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }
}
