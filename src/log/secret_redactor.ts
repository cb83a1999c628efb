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
 * Removes secrets from text before it is written to the runner log.
 * Registered strings (runner tokens, job tokens, passwords from config) are
 * replaced wherever they appear; URL credentials are scrubbed by shape.
 * Shared by a root logger and all its children, so a secret added anywhere
 * is masked everywhere from then on.
 */
export class SecretRedactor {
  /** Longest first, so a secret that contains another is masked whole. */
  #secrets: string[] = [];

  /** Registers a string to mask. Empty strings are ignored. */
  addSecret(secret: string): void {
    if (secret === "" || this.#secrets.includes(secret)) return;
    this.#secrets.push(secret);
    this.#secrets.sort((a, b) => b.length - a.length);
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
