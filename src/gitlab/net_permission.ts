/**
 * Whether this process may open a connection to a URL's host. An executor
 * process is granted net only to GitLab's `host:port` (and a distributed
 * cache's endpoint, docs/security.md), so a redirect elsewhere, such as
 * GitLab sending an artifact to object storage, cannot be followed from it:
 * Deno would refuse the connection with an error that names its own
 * `--allow-net` flag. Callers ask first and say what they do instead.
 */
export function mayConnect(url: URL): boolean {
  return Deno.permissions.querySync({ name: "net", host: netHost(url) }).state === "granted";
}

/** `host:port` as `--allow-net` names it, the scheme's port when the URL has none. */
export function netHost(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}
