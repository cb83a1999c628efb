/** What replaces a secret in the runner log. */
export const MASK = "[MASKED]";

/**
 * Field names whose values are never logged, whatever they hold: `token`,
 * `password`, `secret` alone or as the last snake_case word (`job_token`,
 * `private_token`, `registration_token`, `db_password`, `client_secret`).
 */
const SECRET_FIELD = /(^|[_-])(token|password|passwd|secret)$/i;

/**
 * Query parameters that carry credentials in URLs we log (GitLab API, S3
 * pre-signed links). The official runner scrubs the same kind of names from
 * log messages (helpers/url ScrubSecrets).
 */
const SECRET_QUERY =
  /([?&](?:private_token|job_token|authenticity_token|rss_token|token|access_token|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|sig)=)[^&\s"'#]+/gi;

/** `scheme://user:password@host`: the password part. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"']+:)[^@/\s"']+@/gi;

/**
 * Job tokens of jobs that ended, still masked for the log lines that follow
 * them: the most recent this many (GitLab revokes a job's token when it ends).
 */
export const RELEASED_JOB_SECRETS = 1024;

/**
 * Removes secrets from text before it is written to the runner log.
 * Registered strings (runner tokens, job tokens, passwords from config) are
 * replaced wherever they appear; URL credentials are scrubbed by shape.
 * Shared by a root logger and all its children, so a secret added anywhere
 * is masked everywhere from then on.
 *
 * A job's token is masked while the job runs and for the next
 * `RELEASED_JOB_SECRETS` jobs that end after it, not for ever: a runner that
 * ran a million jobs would otherwise hold and search a million tokens for
 * every log line (and sort them at every job start).
 */
export class SecretRedactor {
  readonly #permanent = new Set<string>();
  /** Job tokens of running jobs, with how many jobs hold each. */
  readonly #running = new Map<string, number>();
  /** Job tokens of ended jobs, oldest first. */
  #released: string[] = [];
  /** All of the above, longest first, so a secret that contains another is masked whole. */
  #secrets: string[] = [];

  /** Registers a string to mask for as long as this redactor lives. Empty strings are ignored. */
  addSecret(secret: string): void {
    if (secret === "" || this.#permanent.has(secret)) return;
    this.#permanent.add(secret);
    this.#rebuild();
  }

  /** Registers a job's token while it runs; `releaseJobSecret` when it ends. */
  addJobSecret(secret: string): void {
    if (secret === "") return;
    this.#running.set(secret, (this.#running.get(secret) ?? 0) + 1);
    this.#released = this.#released.filter((s) => s !== secret);
    this.#rebuild();
  }

  /** The job ended: its token stays masked for the next `RELEASED_JOB_SECRETS` job ends. */
  releaseJobSecret(secret: string): void {
    const holders = this.#running.get(secret);
    if (holders === undefined) return;
    if (holders > 1) {
      this.#running.set(secret, holders - 1);
      return;
    }
    this.#running.delete(secret);
    this.#released.push(secret);
    if (this.#released.length > RELEASED_JOB_SECRETS) this.#released.shift();
    this.#rebuild();
  }

  /** How many strings are masked now. */
  get secretCount(): number {
    return this.#secrets.length;
  }

  #rebuild(): void {
    const all = new Set([...this.#permanent, ...this.#running.keys(), ...this.#released]);
    this.#secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** True when values under this field name are always masked. */
  isSecretField(name: string): boolean {
    return SECRET_FIELD.test(name);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (out.includes(secret)) out = out.split(secret).join(MASK);
    }
    if (out.includes("=")) out = out.replace(SECRET_QUERY, `$1${MASK}`);
    if (out.includes("@")) out = out.replace(URL_PASSWORD, `$1${MASK}@`);
    return out;
  }
}
