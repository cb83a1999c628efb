import type { CommandRunner } from "../artifacts/command_runner.ts";
import { LocalScratchSpace } from "../artifacts/local_scratch_space.ts";
import type { ScratchSpace } from "../artifacts/scratch_space.ts";
import type { CacheStore } from "../cache/cache_store.ts";
import { readTar } from "../archive/tar.ts";
import { ScriptCommandRunner } from "./script_command_runner.ts";
import { ContainerCacheStore } from "./container_cache_store.ts";
import { ContainerSnapshot } from "./container_snapshot.ts";
import { ContainerStagedTarget } from "./container_staged_target.ts";
import type { ContainerTarAccess } from "./container_tar_access.ts";
import type { JobFiles, ScriptRunner, SourceSession, TargetSession } from "./job_files.ts";

/**
 * `JobFiles` of the docker executor: the work happens in the executor
 * process on the runner host, and reaches the build container only through
 * the Engine archive API (no helper binary in the image). Project files are
 * snapshotted out (ContainerSnapshot) and extracted in
 * (ContainerStagedTarget); cache archives are read and written on the
 * container's `/cache` volume (ContainerCacheStore); downloads wait in the
 * executor process's temp dir.
 */
export class ContainerJobFiles implements JobFiles {
  readonly scratch: ScratchSpace;
  readonly #files: () => ContainerTarAccess;
  readonly #tempDir: string | undefined;

  /**
   * @param files the build container's files; called per stage, as the
   *   container exists only after prepare
   */
  constructor(files: () => ContainerTarAccess, options: { tempDir?: string } = {}) {
    this.#files = files;
    this.#tempDir = options.tempDir;
    this.scratch = new LocalScratchSpace(options.tempDir);
  }

  #temp(): { tempDir?: string } {
    return this.#tempDir === undefined ? {} : { tempDir: this.#tempDir };
  }

  async openSource(dir: string, signal: AbortSignal): Promise<SourceSession> {
    const source = await ContainerSnapshot.open(this.#files(), dir, { ...this.#temp(), signal });
    return { source, close: () => source.close() };
  }

  openTarget(dir: string): Promise<TargetSession> {
    return ContainerStagedTarget.open(this.#files(), dir, this.#temp());
  }

  cacheStore(root: string): CacheStore {
    return new ContainerCacheStore(this.#files(), root, this.#temp());
  }

  commandRunner(dir: string, runScript: ScriptRunner): CommandRunner {
    const files = this.#files();
    return new ScriptCommandRunner({
      tmpDir: `${dir.replace(/\/+$/, "")}.tmp`,
      runScript,
      readFile: (path) => readContainerFile(files, path),
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    return readContainerFile(this.#files(), path);
  }
}

/** Content of one file of the container, or empty when it is absent. */
async function readContainerFile(files: ContainerTarAccess, path: string): Promise<Uint8Array> {
  let tar: ReadableStream<Uint8Array>;
  try {
    tar = await files.getTar(path);
  } catch {
    return new Uint8Array(0);
  }
  const parts: Uint8Array[] = [];
  await readTar(tar, async (header, data) => {
    if (header.kind === "file") await data((chunk) => void parts.push(chunk.slice()));
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
