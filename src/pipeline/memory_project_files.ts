import type { ProjectFiles } from "./project_files.ts";

/** In-memory project for unit tests: path → text. */
export class MemoryProjectFiles implements ProjectFiles {
  readonly #files: Map<string, string>;
  readonly reads: string[] = [];
  constructor(files: Record<string, string>) {
    this.#files = new Map(Object.entries(files));
  }

  readText(path: string): Promise<string | null> {
    this.reads.push(path);
    return Promise.resolve(this.#files.get(path) ?? null);
  }

  readBytes(path: string): Promise<Uint8Array | null> {
    this.reads.push(path);
    const text = this.#files.get(path);
    return Promise.resolve(text === undefined ? null : new TextEncoder().encode(text));
  }

  listFiles(): Promise<string[]> {
    return Promise.resolve([...this.#files.keys()].sort());
  }
}
