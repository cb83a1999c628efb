/**
 * The API root derived from a configured GitLab URL (spec §0.1): trailing
 * slashes and a legacy `/ci` suffix are stripped, then `/api/v4/` is added.
 * `https://gl.example.com/ci/` becomes `https://gl.example.com/api/v4/`.
 */
export function apiRootUrl(gitlabUrl: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(gitlabUrl);
  } catch (cause) {
    throw new TypeError(`Invalid GitLab URL "${gitlabUrl}": not an absolute URL`, { cause });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(
      `Invalid GitLab URL "${gitlabUrl}": scheme "${
        parsed.protocol.replace(/:$/, "")
      }" is not http or https`,
    );
  }
  let path = parsed.pathname.replace(/\/+$/, "");
  if (path.endsWith("/ci")) path = path.slice(0, -"/ci".length);
  parsed.pathname = `${path}/api/v4/`;
  parsed.search = "";
  parsed.hash = "";
  return parsed;
}

/**
 * `root` + a path relative to the API root. `query` entries with empty values
 * are dropped; the URL keeps a bare `?` when `keepEmptyQuery` is set, as the
 * official runner does for artifact calls.
 */
export function apiUrl(
  root: URL,
  path: string,
  options: { query?: Record<string, string>; keepEmptyQuery?: boolean } = {},
): URL {
  const url = new URL(path.replace(/^\/+/, ""), root);
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(options.query ?? {})) {
    if (v !== "") params.set(k, v);
  }
  url.search = params.toString();
  // Setting `search` to "" drops the `?`; parsing a trailing `?` keeps it.
  return options.keepEmptyQuery && url.search === "" ? new URL(`${url.href}?`) : url;
}

/** `root` moved to the scheme, host and port of `location` (artifact upload 307, spec §6.1). */
export function rebaseRoot(root: URL, location: string): URL {
  const target = new URL(location, root);
  const moved = new URL(root.href);
  moved.protocol = target.protocol;
  moved.host = target.host;
  return moved;
}
