/**
 * `[[runners]] clone_url`: the scheme and host jobs clone from instead of the
 * ones GitLab gives. Read by the job's git setup, the executor permissions and
 * config loading alike, so a value one refuses is refused by all. Pure.
 */

/** What clone_url must be, for messages. */
export const CLONE_URL_EXPECTED = "an absolute URL such as https://gitlab.example.com";

/** `text` as a URL with a scheme and a host, or null when it is not one. */
export function parseCloneUrl(text: string): URL | null {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) return null;
  try {
    const url = new URL(text);
    return url.hostname === "" ? null : url;
  } catch {
    return null;
  }
}
