import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigWatcher, type ConfigWatcherOptions } from "./config_watcher.ts";
import { ConfigError } from "./config_error.ts";
import { parseConfig } from "./parse_config.ts";
import type { GlobalConfig } from "./runner_config.ts";
import { loadConfigFile } from "./load_config.ts";

type Event =
  | { kind: "change"; config: GlobalConfig; summary: string }
  | { kind: "error"; error: ConfigError };

/** Collects watcher callbacks; next() waits for the next one (generous limit for loaded machines). */
class Recorder {
  readonly events: Event[] = [];
  #waiters: Array<(e: Event) => void> = [];
  #read = 0;

  push(event: Event): void {
    this.events.push(event);
    const waiter = this.#waiters.shift();
    if (waiter) waiter(event);
  }

  async next(): Promise<Event> {
    const index = this.#read++;
    const ready = this.events[index];
    if (ready) return ready;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        new Promise<Event>((resolve) => this.#waiters.push(resolve)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("no config watcher event within 30 s")),
            30_000,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function start(
  dir: string,
  path: string,
  debounceMs = 100,
  parse?: ConfigWatcherOptions["parse"],
  pollMs?: number,
): Promise<{ watcher: ConfigWatcher; events: Recorder }> {
  const events = new Recorder();
  const loaded = await loadConfigFile(path, { env: {}, missingFile: "empty" });
  const watcher = new ConfigWatcher({
    path,
    env: {},
    initial: loaded,
    debounceMs,
    ...(parse ? { parse } : {}),
    ...(pollMs ? { pollMs } : {}),
    onChange: (config, summary) => events.push({ kind: "change", config, summary }),
    onError: (error) => events.push({ kind: "error", error }),
  });
  assert.ok(dir);
  return { watcher, events };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "runner-watch-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const RUNNER = `[[runners]]\nname = "a"\ntoken = "glrt-abc123xyzQQQ"\nexecutor = "shell"\n`;

Deno.test("ConfigWatcher applies an in-place edit and skips writes that change nothing", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 4\n${RUNNER}`);
    const { watcher, events } = await start(dir, path);
    await using _ = watcher;
    await Deno.writeTextFile(path, `concurrent = 4\n${RUNNER}`);
    await Deno.writeTextFile(join(dir, "unrelated.txt"), "x");
    await Deno.writeTextFile(path, `concurrent = 8\n${RUNNER}`.replace("shell", "docker"));
    const event = await events.next();
    assert.equal(event.kind, "change");
    assert.equal(
      event.kind === "change" && event.summary,
      "concurrent 4 → 8; runner abc123xyz changed (executor, safe_directory_checkout, clean_git_config, custom_build_dir.enabled)",
    );
    assert.equal(watcher.config.concurrent, 8);
    assert.equal(events.events.length, 1);
  });
});

Deno.test("ConfigWatcher sees an editor's save by rename", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 1\n`);
    const { watcher, events } = await start(dir, path);
    await using _ = watcher;
    const temp = join(dir, ".config.toml.swp");
    await Deno.writeTextFile(temp, `concurrent = 3\n${RUNNER}`);
    await Deno.rename(temp, path);
    const event = await events.next();
    assert.equal(
      event.kind === "change" && event.summary,
      "concurrent 1 → 3; runner abc123xyz added",
    );
  });
});

Deno.test("ConfigWatcher follows a Kubernetes ConfigMap ..data symlink swap", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(join(dir, "..2024_01"));
    await Deno.writeTextFile(join(dir, "..2024_01", "config.toml"), `concurrent = 1\n`);
    await Deno.symlink("..2024_01", join(dir, "..data"));
    await Deno.symlink(join("..data", "config.toml"), join(dir, "config.toml"));
    const path = join(dir, "config.toml");
    const { watcher, events } = await start(dir, path);
    await using _ = watcher;
    // What the kubelet does: new timestamped dir, new symlink, rename over ..data.
    await Deno.mkdir(join(dir, "..2024_02"));
    await Deno.writeTextFile(join(dir, "..2024_02", "config.toml"), `concurrent = 6\n`);
    await Deno.symlink("..2024_02", join(dir, "..data_tmp"));
    await Deno.rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await Deno.remove(join(dir, "..2024_01"), { recursive: true });
    const event = await events.next();
    assert.equal(event.kind === "change" && event.summary, "concurrent 1 → 6");
  });
});

Deno.test("ConfigWatcher keeps the last good config on a broken edit, reports it once, then applies the fix", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 2\n${RUNNER}`);
    const { watcher, events } = await start(dir, path);
    await using _ = watcher;
    await Deno.writeTextFile(path, `concurrent = 2\n${RUNNER}limit = "two"\n`);
    const broken = await events.next();
    assert.equal(broken.kind, "error");
    assert.equal(broken.kind === "error" && broken.error.line, 6);
    assert.equal(
      broken.kind === "error" && broken.error.message,
      `${path}:6: key runners[0].limit must be an integer, got "two"`,
    );
    assert.equal(watcher.config.concurrent, 2);
    assert.equal(watcher.config.runners[0]?.limit, 0);
    // Unrelated activity in the directory does not report the same error again.
    await Deno.writeTextFile(join(dir, ".runner_system_id"), "s_0123456789ab");
    await Deno.writeTextFile(path, `concurrent = 2\n${RUNNER}limit = 2\n`);
    const fixed = await events.next();
    assert.equal(fixed.kind === "change" && fixed.summary, "runner abc123xyz changed (limit)");
    assert.equal(watcher.config.runners[0]?.limit, 2);
    assert.deepEqual(events.events.map((e) => e.kind), ["error", "change"]);
  });
});

Deno.test("ConfigWatcher refuses an edit that is not UTF-8 naming its line, once, and keeps the last good config", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 2\n${RUNNER}`);
    const { watcher, events } = await start(dir, path);
    await using _ = watcher;
    const bytes = new TextEncoder().encode(`concurrent = 2\n${RUNNER}`.replace('"a"', '"aX"'));
    bytes[bytes.indexOf("X".charCodeAt(0))] = 0xff;
    await Deno.writeFile(path, bytes);
    const broken = await events.next();
    assert.equal(
      broken.kind === "error" && broken.error.message,
      `${path}:3: Invalid UTF-8 at column 10: byte 0xff (TOML files must be UTF-8)`,
    );
    assert.equal(watcher.config.runners[0]?.name, "a");
    await Deno.writeTextFile(join(dir, "unrelated.txt"), "x");
    await Deno.writeTextFile(path, `concurrent = 2\n${RUNNER}`.replace('"a"', '"b"'));
    const fixed = await events.next();
    assert.equal(fixed.kind === "change" && fixed.summary, "runner abc123xyz changed (name)");
    assert.deepEqual(events.events.map((e) => e.kind), ["error", "change"]);
  });
});

Deno.test("ConfigWatcher.reload() (SIGHUP) re-reads the file at once", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `check_interval = 3\n`);
    // A debounce far longer than the test: only reload() can apply the edit.
    const { watcher, events } = await start(dir, path, 600_000);
    await using _ = watcher;
    await Deno.writeTextFile(path, `check_interval = 1\n`);
    const outcome = await watcher.reload();
    assert.deepEqual(outcome, { kind: "applied", summary: "check_interval 3 → 1" });
    assert.equal(watcher.config.checkInterval, 1);
    assert.deepEqual(await watcher.reload(), { kind: "unchanged" });
    await Deno.writeTextFile(path, `check_interval = = 1\n`);
    const failed = await watcher.reload();
    assert.equal(failed.kind, "failed");
    assert.equal(events.events.length, 2, "one change, one error");
    await watcher.close();
    await watcher.close();
  });
});

Deno.test("ConfigWatcher applies a file emptied on purpose, after a second look", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 5\n${RUNNER}`);
    const { watcher, events } = await start(dir, path);
    await using _ = watcher;
    await Deno.writeTextFile(path, "");
    const event = await events.next();
    assert.equal(
      event.kind === "change" && event.summary,
      "concurrent 5 → 1; runner abc123xyz removed",
    );
  });
});

Deno.test("ConfigWatcher parses an edit with its `parse` (errors included), and itself where that answers null", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `check_interval = 3\n`);
    const parsed: string[] = [];
    let isAnswering = true;
    // Another parser, told apart by the concurrent it gives.
    const parse = (text: string) => {
      parsed.push(text);
      if (!isAnswering) return Promise.resolve(null);
      if (text.includes("= =")) {
        return Promise.reject(
          new ConfigError([{ file: path, line: 1, key: "", message: "not TOML here" }]),
        );
      }
      const loaded = parseConfig(text, { file: path, env: {} });
      return Promise.resolve({ ...loaded, config: { ...loaded.config, concurrent: 7 } });
    };
    const { watcher, events } = await start(dir, path, 600_000, parse);
    await using _ = watcher;
    await Deno.writeTextFile(path, `check_interval = 1\n`);
    assert.deepEqual(await watcher.reload(), {
      kind: "applied",
      summary: "concurrent 1 → 7; check_interval 3 → 1",
    });
    assert.equal(watcher.config.concurrent, 7);
    await Deno.writeTextFile(path, `check_interval = = 1\n`);
    const failed = await watcher.reload();
    assert.equal(failed.kind === "failed" && failed.error.message, `${path}:1: not TOML here`);
    isAnswering = false;
    await Deno.writeTextFile(path, `check_interval = 2\n`);
    assert.equal((await watcher.reload()).kind, "applied");
    assert.equal(watcher.config.concurrent, 1, "parsed here: the file's own concurrent");
    assert.deepEqual(parsed, [
      "check_interval = 1\n",
      "check_interval = = 1\n",
      "check_interval = 2\n",
    ]);
    assert.deepEqual(events.events.map((e) => e.kind), ["change", "error", "change"]);
  });
});

Deno.test("ConfigWatcher follows config.toml turned into a link to another directory, and then edits there", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 1\n`);
    const { watcher, events } = await start(dir, path);
    await using _ = watcher;
    // config.toml becomes a link into a directory the watcher did not know.
    await Deno.mkdir(join(dir, "v2"));
    await Deno.writeTextFile(join(dir, "v2", "config.toml"), `concurrent = 2\n`);
    await Deno.symlink(join("v2", "config.toml"), join(dir, "config.toml.new"));
    await Deno.rename(join(dir, "config.toml.new"), path);
    const linked = await events.next();
    assert.equal(linked.kind === "change" && linked.summary, "concurrent 1 → 2");
    // An edit of the file the link leads to, in place and by rename.
    await Deno.writeTextFile(join(dir, "v2", "config.toml"), `concurrent = 3\n`);
    const edited = await events.next();
    assert.equal(edited.kind === "change" && edited.summary, "concurrent 2 → 3");
    await Deno.writeTextFile(join(dir, "v2", ".swp"), `concurrent = 4\n`);
    await Deno.rename(join(dir, "v2", ".swp"), join(dir, "v2", "config.toml"));
    const renamed = await events.next();
    assert.equal(renamed.kind === "change" && renamed.summary, "concurrent 3 → 4");
  });
});

Deno.test("ConfigWatcher sees an edit no watch event reports: its directory removed and made again", async () => {
  await withDir(async (base) => {
    const dir = join(base, "etc");
    await Deno.mkdir(dir);
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 1\n`);
    const { watcher, events } = await start(dir, path, 100, undefined, 200);
    await using _ = watcher;
    // A restore from a backup: the watched directory goes, and a new one takes its name.
    await Deno.remove(dir, { recursive: true });
    const gone = await events.next();
    // As at start; the runner's log line says the previous config keeps running.
    assert.equal(
      gone.kind === "error" && gone.error.message,
      `${path}: Cannot read config file: the file does not exist`,
    );
    await Deno.mkdir(dir);
    await Deno.writeTextFile(path, `concurrent = 2\n`);
    const back = await events.next();
    assert.equal(back.kind === "change" && back.summary, "concurrent 1 → 2");
    await Deno.writeTextFile(path, `concurrent = 3\n`);
    const edited = await events.next();
    assert.equal(edited.kind === "change" && edited.summary, "concurrent 2 → 3");
    assert.equal(watcher.config.concurrent, 3);
  });
});

Deno.test("ConfigWatcher keeps the last good config when onChange refuses the new one with a ConfigError", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, `concurrent = 1\n`);
    const errors: string[] = [];
    const watcher = new ConfigWatcher({
      path,
      env: {},
      initial: await loadConfigFile(path, { env: {}, missingFile: "empty" }),
      debounceMs: 600_000,
      onChange: async (config) => {
        await Promise.resolve();
        if (config.concurrent === 9) {
          throw new ConfigError([{ file: path, line: null, key: "", message: "not nine" }]);
        }
      },
      onError: (error) => errors.push(error.message),
    });
    await using _ = watcher;
    await Deno.writeTextFile(path, `concurrent = 9\n`);
    assert.equal((await watcher.reload()).kind, "failed");
    assert.deepEqual(errors, [`${path}: not nine`]);
    assert.equal(watcher.config.concurrent, 1);
    await Deno.writeTextFile(path, `concurrent = 2\n`);
    assert.deepEqual(await watcher.reload(), { kind: "applied", summary: "concurrent 1 → 2" });
  });
});
