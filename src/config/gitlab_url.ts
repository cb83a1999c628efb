/**
 * Whether a `[[runners]] url` is one a request can go to: an absolute http or
 * https URL. An entry whose URL is not never asks GitLab for jobs (its load
 * warning says so): building its client would throw.
 */
export function isGitLabUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === "http:" || protocol === "https:";
  } catch {
    return false;
  }
}
