import type { ParseCacheStore } from "../pipeline/ci_yaml_parse_cache.ts";
import { dirname } from "../path/host_path.ts";

/**
 * `runner exec`'s parse cache on disk: one JSON file in the project's state
 * directory, replaced whole by a rename, so that two runs at once each read
 * a complete document (the last writer wins).
 */
export function parseCacheFile(path: string): ParseCacheStore {
  return {
    async read() {
      try {
        return await Deno.readTextFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return null;
        throw error;
      }
    },
    async write(text) {
      await Deno.mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${crypto.randomUUID()}.tmp`;
      try {
        await Deno.writeTextFile(temporary, text, { mode: 0o600 });
        await Deno.rename(temporary, path);
      } catch (error) {
        await Deno.remove(temporary).catch(() => {});
        throw error;
      }
    },
  };
}
