/**
 * Automatic runner token rotation while `run` serves (spec §1.5): for each
 * runner whose token expires, reset it at token_obtained_at + 75% of its
 * lifetime, earliest first, one at a time; re-planned after each reset and on
 * every config change. FF_DISABLE_AUTOMATIC_TOKEN_ROTATION in a runner's
 * `feature_flags` turns it off for that runner (with a warning).
 */
import type { GlobalConfig, RunnerConfig } from "../config/runner_config.ts";
import { shortToken } from "../config/short_token.ts";
import type { Logger } from "../log/logger.ts";

export interface TokenRotationOptions {
  log: Logger;
  /**
   * Resets the runner's token on GitLab; resolves the new token fields.
   * Rejects when GitLab refused (the old token stays).
   */
  reset(runner: RunnerConfig): Promise<
    { token: string; tokenExpiresAt: string; tokenObtainedAt: string }
  >;
  /**
   * Takes the config with `before` replaced by `after` (same entry, new token):
   * saves it and hands it to the poller. Called once per successful reset.
   */
  swap(before: RunnerConfig, after: RunnerConfig): Promise<void>;
  now?: () => number;
}

const ZERO_TIME = /^0001-01-01/;

function timeOf(text: string): number | null {
  if (text === "" || ZERO_TIME.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/** When `runner`'s token should be reset, or null when it does not expire. */
export function rotationDue(runner: RunnerConfig): number | null {
  const expires = timeOf(runner.tokenExpiresAt);
  if (expires === null) return null;
  const obtained = timeOf(runner.tokenObtainedAt) ?? expires;
  return obtained + 0.75 * (expires - obtained);
}

export class TokenRotation {
  readonly #opts: TokenRotationOptions;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #config: GlobalConfig | null = null;
  #busy: Promise<void> | null = null;
  #stopped = false;
  readonly #warned = new Set<string>();
  /** Token -> earliest next attempt after a failed reset. */
  readonly #notBefore = new Map<string, number>();

  constructor(opts: TokenRotationOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Plans the next reset for `config` (start, reload, after a reset). */
  plan(config: GlobalConfig): void {
    this.#config = config;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || this.#busy) return;
    let next: { runner: RunnerConfig; due: number } | null = null;
    for (const runner of config.runners) {
      const planned = rotationDue(runner);
      if (planned === null || !runner.token) continue;
      const due = Math.max(planned, this.#notBefore.get(runner.token) ?? 0);
      if (runner.featureFlags["FF_DISABLE_AUTOMATIC_TOKEN_ROTATION"] === true) {
        if (!this.#warned.has(runner.token)) {
          this.#warned.add(runner.token);
          this.#opts.log.warn(
            "Automatic runner token rotation is disabled (FF_DISABLE_AUTOMATIC_TOKEN_ROTATION); the token expires",
            { "runner": shortToken(runner.token), "token_expires_at": runner.tokenExpiresAt },
          );
        }
        continue;
      }
      if (next === null || due < next.due) next = { runner, due };
    }
    if (next === null) return;
    const target = next.runner;
    // setTimeout holds at most 2^31-1 ms; a later due date is re-planned on wake.
    const delay = Math.min(Math.max(0, next.due - this.#now()), 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (next!.due > this.#now() + 1000) return this.plan(this.#config!);
      this.#busy = this.#rotate(target).finally(() => {
        this.#busy = null;
        if (this.#config) this.plan(this.#config);
      });
    }, delay);
  }

  async #rotate(runner: RunnerConfig): Promise<void> {
    const fields = { "runner": shortToken(runner.token), "name": runner.name };
    this.#opts.log.info("Resetting the runner authentication token before it expires", fields);
    try {
      const fresh = await this.#opts.reset(runner);
      const after: RunnerConfig = {
        ...runner,
        ...fresh,
        envExpansion: { ...runner.envExpansion, token: null },
      };
      await this.#opts.swap(runner, after);
      this.#opts.log.info("Runner authentication token reset", {
        ...fields,
        "runner": shortToken(after.token),
        "token_expires_at": after.tokenExpiresAt,
      });
      // A new token already due (GitLab's expiry is past by this host's clock,
      // which runs ahead of GitLab's, or GitLab answered a bogus date) would
      // be reset again at once, and again: hundreds of resets and config.toml
      // writes a second. It waits a minute, as after a failed reset.
      const due = rotationDue(after);
      if (due !== null && due <= this.#now()) {
        this.#opts.log.warn(
          "GitLab answered a runner token that is already due for reset; the next reset waits a minute: check this host's clock",
          {
            ...fields,
            "runner": shortToken(after.token),
            "token_expires_at": after.tokenExpiresAt,
          },
        );
        this.#notBefore.set(after.token, this.#now() + 60_000);
      }
    } catch (err) {
      this.#opts.log.error(
        `Failed to reset runner authentication token: ${(err as Error).message}`,
        fields,
      );
      // Try again in a minute rather than at once.
      this.#notBefore.set(runner.token, this.#now() + 60_000);
    }
  }

  /** Stops planning; a reset in flight finishes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#busy;
  }
}
