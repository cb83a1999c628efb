/**
 * Applies edits of config.toml while the runner runs.
 *
 * We watch the file's DIRECTORY, not the file: editors that save by writing a
 * new file and renaming it over config.toml, and Kubernetes ConfigMap volumes
 * (config.toml -> ..data/config.toml, where the ..data symlink is swapped) replace
 * the inode, which a watch on the file itself would silently lose. Events are
 * debounced, and a reload whose text did not change does nothing, so events for
 * other files in the directory are cheap.
 *
 * Some changes reach no watch: the directory removed and made again, a file
 * bind-mounted into a container and edited from the host, a network file
 * system. So the file's metadata (inode, size, mtime) is also compared every
 * 3 s, as the official runner checks its mtime, and a difference is checked
 * like an event.
 *
 * Call order: construct (starts watching), `reload()` any number of times (the
 * caller wires SIGHUP to it), then `close()` (or `await using`); close may be
 * called twice. Callbacks never run after close() resolved.
 */
import { dirname } from "../path/host_path.ts";
import { isSameConfigValue } from "./config_equal.ts";
import type { GlobalConfig } from "./runner_config.ts";
import type { LoadedConfig } from "./parse_config.ts";
import { ConfigError, type ConfigWarning } from "./config_error.ts";
import { decodeConfigText } from "./config_text.ts";

export interface ConfigWatcherOptions {
  path: string;
  /** Variables for $VAR expansion in [[runners]] url and token. */
  env: Readonly<Record<string, string>>;
  /** The config running now and the text it came from (null: file was missing). */
  initial: { config: GlobalConfig; text: string | null };
  /**
   * A new valid config; `summary` is one line (see describeConfigChanges). A
   * ConfigError it throws (or rejects with) refuses the config: it goes to
   * onError, and the last good config stays.
   */
  onChange(
    config: GlobalConfig,
    summary: string,
    warnings: readonly ConfigWarning[],
  ): void | Promise<void>;
  /** The file became invalid or unreadable; the last good config stays. Reported once per content. */
  onError(error: ConfigError): void;
  /** Quiet period after the last file event before reloading; 100 ms by default. */
  debounceMs?: number;
  /** How often the file's metadata is compared for changes no event reported; 3000 ms by default. */
  pollMs?: number;
  /**
   * Parses the edited text elsewhere (the runner: in a child process, see
   * cli/config_reader_process.ts), throwing ConfigError as parseConfig does;
   * null when it could not, and the text is parsed here.
   */
  parse?: (text: string) => Promise<LoadedConfig | null>;
}

export type ReloadOutcome =
  | { kind: "applied"; summary: string }
  | { kind: "unchanged" }
  | { kind: "failed"; error: ConfigError };

/** Marks "the file was missing" in the last-seen text. */
const MISSING = "\u0000missing";

export class ConfigWatcher implements AsyncDisposable {
  readonly #options: ConfigWatcherOptions;
  #config: GlobalConfig;
  #lastSeen: string;
  #watcher: Deno.FsWatcher | null = null;
  #loop: Promise<void> = Promise.resolve();
  /** The directories the first watcher covers. */
  #dirs: Set<string>;
  /** The directory config.toml leads to now, when it is none of #dirs (the link moved since). */
  #followed: { dir: string; watcher: Deno.FsWatcher; loop: Promise<void> } | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #emptyConfirmed = false;
  /** The file's metadata at the last poll (see stampOf). */
  #stamp: string;
  #poll: ReturnType<typeof setInterval>;

  constructor(options: ConfigWatcherOptions) {
    this.#options = options;
    this.#config = options.initial.config;
    this.#lastSeen = options.initial.text ?? MISSING;
    const dirs = new Set([dirname(options.path)]);
    // A config.toml that is itself a symlink elsewhere: watch its target's directory too.
    const target = targetDir(options.path);
    if (target !== null) dirs.add(target);
    this.#dirs = dirs;
    try {
      this.#watcher = Deno.watchFs([...dirs], { recursive: false });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      // No config directory yet: the metadata poll and reload() see the file once it is there.
      this.#watcher = null;
    }
    if (this.#watcher !== null) this.#loop = this.#watch(this.#watcher);
    this.#stamp = stampOf(options.path);
    this.#poll = setInterval(() => {
      const stamp = stampOf(options.path);
      if (stamp === this.#stamp) return;
      this.#stamp = stamp;
      this.#schedule();
    }, options.pollMs ?? 3000);
  }

  /** The last good config. */
  get config(): GlobalConfig {
    return this.#config;
  }

  /** Re-reads the file now (SIGHUP). Unlike watch events, reports errors even for unchanged text. */
  reload(): Promise<ReloadOutcome> {
    return this.#enqueue(true);
  }

  async close(): Promise<void> {
    if (this.#closed) {
      await this.#loop;
      return;
    }
    this.#closed = true;
    clearInterval(this.#poll);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    try {
      this.#watcher?.close();
    } catch {
      // Already closed.
    }
    const followed = this.#followed?.loop;
    this.#unfollow();
    await this.#loop;
    await followed;
    await this.#queue.catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #watch(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const _event of watcher) {
        if (this.#closed) break;
        this.#schedule();
      }
    } catch (error) {
      if (!this.#closed) throw error;
    }
  }

  /**
   * Watches the directory config.toml leads to now when the link was pointed
   * elsewhere since (a file turned into a link, `ln -sfn` to another
   * directory): edits there would go unseen. At most one such directory is
   * watched, the current one.
   */
  #follow(): void {
    const dir = targetDir(this.#options.path);
    if (dir === this.#followed?.dir) return;
    this.#unfollow();
    if (this.#closed || dir === null || this.#dirs.has(dir)) return;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(dir, { recursive: false });
    } catch {
      return; // gone again, or not ours to watch: SIGHUP still reloads
    }
    const loop = (async () => {
      try {
        for await (const _event of watcher) {
          if (this.#closed) break;
          this.#schedule();
        }
      } catch {
        // Its directory went (a link flipped on): the next check follows the new one.
      }
    })();
    this.#followed = { dir, watcher, loop };
  }

  #unfollow(): void {
    try {
      this.#followed?.watcher.close();
    } catch {
      // Already closed.
    }
    this.#followed = null;
  }

  /** (Re)starts the quiet period after which the file is checked. */
  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#enqueue(false);
    }, this.#options.debounceMs ?? 100);
  }

  #enqueue(forced: boolean): Promise<ReloadOutcome> {
    const next = this.#queue.then(() => this.#check(forced));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #check(forced: boolean): Promise<ReloadOutcome> {
    if (this.#closed) return { kind: "unchanged" };
    this.#follow();
    const { path, env } = this.#options;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      const seen = error instanceof Deno.errors.NotFound ? MISSING : `\u0000${String(error)}`;
      if (!forced && seen === this.#lastSeen) return { kind: "unchanged" };
      this.#lastSeen = seen;
      const reason = error instanceof Deno.errors.NotFound
        ? "the file does not exist"
        : (error as Error).message;
      return this.#fail(
        new ConfigError([{
          file: path,
          line: null,
          key: "",
          message: `Cannot read config file: ${reason}`,
        }], { cause: error }),
      );
    }
    let text: string;
    try {
      text = decodeConfigText(bytes, path);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // Bytes that are not UTF-8: reported once per content, as a parse error is.
      const seen = `\u0000${error.message}\u0000${new TextDecoder().decode(bytes)}`;
      if (!forced && seen === this.#lastSeen) return { kind: "unchanged" };
      this.#lastSeen = seen;
      return this.#fail(error);
    }
    if (!forced && text === this.#lastSeen) return { kind: "unchanged" };
    // An in-place save truncates before it writes: an empty read may be a file
    // half-way through a save, which would drop every runner. Look once more
    // after another quiet period before believing it.
    if (!forced && text.trim() === "" && !this.#emptyConfirmed) {
      this.#emptyConfirmed = true;
      this.#schedule();
      return { kind: "unchanged" };
    }
    this.#emptyConfirmed = false;
    this.#lastSeen = text;
    // The diff loads with the first edit, and the parser (its schema, the TOML
    // package) only where `parse` cannot: an idle poller that was handed its
    // config does not need them.
    let loaded: LoadedConfig;
    try {
      loaded = await this.#options.parse?.(text) ??
        (await import("./parse_config.ts")).parseConfig(text, { file: path, env });
    } catch (error) {
      if (error instanceof ConfigError) return this.#fail(error);
      throw error;
    }
    const { describeConfigChanges } = await import("./config_diff.ts");
    if (this.#closed || isSameConfigValue(loaded.config, this.#config)) {
      return { kind: "unchanged" };
    }
    const summary = describeConfigChanges(this.#config, loaded.config);
    try {
      await this.#options.onChange(loaded.config, summary, loaded.warnings);
    } catch (error) {
      if (error instanceof ConfigError) return this.#fail(error);
      throw error;
    }
    this.#config = loaded.config;
    return { kind: "applied", summary };
  }

  #fail(error: ConfigError): ReloadOutcome {
    if (!this.#closed) this.#options.onError(error);
    return { kind: "failed", error };
  }
}

/** The directory of the file `path` leads to; null when it cannot be resolved (missing). */
function targetDir(path: string): string | null {
  try {
    return dirname(Deno.realPathSync(path));
  } catch {
    return null;
  }
}

/** What tells one version of the file from another without reading it ("" when it cannot be had). */
function stampOf(path: string): string {
  try {
    const { dev, ino, size, mtime } = Deno.statSync(path);
    return `${dev}:${ino}:${size}:${mtime?.getTime()}`;
  } catch {
    return "";
  }
}
