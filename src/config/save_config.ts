/**
 * Writes config.toml for register, unregister, verify --delete, reset-token and
 * token rotation: mode 0600 in a 0700 directory (created when missing), atomically
 * (temporary file in the same directory, fsync, rename) so that a crash or a
 * concurrent reader never sees half a file.
 */
import { basename, dirname, join } from "../path/host_path.ts";
import type { GlobalConfig } from "./runner_config.ts";
import { encodeConfig } from "./encode_config.ts";

export async function saveConfig(path: string, config: GlobalConfig): Promise<void> {
  const text = encodeConfig(config);
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const suffix = crypto.randomUUID().slice(0, 8);
  const temp = join(dir, `.${basename(path)}.${suffix}.tmp`);
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      await file.sync();
    } finally {
      file.close();
    }
    // mode at creation is filtered by the umask; make sure it is exactly 0600.
    if (Deno.build.os !== "windows") await Deno.chmod(temp, 0o600);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw new Error(`Cannot save config file "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}
