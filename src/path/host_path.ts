/**
 * `join`, `resolve` and `isAbsolute` for paths of this host, with node:path's
 * results, for the modules an executor process and `runner exec` load before
 * a job can start. Importing any `node:` module costs a Deno process its
 * Node compatibility layer, about 35 ms of CPU at start-up (the executor
 * process's start: 230 -> 190 ms of CPU without it, measured alternately),
 * and an executor process starts for every job. POSIX paths are handled here;
 * on Windows node:path does the work, loaded at once.
 */
const windowsPath = Deno.build.os === "windows" ? await import("node:path") : null;

const SLASH = 47; // "/"
const DOT = 46; // "."

/** node:path's posix normalizeString: resolves "." and ".." segments, drops repeated slashes. */
function normalizeSegments(path: string, isAboveRootAllowed: boolean): string {
  let res = "";
  let lastSegmentLength = 0;
  let lastSlash = -1;
  let dots = 0;
  let code = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length) code = path.charCodeAt(i);
    else if (code === SLASH) break;
    else code = SLASH;
    if (code === SLASH) {
      if (lastSlash === i - 1 || dots === 1) {
        // An empty or "." segment.
      } else if (dots === 2) {
        if (
          res.length < 2 || lastSegmentLength !== 2 ||
          res.charCodeAt(res.length - 1) !== DOT || res.charCodeAt(res.length - 2) !== DOT
        ) {
          if (res.length > 2) {
            const at = res.lastIndexOf("/");
            if (at === -1) {
              res = "";
              lastSegmentLength = 0;
            } else {
              res = res.slice(0, at);
              lastSegmentLength = res.length - 1 - res.lastIndexOf("/");
            }
            lastSlash = i;
            dots = 0;
            continue;
          } else if (res.length !== 0) {
            res = "";
            lastSegmentLength = 0;
            lastSlash = i;
            dots = 0;
            continue;
          }
        }
        if (isAboveRootAllowed) {
          res += res.length > 0 ? "/.." : "..";
          lastSegmentLength = 2;
        }
      } else {
        const segment = path.slice(lastSlash + 1, i);
        res = res.length > 0 ? `${res}/${segment}` : segment;
        lastSegmentLength = i - lastSlash - 1;
      }
      lastSlash = i;
      dots = 0;
    } else if (code === DOT && dots !== -1) {
      dots++;
    } else {
      dots = -1;
    }
  }
  return res;
}

function normalize(path: string): string {
  if (path.length === 0) return ".";
  const isAbs = path.charCodeAt(0) === SLASH;
  const hasTrailingSlash = path.charCodeAt(path.length - 1) === SLASH;
  let out = normalizeSegments(path, !isAbs);
  if (out.length === 0) {
    if (isAbs) return "/";
    return hasTrailingSlash ? "./" : ".";
  }
  if (hasTrailingSlash) out += "/";
  return isAbs ? `/${out}` : out;
}

export function isAbsolute(path: string): boolean {
  if (windowsPath) return windowsPath.isAbsolute(path);
  return path.length > 0 && path.charCodeAt(0) === SLASH;
}

export function join(...paths: string[]): string {
  if (windowsPath) return windowsPath.join(...paths);
  const joined = paths.filter((p) => p.length > 0).join("/");
  return joined === "" ? "." : normalize(joined);
}

export function resolve(...paths: string[]): string {
  if (windowsPath) return windowsPath.resolve(...paths);
  let resolved = "";
  let isResolvedAbsolute = false;
  for (let i = paths.length - 1; i >= -1 && !isResolvedAbsolute; i--) {
    const path = i >= 0 ? paths[i]! : Deno.cwd();
    if (path.length === 0) continue;
    resolved = `${path}/${resolved}`;
    isResolvedAbsolute = path.charCodeAt(0) === SLASH;
  }
  resolved = normalizeSegments(resolved, !isResolvedAbsolute);
  if (isResolvedAbsolute) return `/${resolved}`;
  return resolved.length > 0 ? resolved : ".";
}
