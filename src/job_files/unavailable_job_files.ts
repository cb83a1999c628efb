import type { ScratchSpace } from "../artifacts/scratch_space.ts";
import type { CacheStore } from "../cache/cache_store.ts";
import { JobFailedError } from "../job/failure_reason.ts";
import type { JobFiles, SourceSession, TargetSession } from "./job_files.ts";

/**
 * `JobFiles` for an executor whose files this runner cannot reach yet: jobs
 * without artifacts or cache run normally; a stage that needs the files fails
 * with a message naming the executor.
 */
export class UnavailableJobFiles implements JobFiles {
  readonly #executor: string;

  constructor(executor: string) {
    this.#executor = executor;
  }

  #fail(): never {
    throw new JobFailedError(
      "runner_system_failure",
      `Artifacts and cache are not supported with the "${this.#executor}" executor yet: remove "artifacts", "cache" and "dependencies" from the job or use the shell, docker or ssh executor`,
    );
  }

  get scratch(): ScratchSpace {
    return this.#fail();
  }

  openSource(): Promise<SourceSession> {
    return Promise.reject(this.#error());
  }

  openTarget(): Promise<TargetSession> {
    return Promise.reject(this.#error());
  }

  cacheStore(): CacheStore {
    return this.#fail();
  }

  commandRunner(): undefined {
    return undefined;
  }

  readFile(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(0));
  }

  #error(): unknown {
    try {
      this.#fail();
    } catch (err) {
      return err;
    }
  }
}
